"""The input checks of the API layer, for the operators: bad input fails before any request is sent.

Operators reach the API only through the hook layer. This module is the part of that layer they may
import when a DAG file is parsed: it imports :mod:`airflow_provider_nextsign.api.payloads` (plain Python,
no HTTP client, no Airflow) and not the hook, so building an operator stays cheap. Every check raises
:class:`~airflow_provider_nextsign.exceptions.NextSignInputError` naming the field and the fix.
"""

from __future__ import annotations

from airflow_provider_nextsign.api.payloads import (
    DOCX_MIME,
    check_recipients,
    check_settings,
    check_signing_schemas,
    check_title,
    document_kind,
    sniff_mime,
    tag_list,
)

__all__ = [
    "DOCX_MIME",
    "check_recipients",
    "check_settings",
    "check_signing_schemas",
    "check_title",
    "document_kind",
    "sniff_mime",
    "tag_list",
]
