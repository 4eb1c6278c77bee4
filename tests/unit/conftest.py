"""Shared fixtures of the unit tests: a client on fake hosts with a recording budget and no real sleeps."""

from __future__ import annotations

import json

import pytest

from airflow_provider_nextsign.api.retry import RetryPolicy

HOST = "https://ns.test"
FILES = "https://files.test"
COMPANY = "6576e19662ec13c4faa7de7b"
API_KEY = "sk-live-2f1c9a7e-very-secret"
V2 = f"{HOST}/api/v2/{COMPANY}"
V3 = f"{FILES}/v3/company/{COMPANY}/file"


class RecordingBudget:
    """Counts tokens taken and penalties, never waits."""

    def __init__(self) -> None:
        self.acquired = 0
        self.penalties: list[float] = []
        self.penalized_async = 0  # penalties that came through the event-loop-safe path
        self.requests_per_minute = 100.0

    def acquire(self) -> float:
        self.acquired += 1
        return 0.0

    async def acquire_async(self) -> float:
        self.acquired += 1
        return 0.0

    def penalize(self, seconds: float) -> None:
        self.penalties.append(seconds)

    async def penalize_async(self, seconds: float) -> None:
        self.penalties.append(seconds)
        self.penalized_async += 1


@pytest.fixture
def budget() -> RecordingBudget:
    return RecordingBudget()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(budget, sleeps):
    from airflow_provider_nextsign.api.client import NextSignClient

    with NextSignClient(
        COMPANY,
        API_KEY,
        host=HOST,
        files_host=FILES,
        budget=budget,  # type: ignore[arg-type]
        retry_policy=RetryPolicy(jitter=0.0),
        sleep=sleeps.append,
    ) as c:
        yield c


@pytest.fixture
def nextsign_connection(monkeypatch) -> dict:
    """``nextsign_default`` as an env-var connection to the fake hosts, with a budget that never waits."""
    conn = {
        "conn_type": "nextsign",
        "login": COMPANY,
        "password": API_KEY,
        "host": HOST,
        "extra": {"files_host": FILES, "requests_per_minute": 1_000_000, "timeout": 5},
    }
    monkeypatch.setenv("AIRFLOW_CONN_NEXTSIGN_DEFAULT", json.dumps(conn))
    return conn


class FakeTI:
    """The task-instance attributes and XCom push the operators use."""

    def __init__(
        self,
        *,
        dag_id: str = "dag",
        task_id: str = "task",
        run_id: str = "manual__1",
        try_number: int = 1,
        map_index: int = -1,
    ) -> None:
        self.dag_id, self.task_id, self.run_id = dag_id, task_id, run_id
        self.try_number, self.map_index = try_number, map_index
        self.xcom: dict[str, object] = {}

    def xcom_push(self, key: str, value: object) -> None:
        self.xcom[key] = value


def make_context(**ti_kwargs) -> dict:
    """A minimal task context around a :class:`FakeTI`."""
    ti = FakeTI(**ti_kwargs)
    return {"ti": ti, "run_id": ti.run_id}


def docx_bytes(text: str = "Hello {{customer_name}}") -> bytes:
    """The smallest file that is a DOCX to a sniffer: a ZIP holding ``word/document.xml``."""
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        archive.writestr("word/document.xml", f'<?xml version="1.0"?><document>{text}</document>')
    return buffer.getvalue()


def zip_bytes() -> bytes:
    """A ZIP that is not a DOCX (starts with ``PK`` like one)."""
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("notes.txt", "not a document")
    return buffer.getvalue()
