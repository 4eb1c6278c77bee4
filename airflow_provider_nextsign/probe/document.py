"""What the probe sends: a one-page PDF and a case that says what it is, to a recipient nobody reads.

Every case the probe creates carries :data:`MARKER` at the start of its title and its referenceId, is
not sent to anyone (``autoSend: false``; the recipient's address is at ``example.com``, a domain reserved
for examples), and asks NextSign to delete it after one day should every clean-up fail.
"""

from __future__ import annotations

import base64
import secrets
from typing import Any

__all__ = ["MARKER", "PDF_NAME", "case_fields", "is_probe_case", "new_reference", "one_page_pdf"]

#: Marks the title and the referenceId of every case the probe creates.
MARKER = "airflow-provider-nextsign probe"
#: The name of the probe's PDF (uploaded, converted and attached).
PDF_NAME = "airflow-provider-nextsign-probe.pdf"
RECIPIENT = {"name": "airflow-provider-nextsign probe", "email": "probe@example.com", "signing": True}
_TEXT = "airflow-provider-nextsign probe: a test case, deleted by the probe that created it."


def one_page_pdf() -> bytes:
    """A valid one-page PDF (A4, one line of Helvetica), built by hand: no PDF library needed."""
    stream = f"BT /F1 11 Tf 56 780 Td ({_TEXT}) Tj ET".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> "
        b"/Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def new_reference() -> str:
    """A fresh ``"<MARKER> <random>"``: the title and the referenceId of one probe case."""
    return f"{MARKER} {secrets.token_hex(6)}"


def case_fields(reference: str, *, needs_cpr: bool) -> dict[str, Any]:
    """The keyword arguments of ``NextSignClient.create_case`` for one probe case.

    :param needs_cpr: send the recipient with ``needsCpr: true`` and no ``cpr`` (§0 P7).
    """
    recipient = dict(RECIPIENT)
    if needs_cpr:
        recipient["needsCpr"] = True
    content = base64.b64encode(one_page_pdf()).decode("ascii")
    return {
        "title": reference,
        "referenceId": reference,
        "recipients": [recipient],
        "documents": [{"name": PDF_NAME, "file": content, "fileIsBlob": True, "signObligated": True}],
        "settings": {
            "reminders": {"send": False},
            "deletion": {"autoDelete": True, "days": 1},
            "availability": {"unlimited": False, "days": 1},
        },
        "autoSend": False,
    }


def is_probe_case(item: Any) -> bool:
    """True for a list item the probe made: its title, and its referenceId when shown, carry the marker."""
    if not isinstance(item, dict):
        return False
    title = item.get("title")
    if not isinstance(title, str) or not title.startswith(MARKER):
        return False
    if "referenceId" not in item:  # a summary without it: the caller confirms with Case Get
        return True
    reference = item["referenceId"]
    return isinstance(reference, str) and reference.startswith(MARKER)
