"""What both clients are built from: checked credentials, the endpoints and the shared budget."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, TypedDict, Unpack

from airflow_provider_nextsign.api.endpoints import (
    CONVERT_API_VERSIONS,
    DEFAULT_FILES_HOST,
    DEFAULT_HOST,
    Endpoints,
    normalize_base,
)
from airflow_provider_nextsign.api.errors import NextSignInputError
from airflow_provider_nextsign.api.ratelimit import Budget, get_budget


@dataclass(frozen=True)
class ApiProfile:
    """What the probe (``python -m airflow_provider_nextsign.probe``) learned about an account's API.

    Written into the connection extra ``api_profile`` from the probe's ``api_profile`` output; every key
    is optional and only saves requests, never changes what a call returns.

    :param convert_api_version: where Document Convert answers (``v1`` or ``v2``): ``auto`` mode tries it
        first, and still falls back to the other path on HTTP 404.
    :param get_multiple_items: what Case Get Multiple sends: ``summary`` (the documented shape) lets
        ``get_full_cases`` and the report read each case with Case Get at once, without a Get Multiple
        request whose summaries would be read again anyway; ``full`` changes nothing (full items are used
        as they come).
    """

    convert_api_version: str | None = None
    get_multiple_items: str | None = None

    #: The allowed values of each key.
    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {
        "convert_api_version": CONVERT_API_VERSIONS,
        "get_multiple_items": ("summary", "full"),
    }

    @classmethod
    def parse(cls, value: Any, where: str = "api_profile") -> ApiProfile:
        """An :class:`ApiProfile` from an object or its JSON text (None or empty: no preferences).

        :param where: names the setting in error messages.
        :raises NextSignInputError: naming the key and the allowed values.
        """
        if isinstance(value, ApiProfile):
            return value
        if value is None or (isinstance(value, str) and not value.strip()):
            return cls()
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise NextSignInputError(
                    f"{where} is not valid JSON; paste the probe's api_profile object, e.g. "
                    '{"convert_api_version": "v2", "get_multiple_items": "summary"}'
                ) from None
        if not isinstance(value, Mapping):
            raise NextSignInputError(f"{where} must be a JSON object, got {type(value).__name__}")
        known = [f.name for f in fields(cls)]
        unknown = sorted(str(key) for key in value if key not in known)
        if unknown:
            raise NextSignInputError(
                f"{where} has unknown key(s) {', '.join(map(repr, unknown))}; known: {', '.join(known)}"
            )
        checked: dict[str, str | None] = {}
        for key in known:
            chosen = value.get(key)
            if chosen in (None, ""):
                continue
            if chosen not in cls.CHOICES[key]:
                allowed = " or ".join(repr(choice) for choice in cls.CHOICES[key])
                raise NextSignInputError(f"{where}: {key} must be {allowed}, got {chosen!r}")
            checked[key] = chosen
        return cls(**checked)

    @property
    def skips_get_multiple(self) -> bool:
        """Full reads go straight to Case Get: Get Multiple is known to answer summaries, which would be
        read again anyway."""
        return self.get_multiple_items == "summary"


class SettingsOptions(TypedDict, total=False):
    """The checked settings a client takes as keyword arguments (each documented on
    :class:`~airflow_provider_nextsign.api.client.NextSignClient`)."""

    host: str | None
    files_host: str | None
    requests_per_minute: float
    timeout: float
    convert_api_version: str
    api_profile: ApiProfile | Mapping[str, Any] | str | None


@dataclass(frozen=True)
class ClientSettings:
    """The checked settings of one client; the API key stays out of ``repr``."""

    company_id: str
    api_key: str = field(repr=False)
    endpoints: Endpoints
    requests_per_minute: float
    timeout: float
    convert_api_version: str = "auto"
    api_profile: ApiProfile = ApiProfile()

    @classmethod
    def build(cls, company_id: str, api_key: str, **options: Unpack[SettingsOptions]) -> ClientSettings:
        """Check the arguments (naming the one to fix) and resolve the hosts."""
        host = options.get("host", DEFAULT_HOST)
        files_host = options.get("files_host", DEFAULT_FILES_HOST)
        requests_per_minute = options.get("requests_per_minute", 100)
        timeout = options.get("timeout", 30.0)
        convert_api_version = options.get("convert_api_version", "auto")
        if not isinstance(company_id, str) or not company_id.strip():
            raise NextSignInputError("company_id is empty: give the NextSign company ID (Config -> API Keys)")
        if not isinstance(api_key, str) or not api_key.strip():
            raise NextSignInputError("api_key is empty: give a NextSign API key (Config -> API Keys)")
        if requests_per_minute <= 0:
            raise NextSignInputError(f"requests_per_minute must be positive, got {requests_per_minute!r}")
        if timeout <= 0:
            raise NextSignInputError(f"timeout must be a positive number of seconds, got {timeout!r}")
        if convert_api_version not in ("auto", *CONVERT_API_VERSIONS):
            raise NextSignInputError(
                f"convert_api_version must be 'auto', 'v1' or 'v2', got {convert_api_version!r}"
            )
        profile = ApiProfile.parse(options.get("api_profile"))
        company_id = company_id.strip()
        endpoints = Endpoints(
            normalize_base(host, DEFAULT_HOST), normalize_base(files_host, DEFAULT_FILES_HOST), company_id
        )
        return cls(
            company_id,
            api_key.strip(),
            endpoints,
            float(requests_per_minute),
            float(timeout),
            convert_api_version,
            profile,
        )

    def shared_budget(self) -> Budget:
        """The request budget every client of this host, company and key shares."""
        return get_budget(self.endpoints.host, self.company_id, self.api_key, self.requests_per_minute)
