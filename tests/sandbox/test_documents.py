"""The sandbox's document functions: MIME sniffing, DOCX tag rendering, conversion and signed PDFs."""

from __future__ import annotations

import io
import os
import stat
import sys
from pathlib import Path

import docx
import pytest
from pypdf import PdfReader

from nextsign_sandbox import documents
from nextsign_sandbox.documents import (
    DOCX_MIME,
    PDF_MIME,
    convert,
    demo_template_docx,
    docx_to_pdf,
    make_pdf,
    render_docx,
    signed_pdf,
    sniff_mime,
)


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def docx_bytes(document: docx.document.Document) -> bytes:
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def split_run_docx() -> bytes:
    """A document exercising every place a placeholder can hide, split as Word would split it."""
    document = docx.Document()
    section = document.sections[0]
    section.header.paragraphs[0].text = "Header for {{customer_name}}"
    section.footer.paragraphs[0].text = "Footer {{ customer_zip }}"
    paragraph = document.add_paragraph("Dear ")
    first = paragraph.add_run("{{cust")
    first.bold = True
    paragraph.add_run("omer_")
    paragraph.add_run("name}}")
    paragraph.add_run(", you live in {{customer_zip}} and owe {{amount}}. Keep {{unknown_tag}}.")
    table = document.add_table(rows=1, cols=2)
    table.cell(0, 0).text = "Name"
    table.cell(0, 1).text = "{{ customer_name }}"
    nested = table.cell(0, 0).add_table(rows=1, cols=1)
    nested.cell(0, 0).text = "nested {{customer_zip}}"
    return docx_bytes(document)


def test_sniff_mime() -> None:
    assert sniff_mime(make_pdf("t", ["x"])) == PDF_MIME
    assert sniff_mime(demo_template_docx()) == DOCX_MIME
    other_zip = io.BytesIO()
    import zipfile

    with zipfile.ZipFile(other_zip, "w") as archive:
        archive.writestr("content.xml", "<x/>")
    assert sniff_mime(other_zip.getvalue()) is None
    assert sniff_mime(b"PK\x03\x04 not really a zip") is None
    assert sniff_mime(b"hello") is None
    assert sniff_mime(b"") is None


def test_render_replaces_split_runs_tables_headers_and_footers() -> None:
    tags = {"customer_name": "Søren Ærø", "customer_zip": 2100, "amount": 12.5}
    rendered = docx.Document(io.BytesIO(render_docx(split_run_docx(), tags)))

    paragraph = rendered.paragraphs[0]
    assert paragraph.text == "Dear Søren Ærø, you live in 2100 and owe 12.5. Keep {{unknown_tag}}."
    # The value sits in the run where the placeholder started and keeps that run's formatting.
    assert paragraph.runs[1].text == "Søren Ærø"
    assert paragraph.runs[1].bold is True
    assert paragraph.runs[2].text == paragraph.runs[3].text == ""

    cell = rendered.tables[0].cell(0, 1)
    assert cell.text == "Søren Ærø"
    assert rendered.tables[0].cell(0, 0).tables[0].cell(0, 0).text == "nested 2100"
    section = rendered.sections[0]
    assert section.header.paragraphs[0].text == "Header for Søren Ærø"
    assert section.footer.paragraphs[0].text == "Footer 2100"


def test_render_leaves_unknown_placeholders_and_values_with_spaces() -> None:
    document = docx.Document()
    document.add_paragraph("{{a}}{{b}} {{ c }} {{a}}")
    rendered = docx.Document(io.BytesIO(render_docx(docx_bytes(document), {"a": "  x ", "c": "{{a}}"})))
    # Values are inserted verbatim (spaces kept) and are not rendered again.
    assert rendered.paragraphs[0].text == "  x {{b}} {{a}}   x "


def test_render_without_tags_keeps_text() -> None:
    rendered = docx.Document(io.BytesIO(render_docx(demo_template_docx(), {})))
    assert "{{customer_name}}" in "\n".join(p.text for p in rendered.paragraphs)


