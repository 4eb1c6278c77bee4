"""Document handling of the NextSign sandbox: MIME sniffing, DOCX tag rendering and PDF output.

Everything here is pure Python (python-docx, fpdf2). LibreOffice is used for DOCX to PDF when it
happens to be installed, never required. The heavy libraries are imported lazily so importing the
sandbox stays cheap.
"""

from __future__ import annotations

import io
import logging
import re
import shutil
import subprocess
import tempfile
import unicodedata
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

PDF_MIME = "application/pdf"
DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"

# A fixed creation date makes generated PDFs byte-for-byte deterministic.
_PDF_DATE = datetime(2024, 1, 1, tzinfo=UTC)
_SOFFICE_TIMEOUT = 60.0
_PLACEHOLDER = re.compile(r"\{\{\s*([^{}]+?)\s*\}\}")
# Typographic characters Word likes to insert that the PDF core fonts (latin-1) lack.
_ASCII_FALLBACK = {
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": ",",
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u2013": "-",
    "\u2014": "-",
    "\u2212": "-",
    "\u2026": "...",
    "\u2022": "*",
    "\u20ac": "EUR",
    "\u00a0": " ",
    "\u2009": " ",
    "\u200b": "",
}


def sniff_mime(data: bytes) -> str | None:
    """Return ``PDF_MIME`` or ``DOCX_MIME`` from the content of ``data``, else ``None``."""
    if data.startswith(b"%PDF-"):
        return PDF_MIME
    if data.startswith(b"PK"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                if "word/document.xml" in archive.namelist():
                    return DOCX_MIME
        except (zipfile.BadZipFile, ValueError):
            return None
    return None


def _latin1(text: str) -> str:
    """Make ``text`` printable with a PDF core font: keep latin-1 (æøå), approximate the rest."""
    out = []
    for char in text:
        if char in _ASCII_FALLBACK:
            out.append(_ASCII_FALLBACK[char])
            continue
        try:
            char.encode("latin-1")
        except UnicodeEncodeError:
            base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
            try:
                base.encode("latin-1")
            except UnicodeEncodeError:
                base = ""
            out.append(base or "?")
        else:
            # Control characters other than tab would end up as garbage glyphs.
            out.append(" " if unicodedata.category(char) == "Cc" else char)
    return "".join(out)


def make_pdf(title: str, lines: Iterable[str]) -> bytes:
    """Write ``title`` (as a heading, when not empty) and ``lines`` into a real, text-extractable PDF.

    Characters outside latin-1 are approximated (``č`` -> ``c``, en dash -> ``-``) or replaced by ``?``.
    """
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_creation_date(_PDF_DATE)
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    if title:
        pdf.set_font("Helvetica", style="B", size=16)
        pdf.multi_cell(0, 9, _latin1(title), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(4)
    pdf.set_font("Helvetica", size=11)
    for line in lines:
        text = _latin1(str(line)).replace("\t", "    ").rstrip()
        if text:
            pdf.multi_cell(0, 6, text, new_x="LMARGIN", new_y="NEXT")
        else:
            pdf.ln(6)
    return bytes(pdf.output())


# --------------------------------------------------------------------------- DOCX rendering


def _paragraph_elements(document: Any) -> Iterator[Any]:
    """Yield every ``w:p`` of the body (tables, nested tables, text boxes), headers and footers."""
    from docx.oxml.ns import qn

    yield from document.element.body.iter(qn("w:p"))
    seen: set[int] = set()
    for section in document.sections:
        for part in (
            section.header,
            section.first_page_header,
            section.even_page_header,
            section.footer,
            section.first_page_footer,
            section.even_page_footer,
        ):
            # A linked header has no definition of its own; touching it would create one.
            if part.is_linked_to_previous:
                continue
            element = part._element
            if id(element) in seen:
                continue
            seen.add(id(element))
            yield from element.iter(qn("w:p"))


def _render_paragraph(paragraph: Any, tags: Mapping[str, str]) -> None:
    """Replace known placeholders of one ``w:p``, even when Word split them across several runs.

    Works on the ``w:t`` text nodes, so tabs, breaks and run properties stay in place; the
    value lands in the node where the placeholder starts and so keeps that run's formatting.
    """
    nodes = paragraph.xpath("./w:r/w:t | ./w:hyperlink/w:r/w:t | ./w:ins/w:r/w:t | ./w:smartTag/w:r/w:t")
    if not nodes:
        return
    texts = [node.text or "" for node in nodes]
    full = "".join(texts)
    if "{{" not in full:
        return
    starts = []
    offset = 0
    for text in texts:
        starts.append(offset)
        offset += len(text)

    lengths = [len(text) for text in texts]

    def locate(pos: int) -> tuple[int, int]:
        index = next(i for i, start in enumerate(starts) if start <= pos < start + lengths[i])
        return index, pos - starts[index]

    matches = [m for m in _PLACEHOLDER.finditer(full) if m.group(1) in tags]
    changed: set[int] = set()
    # Right to left, so the offsets computed from the original texts stay valid.
    for match in reversed(matches):
        value = tags[match.group(1)]
        first, first_off = locate(match.start())
        last, last_off = locate(match.end() - 1)
        if first == last:
            texts[first] = texts[first][:first_off] + value + texts[first][last_off + 1 :]
        else:
            texts[first] = texts[first][:first_off] + value
            for middle in range(first + 1, last):
                texts[middle] = ""
            texts[last] = texts[last][last_off + 1 :]
        changed.update(range(first, last + 1))
    xml_space = "{http://www.w3.org/XML/1998/namespace}space"
    for index in changed:
        nodes[index].text = texts[index]
        nodes[index].set(xml_space, "preserve")


def render_docx(template: bytes, tags: Mapping[str, object]) -> bytes:
    """Fill ``{{tag}}`` / ``{{ tag }}`` placeholders of a DOCX with ``str(value)``.

    Covers body paragraphs, tables (also nested), headers and footers, including placeholders
    split across runs. Unknown placeholders are left as they are.
    """
    import docx

    document = docx.Document(io.BytesIO(template))
    values = {str(key).strip(): str(value) for key, value in tags.items()}
    if values:
        for paragraph in _paragraph_elements(document):
            _render_paragraph(paragraph, values)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


# --------------------------------------------------------------------------- DOCX -> PDF


def _docx_lines(document: Any) -> Iterator[str]:
    """Yield the text of a DOCX in reading order: headers, body paragraphs and tables, footers."""
    from docx.oxml.ns import qn
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    def headers_or_footers(kind: str) -> Iterator[str]:
        for section in document.sections[:1]:
            part = getattr(section, kind)
            if not part.is_linked_to_previous:
                for paragraph in part.paragraphs:
                    yield paragraph.text

    def table_lines(table: Any) -> Iterator[str]:
        for row in table.rows:
            cells: list[str] = []
            previous = None
            for cell in row.cells:
                if cell._tc is previous:  # merged cells repeat the same element
                    continue
                previous = cell._tc
                cells.append(" ".join(p.text for p in cell.paragraphs).strip())
            yield " | ".join(cells)

    yield from headers_or_footers("header")
    for child in document.element.body.iterchildren():
        if child.tag == qn("w:p"):
            yield Paragraph(child, document).text
        elif child.tag == qn("w:tbl"):
            yield from table_lines(Table(child, document))
    yield from headers_or_footers("footer")


def _soffice_to_pdf(executable: str, docx: bytes) -> bytes | None:
    """Convert with LibreOffice in a private temp dir and profile; ``None`` on any failure."""
    with tempfile.TemporaryDirectory(prefix="nextsign-soffice-") as tmp:
        source = Path(tmp) / "document.docx"
        source.write_bytes(docx)
        command = [
            executable,
            f"-env:UserInstallation={(Path(tmp) / 'profile').as_uri()}",
            "--headless",
            "--convert-to",
            "pdf",
            "--outdir",
            tmp,
            str(source),
        ]
        try:
            subprocess.run(command, capture_output=True, timeout=_SOFFICE_TIMEOUT, check=True)
            result = (Path(tmp) / "document.pdf").read_bytes()
        except (OSError, subprocess.SubprocessError) as exc:
            log.warning("LibreOffice conversion failed (%s); using the built-in PDF writer", exc)
            return None
        if not result.startswith(b"%PDF-"):
            log.warning("LibreOffice produced no PDF; using the built-in PDF writer")
            return None
        return result


def docx_to_pdf(docx: bytes) -> bytes:
    """Convert a DOCX to PDF: LibreOffice when on PATH, else its text written with :func:`make_pdf`."""
    executable = shutil.which("soffice") or shutil.which("libreoffice")
    if executable:
        result = _soffice_to_pdf(executable, docx)
        if result is not None:
            return result
    import docx as python_docx

    document = python_docx.Document(io.BytesIO(docx))
    return make_pdf(document.core_properties.title or "", _docx_lines(document))


def convert(data: bytes, tags: Mapping[str, object]) -> bytes:
    """Document Convert: PDF passes through unchanged, DOCX is rendered with ``tags`` then made a PDF."""
    mime = sniff_mime(data)
    if mime == PDF_MIME:
        return data
    if mime == DOCX_MIME:
        return docx_to_pdf(render_docx(data, tags))
    raise ValueError("unsupported document type")


# --------------------------------------------------------------------------- seeded documents


def demo_template_docx() -> bytes:
    """A small contract template with ``{{customer_name}}`` (split across runs) and ``{{customer_zip}}``."""
    import docx

    document = docx.Document()
    document.core_properties.title = "Service agreement"
    document.sections[0].header.paragraphs[0].text = "NextSign sandbox - demo contract"
    document.add_heading("Service agreement", level=1)
    paragraph = document.add_paragraph("This agreement is made with ")
    # Word often splits a placeholder over several runs; the template does so on purpose.
    bold = paragraph.add_run("{{customer_")
    bold.bold = True
    paragraph.add_run("name}}")
    paragraph.add_run(", postal code {{ customer_zip }}.")
    document.add_paragraph("The customer accepts the terms below by signing with MitID.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "Customer"
    table.cell(0, 1).text = "{{customer_name}}"
    table.cell(1, 0).text = "Postal code"
    table.cell(1, 1).text = "{{customer_zip}}"
    document.add_paragraph("Signed electronically through NextSign.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def signed_pdf(case: Mapping[str, Any]) -> bytes:
    """The "signed" PDF of a case: title, ids and one line per recipient. Deterministic per case."""
    lines = [
        f"Case ID: {case.get('_id', '')}",
        f"NextSign key: {case.get('nextSignKey', '')}",
    ]
    if case.get("referenceId"):
        lines.append(f"Reference: {case['referenceId']}")
    lines += ["", "Signed by:"]
    for recipient in case.get("recipients") or []:
        lines.append(
            f"{recipient.get('name', '')} <{recipient.get('email', '')}> - "
            f"signed {recipient.get('signedDateAndTime') or '-'}"
        )
    lines += ["", "This document was signed in the NextSign sandbox and has no legal effect."]
    return make_pdf(str(case.get("title") or "Signed document"), lines)
