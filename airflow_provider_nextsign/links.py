"""Operator extra link "NextSign case": the case in the NextSign dashboard."""

from __future__ import annotations

from typing import Any

from airflow.providers.common.compat.sdk import BaseOperatorLink, XCom

XCOM_CASE_URL = "nextsign_case_url"


class NextSignCaseLink(BaseOperatorLink):
    """Link to the case an operator created, read from the ``nextsign_case_url`` XCom it pushed."""

    name = "NextSign case"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        """Return the dashboard URL of the task instance's case, or "" before the case exists."""
        url = XCom.get_value(ti_key=ti_key, key=XCOM_CASE_URL)
        return url if isinstance(url, str) else ""