def test_demo_template_has_split_placeholder() -> None:
    document = docx.Document(io.BytesIO(demo_template_docx()))
    runs = [run.text for paragraph in document.paragraphs for run in paragraph.runs]
    assert "{{customer_name}}" not in runs
    assert "{{customer_" in runs
    full = "\n".join(p.text for p in document.paragraphs)
    assert "{{customer_name}}" in full
    assert "customer_zip" in full
    assert document.tables[0].cell(0, 1).text == "{{customer_name}}"


def test_convert_docx_gives_pdf_with_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(documents.shutil, "which", lambda name: None)
    pdf = convert(demo_template_docx(), {"customer_name": "Jens Ærøskøbing", "customer_zip": "5970"})
    assert sniff_mime(pdf) == PDF_MIME
    text = pdf_text(pdf)
    assert "Jens Ærøskøbing" in text
    assert "5970" in text
    assert "Customer | Jens Ærøskøbing" in text
    assert "{{" not in text and "}}" not in text


def test_convert_passes_pdf_through_unchanged() -> None:
    original = make_pdf("Already a PDF", ["{{customer_name}}"])
    assert convert(original, {"customer_name": "x"}) is original


@pytest.mark.parametrize("data", [b"", b"plain text", b"PK\x03\x04broken", b"\x89PNG\r\n"])
def test_convert_rejects_other_types(data: bytes) -> None:
    with pytest.raises(ValueError, match="unsupported document type"):
        convert(data, {})


def test_make_pdf_handles_any_unicode() -> None:
    pdf = make_pdf("Kontrakt \u2013 æøå", ["Grüße “quoted” … ł 漢字 😀", "", "\ttabbed", "x" * 500])
    text = pdf_text(pdf)
    assert "Kontrakt - æøå" in text
    assert 'Grüße "quoted" ... ? ?? ?' in text
    assert "tabbed" in text
    assert make_pdf("a", ["b"]) == make_pdf("a", ["b"])


def test_signed_pdf_lists_recipients_and_is_deterministic() -> None:
    case = {
        "_id": "657b2ffb0965b111023fb0d1",
        "nextSignKey": "NS-1234",
        "title": "Lejekontrakt",
        "recipients": [
            {
                "name": "Anne Østergaard",
                "email": "anne@example.com",
                "signedDateAndTime": "2024-02-19T10:52:25Z",
            },
            {"name": "Bo Berg", "email": "bo@example.com", "signedDateAndTime": "2024-02-19T11:00:00Z"},
        ],
    }
    pdf = signed_pdf(case)
    text = pdf_text(pdf)
    for expected in (
        "Lejekontrakt",
        "657b2ffb0965b111023fb0d1",
        "NS-1234",
        "Anne Østergaard",
        "anne@example.com",
        "2024-02-19T10:52:25Z",
        "Bo Berg",
    ):
        assert expected in text
    assert signed_pdf(dict(case)) == pdf
    assert signed_pdf({**case, "recipients": case["recipients"][:1]}) != pdf


def fake_soffice(tmp_path: Path, script: str) -> Path:
    path = tmp_path / "soffice"
    path.write_text(f"#!{sys.executable}\n{script}")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


@pytest.mark.skipif(os.name != "posix", reason="fake executable uses a shebang")
def test_docx_to_pdf_uses_libreoffice_when_present(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = (
        "import pathlib, sys\n"
        "args = sys.argv[1:]\n"
        "assert '--headless' in args and args[args.index('--convert-to') + 1] == 'pdf'\n"
        "out = pathlib.Path(args[args.index('--outdir') + 1])\n"
        "(out / (pathlib.Path(args[-1]).stem + '.pdf')).write_bytes(b'%PDF-1.7 from soffice')\n"
    )
    executable = fake_soffice(tmp_path, script)
    monkeypatch.setattr(documents.shutil, "which", lambda name: str(executable))
    assert docx_to_pdf(demo_template_docx()) == b"%PDF-1.7 from soffice"


@pytest.mark.skipif(os.name != "posix", reason="fake executable uses a shebang")
def test_docx_to_pdf_falls_back_when_libreoffice_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    executable = fake_soffice(tmp_path, "import sys\nsys.exit(3)\n")
    monkeypatch.setattr(documents.shutil, "which", lambda name: str(executable))
    pdf = docx_to_pdf(render_docx(demo_template_docx(), {"customer_name": "Fallback Person"}))
    assert "Fallback Person" in pdf_text(pdf)
