"""``python -m airflow_provider_nextsign.probe``: probe a NextSign account through an Airflow connection.

Exit codes: 0 the probe ran (read the verdicts); 1 a case it created could not be deleted (the next run
retries); 2 it did not run (refused host, unusable connection, bad arguments); 128 + the signal number
when SIGINT or SIGTERM stopped it (after its clean-up).
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_nextsign.probe",
        description=(
            "Check how a NextSign account answers, compared with what airflow-provider-nextsign assumes "
            "(docs/live-api.md). Creates one case marked 'airflow-provider-nextsign probe' and deletes it; "
            "at most 30 requests. Prints key names only, never values."
        ),
    )
    parser.add_argument("--conn-id", default="nextsign_default", help="the Airflow NextSign connection")
    parser.add_argument("--form-id", help="a form of the account, to check Forms Get and Forms Tags")
    parser.add_argument("--json", dest="json_file", metavar="FILE", help="also write the report as JSON")
    parser.add_argument(
        "--i-know-this-is-production",
        dest="allow_production",
        action="store_true",
        help="probe a host other than https://test.nextsign.dk or a local sandbox",
    )
    parser.add_argument("--state-dir", help="where the ledger of created cases lives (default: see docs)")
    parser.add_argument("--quiet", action="store_true", help="no progress line per request on stderr")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the probe from the command line; returns the exit code."""
    args = _parser().parse_args(argv)
    from airflow_provider_nextsign.api.errors import NextSignInputError
    from airflow_provider_nextsign.probe import signals
    from airflow_provider_nextsign.probe.guard import ProbeRefused
    from airflow_provider_nextsign.probe.runner import run_probe

    restore = signals.install()
    try:
        report = run_probe(
            args.conn_id,
            form_id=args.form_id,
            json_file=args.json_file,
            allow_production=args.allow_production,
            state_dir=args.state_dir,
            out=sys.stdout,
            quiet=args.quiet,
        )
    except (ProbeRefused, NextSignInputError) as err:
        print(f"probe: {err}", file=sys.stderr)
        return 2
    except Exception as err:  # the connection cannot be read (Airflow's own errors vary by version)
        if type(err).__name__ != "AirflowNotFoundException":
            raise
        print(f"probe: {err}", file=sys.stderr)
        return 2
    finally:
        restore()
    if report["interrupted"]:
        return 128 + int(signal.Signals[report["interrupted"]]) if report["interrupted"] in _SIGNALS else 130
    if report["cleanup"].get("left"):
        return 1
    if report["aborted"]:
        return 2
    return 0


_SIGNALS = {"SIGINT", "SIGTERM"}
