"""DOCX to PDF with NextSign: fill the tags of a Word template and store the PDF.

The template is made at run time with python-docx (placeholders like ``{{customer_name}}``); point
``source`` at your own DOCX on any storage (``s3://bucket/templates/offer.docx``) instead.
The PDF lands in ``destination`` (default ``file://$NEXTSIGN_OUTPUT_DIR/converted/``).
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime

from airflow.providers.common.compat.sdk import DAG, Param, task

from airflow_provider_nextsign.operators.documents import NextSignConvertDocumentOperator

OUTPUT_DIR = os.environ.get("NEXTSIGN_OUTPUT_DIR", "/tmp/nextsign-signed")

with DAG(
    dag_id="example_nextsign_docx_to_pdf",
    start_date=datetime(2025, 1, 1),
    schedule=None,
    catchup=False,
    tags=["example", "nextsign"],
    params={
        "destination": Param(
            f"file://{OUTPUT_DIR}/converted/", type="string", description="PDF file or folder/"
        ),
    },
) as dag:

    @task
    def make_template() -> str:
        """Write a small offer letter with tag placeholders and return its path."""
        from docx import Document

        doc = Document()
        doc.add_heading("Offer", level=1)
        doc.add_paragraph("Dear {{customer_name}},")
        doc.add_paragraph("we are pleased to offer our services for DKK {{price}} per month.")
        path = os.path.join(tempfile.mkdtemp(prefix="nextsign-template-"), "offer.docx")
        doc.save(path)
        return path

    # [START howto_convert_document]
    convert = NextSignConvertDocumentOperator(
        task_id="convert_to_pdf",
        source=make_template(),
        tags={"customer_name": "Holm Bryghus ApS", "price": 4500},
        destination="{{ params.destination }}",
    )
    # [END howto_convert_document]
