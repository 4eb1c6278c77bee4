"""What the probe may print: key names and types, never values; ids as length and hash; URLs as host.

The probe's table and JSON are meant to be pasted into a public issue, so nothing a NextSign answer
holds leaves this module as it came: values become their type (``str``, ``int``...), keys that look like
data (ids, e-mail addresses, URLs) become a token, ids become ``<id len:24 #a1b2c3>`` with a hash keyed
by a secret of this run (equal ids in one report get equal tokens; nothing links two reports), and URLs
become ``scheme://host``.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_nextsign.api.shapes import describe

__all__ = ["Redactor", "host_of"]

#: A key that is a plain field name (not data such as an id, an e-mail address or a URL).
_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,39}$")
#: A run of hex digits or digits long enough to be an id rather than a word.
_ID_LIKE = re.compile(r"[0-9a-fA-F]{12,}|\d{6,}")


def host_of(url: str | None) -> str:
    """``scheme://host[:port]`` of ``url``, without user info, path or query ("?" when unreadable)."""
    if not url:
        return "?"
    try:
        parts = urlsplit(url if "://" in url else f"https://{url}")
        host = parts.hostname or "?"
        port = parts.port
    except ValueError:
        return "?"
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}{f':{port}' if port else ''}"


class Redactor:
    """Turns answers into what may be printed; one per probe run (its hash key is random).

    :param key: the hash key (random by default; give one only in tests).
    """

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key or secrets.token_bytes(16)

    def id_token(self, value: Any) -> str:
        """``<id len:N #hhhhhh>``: the length of ``value`` and a keyed hash, never the value."""
        text = str(value)
        digest = hashlib.blake2b(text.encode("utf-8"), key=self._key, digest_size=3).hexdigest()
        return f"<id len:{len(text)} #{digest}>"

    def key_name(self, key: Any) -> str:
        """``key`` when it is a plain field name, else a token (a key may itself be data)."""
        text = str(key)
        if _FIELD_NAME.match(text) and not _ID_LIKE.search(text):
            return text
        return f"<key {self.id_token(text)[1:-1]}>"

    def key_names(self, body: Any) -> list[str]:
        """The top-level keys of an object answer (sorted), ``["[array]"]`` or ``["(text)"]`` otherwise."""
        if isinstance(body, Mapping):
            return sorted(self.key_name(key) for key in body)
        if isinstance(body, list):
            return ["[array]"]
        if body is None:
            return []
        return ["(text)"]

    def skeleton(self, body: Any) -> Any:
        """``body`` with every key made safe and every value replaced by an empty one of its type."""
        if isinstance(body, Mapping):
            return {self.key_name(key): self.skeleton(value) for key, value in body.items()}
        if isinstance(body, list):
            return [self.skeleton(item) for item in body[:1]] + [None] * (len(body) - 1)
        if isinstance(body, bool):
            return False
        if isinstance(body, int):
            return 0
        if isinstance(body, float):
            return 0.0
        if isinstance(body, str):
            return ""
        return None

    def shape(self, body: Any, depth: int = 4) -> str:
        """The key structure of ``body``, e.g. ``{case: {_id: str, recipients: [{email: str}] (1)}}``."""
        return describe(self.skeleton(body), depth)
