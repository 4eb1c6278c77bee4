"""Case reporting: NextSign cases as pandas DataFrames, written to a SQL warehouse or to files.

Importing this package is cheap; pandas, pyarrow and SQLAlchemy (extra ``pandas``) load only when a
frame is built or a writer is created.
"""

from __future__ import annotations

from airflow_provider_nextsign.reporting.schema import CASES, DOCUMENTS, RECIPIENTS, TABLES

__all__ = ["CASES", "DOCUMENTS", "RECIPIENTS", "TABLES"]
