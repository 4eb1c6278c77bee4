"""What both clients are built from: checked credentials, the endpoints and the shared budget."""

from __future__ import annotations

from dataclasses import dataclass, field

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
class ClientSettings:
    """The checked settings of one client; the API key stays out of ``repr``."""

    company_id: str
    api_key: str = field(repr=False)
    endpoints: Endpoints
    requests_per_minute: float
    timeout: float
    convert_api_version: str = "auto"

    @classmethod
    def build(
        cls,
        company_id: str,
        api_key: str,
        *,
        host: str | None,
        files_host: str | None,
        requests_per_minute: float,
        timeout: float,
        convert_api_version: str = "auto",
    ) -> ClientSettings:
        """Check the arguments (naming the one to fix) and resolve the hosts."""
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
        )

    def shared_budget(self) -> Budget:
        """The request budget every client of this host, company and key shares."""
        return get_budget(self.endpoints.host, self.company_id, self.api_key, self.requests_per_minute)
