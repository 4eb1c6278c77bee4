"""Register the personal data in rendered operator fields with Airflow's secret masker."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def cpr_forms(cpr: Any) -> set[str]:
    """The ways a CPR number may be written: as given, ``DDMMYYXXXX`` and ``DDMMYY-XXXX``."""
    text = str(cpr).strip()
    if not text:
        return set()
    forms = {text}
    digits = text.replace("-", "")
    if len(digits) == 10 and digits.isdigit():
        forms |= {digits, f"{digits[:6]}-{digits[6:]}"}
    return forms


def mask_recipient_secrets(recipients: Any) -> None:
    """Mask each recipient's ``cpr`` (Danish personal number) in task logs and rendered template fields.

    Airflow redacts values of keys it knows as sensitive (``password``, ``api_key``, ...); ``cpr`` is not
    one, so the operators that take recipients register every CPR number with the masker once their
    templates are rendered, before the rendered fields are stored or anything is logged.
    """
    from airflow.providers.common.compat.sdk import mask_secret

    if isinstance(recipients, Mapping):
        recipients = [recipients]
    if not isinstance(recipients, (list, tuple)):
        return
    for recipient in recipients:
        if isinstance(recipient, Mapping) and recipient.get("cpr") not in (None, ""):
            for form in cpr_forms(recipient["cpr"]):
                mask_secret(form)
