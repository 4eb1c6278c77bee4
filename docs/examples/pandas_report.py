"""Case reporting without Airflow tasks: the snippets of docs/reporting.md (run by the tests)."""

from __future__ import annotations

from typing import Any


def pending_signers() -> Any:
    """Every recipient of a pending case, as one DataFrame built chunk by chunk."""
    # [START howto_pandas_frames]
    import pandas as pd

    from airflow_provider_nextsign.hooks.nextsign import NextSignHook
    from airflow_provider_nextsign.reporting.frames import iter_case_frames

    parts = []
    for chunk in iter_case_frames(NextSignHook(), status="pending", chunk_size=500):
        # chunk.cases, chunk.recipients and chunk.documents are DataFrames with the declared dtypes
        parts.append(chunk.recipients[chunk.recipients["signing"]])
    signers = pd.concat(parts, ignore_index=True)
    # [END howto_pandas_frames]
    return signers


def read_report(destination: str) -> dict[str, Any]:
    """Read back a Parquet report written by NextSignCaseReportOperator(destination=...)."""
    # [START howto_read_file_report]
    from airflow_provider_nextsign.reporting.warehouse import read_file_report

    tables = read_file_report(destination, fmt="parquet")  # {"cases": df, "recipients": df, "documents": df}
    # [END howto_read_file_report]
    return tables
