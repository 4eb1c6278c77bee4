"""Create a NextSign case from a PDF, wait for the signature, keep the signed PDF, delete the case.

The PDF is written at run time (a one-page lease); point ``documents`` at your own files on any
storage instead (``s3://contracts/lease.pdf``, a local path, or bytes). The signed PDF lands in
``destination`` (default ``file://$NEXTSIGN_OUTPUT_DIR/leases/``); afterwards the case is deleted from
NextSign, as data-retention rules often ask.
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime

from airflow.providers.common.compat.sdk import DAG, Param, task

from airflow_provider_nextsign.operators.cases import NextSignCreateCaseOperator, NextSignDeleteCaseOperator
from airflow_provider_nextsign.operators.documents import NextSignSignedDocumentsToStorageOperator
from airflow_provider_nextsign.sensors.case import NextSignCaseSensor

OUTPUT_DIR = os.environ.get("NEXTSIGN_OUTPUT_DIR", "/tmp/nextsign-signed")


def _one_page_pdf(text: str) -> bytes:
    """A minimal valid PDF with one line of text (no PDF library needed)."""
    stream = f"BT /F1 18 Tf 72 720 Td ({text}) Tj ET".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


with DAG(
    dag_id="example_nextsign_create_case",
    start_date=datetime(2025, 1, 1),
    schedule=None,
    catchup=False,
    tags=["example", "nextsign"],
    params={
        "destination": Param(f"file://{OUTPUT_DIR}/leases/", type="string", description="Signed PDF folder"),
    },
) as dag:

    @task
    def write_lease() -> str:
        """Write the lease to sign and return its path."""
        path = os.path.join(tempfile.mkdtemp(prefix="nextsign-lease-"), "lease.pdf")
        with open(path, "wb") as handle:
            handle.write(_one_page_pdf("Lease agreement: Holm Bryghus ApS"))
        return path

    # [START howto_create_case]
    create = NextSignCreateCaseOperator(
        task_id="create_case",
        title="Lease {{ run_id }}",
        recipients=[{"name": "Astrid Holm", "email": "astrid@example.com", "signing": True}],
        documents=[write_lease()],
        settings={"availability": {"unlimited": False, "days": 14}},
    )
    # [END howto_create_case]

    wait = NextSignCaseSensor(
        task_id="wait_for_signature",
        case_ids=create.output,
        poke_interval=float(os.environ.get("NEXTSIGN_POKE_INTERVAL", "60")),
        timeout=14 * 24 * 3600,
        mode="poke",
    )

    store = NextSignSignedDocumentsToStorageOperator(
        task_id="store_signed_pdf", case_id=create.output, destination="{{ params.destination }}"
    )

    # [START howto_delete_case]
    delete = NextSignDeleteCaseOperator(task_id="delete_case", case_id=create.output)
    # [END howto_delete_case]

    wait >> store >> delete
