"""Each example DAG runs end to end with dag.test() against the sandbox (Airflow 3.3, 3.1 and 2.11)."""

from __future__ import annotations

import pytest

CONTRACT_DAG = "example_nextsign_contract_signing.py"


def _run_contract_dag(sandbox, load_dag, monkeypatch, tmp_path, *, deferrable: bool):
    monkeypatch.setenv("NEXTSIGN_POKE_INTERVAL", "0.2")
    monkeypatch.setenv("NEXTSIGN_DEFERRABLE", "true" if deferrable else "false")
    dag = load_dag(CONTRACT_DAG)
    destination = tmp_path / "signed"
    run = dag.test(run_conf={"form_id": sandbox.form_id, "destination": f"file://{destination}"})
    return run, destination


def _assert_three_signed_and_stored(sandbox, run, destination, run_state):
    assert run_state(run) == "success"
    assert len(sandbox.cases()) == 3
    pdfs = sorted(destination.rglob("*.pdf"))
    assert len(pdfs) == 3
    assert all(p.read_bytes().startswith(b"%PDF") for p in pdfs)
    assert len({p.parent.name for p in pdfs}) == 3  # one folder per case


@pytest.mark.nextsign_sandbox(sign_after=0.3)
def test_contract_signing_dag_deferrable(
    nextsign_sandbox_profile, nextsign_sandbox, load_dag, run_state, monkeypatch, tmp_path
):
    """Unchanged DAG, both readings of the API: summary items (docs); data envelopes, a case invisible
    on the first look, only sign-obligated documents signed (production)."""
    assert nextsign_sandbox.configure()["profile"] == nextsign_sandbox_profile
    run, destination = _run_contract_dag(nextsign_sandbox, load_dag, monkeypatch, tmp_path, deferrable=True)
    _assert_three_signed_and_stored(nextsign_sandbox, run, destination, run_state)


@pytest.mark.nextsign_sandbox(sign_after=0.3)
def test_contract_signing_dag_poke(nextsign_sandbox, load_dag, run_state, monkeypatch, tmp_path):
    run, destination = _run_contract_dag(nextsign_sandbox, load_dag, monkeypatch, tmp_path, deferrable=False)
    _assert_three_signed_and_stored(nextsign_sandbox, run, destination, run_state)


@pytest.mark.nextsign_sandbox(sign_after=0.3)
def test_lost_submit_response_leaves_exactly_one_case_per_row(
    nextsign_sandbox_profile, nextsign_sandbox, load_dag, run_state, monkeypatch, tmp_path
):
    nextsign_sandbox.inject_fault("forms_submit", "lost_response", count=1)
    run, destination = _run_contract_dag(nextsign_sandbox, load_dag, monkeypatch, tmp_path, deferrable=True)

    assert run_state(run) == "success"
    cases = nextsign_sandbox.cases()
    assert len(cases) == 3
    assert len({c.get("referenceId") for c in cases}) == 3
    assert len(list(destination.rglob("*.pdf"))) == 3


def test_docx_to_pdf_dag(nextsign_sandbox_profile, nextsign_sandbox, load_dag, run_state, tmp_path):
    """Convert is on /api/v2 (docs) or only on /api/v1 (production): the same DAG works on both."""
    dag = load_dag("example_nextsign_docx_to_pdf.py")
    run = dag.test(run_conf={"destination": f"file://{tmp_path}/converted/"})

    assert run_state(run) == "success"
    pdfs = list((tmp_path / "converted").glob("*.pdf"))
    assert len(pdfs) == 1
    assert pdfs[0].read_bytes().startswith(b"%PDF")


@pytest.mark.nextsign_sandbox(sign_after=0.3)
def test_create_case_dag_signs_stores_and_deletes(
    nextsign_sandbox_profile, nextsign_sandbox, load_dag, run_state, monkeypatch, tmp_path
):
    monkeypatch.setenv("NEXTSIGN_POKE_INTERVAL", "0.2")
    dag = load_dag("example_nextsign_create_case.py")
    destination = tmp_path / "leases"
    run = dag.test(run_conf={"destination": f"file://{destination}/"})

    assert run_state(run) == "success"
    (pdf,) = destination.rglob("*.pdf")
    assert pdf.read_bytes().startswith(b"%PDF")
    assert nextsign_sandbox.cases() == []  # deleted after its signed PDF was stored
