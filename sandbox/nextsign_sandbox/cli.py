"""``nextsign-sandbox`` / ``python -m nextsign_sandbox``: run until SIGTERM/SIGINT.

The first line on stdout is one JSON object: ``{"connection": {...}, "form_id": "..."}`` (the
connection is what to put in ``AIRFLOW_CONN_NEXTSIGN_DEFAULT``). Logs go to stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from nextsign_sandbox.profiles import DEFAULT_PROFILE, PROFILE_NAMES


def _positive(kind: type) -> Any:
    def parse(text: str) -> Any:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value

    return parse


def _non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The command-line options."""
    parser = argparse.ArgumentParser(
        prog="nextsign-sandbox", description="Run a local NextSign sandbox server."
    )
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default: a free port)")
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument(
        "--sign-after",
        type=_non_negative,
        default=0.0,
        metavar="SECONDS",
        help="recipients sign this many wall seconds after each step (0 = only on demand, the default)",
    )
    parser.add_argument(
        "--requests-per-minute", type=_positive(int), default=100, help="rate limit per API key"
    )
    parser.add_argument(
        "--time-scale", type=_positive(float), default=1.0, help="API seconds per real second (default 1)"
    )
    parser.add_argument("--state-file", default=None, help="keep cases, forms and files in this JSON file")
    parser.add_argument("--no-rate-limit", action="store_true", help="switch the rate limit off")
    parser.add_argument(
        "--profile",
        choices=PROFILE_NAMES,
        default=DEFAULT_PROFILE,
        help="answer shapes: docs (as documented, the default), production (as a live integration saw "
        "them) or rich (full case bodies everywhere)",
    )
    parser.add_argument(
        "--visibility-delay",
        type=_non_negative,
        default=None,
        metavar="SECONDS",
        help="seconds a new case stays invisible to reads (default: the profile's; production 3)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Start the server, print the connection JSON line, wait for SIGTERM/SIGINT, stop cleanly."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    from nextsign_sandbox.server import SandboxServer

    server = SandboxServer(
        args.port,
        host=args.host,
        sign_after=args.sign_after or None,
        requests_per_minute=args.requests_per_minute,
        time_scale=args.time_scale,
        state_file=args.state_file,
        rate_limit=not args.no_rate_limit,
        profile=args.profile,
        **({} if args.visibility_delay is None else {"visibility_delay": args.visibility_delay}),
    )
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    server.start()
    try:
        sys.stdout.write(json.dumps({"connection": server.connection, "form_id": server.form_id}) + "\n")
        sys.stdout.flush()
        logging.getLogger("nextsign-sandbox").info("NextSign sandbox listening on %s", server.url)
        while not stop.wait(3600):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
