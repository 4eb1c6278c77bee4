"""Every NextSign URL, built in one place.

The v2 endpoints live on ``host`` under ``/api/v2/{company}/...`` (Convert has no company segment);
the v3 file endpoints live on ``files_host`` under ``/v3/company/{company}/file/...``. Versions are
separate contracts (nextsign-api.md §1.3), so each path is spelled out in full.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

DEFAULT_HOST = "https://www.nextsign.dk"
DEFAULT_FILES_HOST = "https://api.nextsign.dk"
#: The paths Document Convert is known at: production's first, then the documented one.
CONVERT_API_VERSIONS = ("v1", "v2")


def normalize_base(url: str | None, default: str) -> str:
    """Return ``url`` without a trailing slash or a pasted ``/api`` or ``/api/v2`` suffix, or ``default``."""
    base = (url or "").strip() or default
    if "://" not in base:
        base = "https://" + base
    base = base.rstrip("/")
    for suffix in ("/api/v2", "/api", "/v3"):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
    return base


@dataclass(frozen=True)
class Endpoints:
    """The URLs of one company's NextSign endpoints."""

    host: str
    files_host: str
    company_id: str

    @property
    def _v2(self) -> str:
        return f"{self.host}/api/v2/{quote(self.company_id, safe='')}"

    @property
    def _v3(self) -> str:
        return f"{self.files_host}/v3/company/{quote(self.company_id, safe='')}/file"

    def form(self, form_id: str) -> str:
        """Forms Get: ``GET /api/v2/{company}/forms/{form_id}/get``."""
        return f"{self._v2}/forms/{_seg(form_id)}/get"

    def form_tags(self, form_id: str) -> str:
        """Forms Tags: ``GET /api/v2/{company}/forms/{form_id}/tags/get``."""
        return f"{self._v2}/forms/{_seg(form_id)}/tags/get"

    def form_submit(self, form_id: str) -> str:
        """Forms Submit: ``POST /api/v2/{company}/forms/{form_id}/submit``."""
        return f"{self._v2}/forms/{_seg(form_id)}/submit"

    def case_list(self) -> str:
        """Case List: ``GET /api/v2/{company}/cases/get``."""
        return f"{self._v2}/cases/get"

    def case(self, case_id: str) -> str:
        """Case Get: ``GET /api/v2/{company}/case/{case_id}/get``."""
        return f"{self._v2}/case/{_seg(case_id)}/get"

    def cases(self, case_ids: list[str]) -> str:
        """Case Get Multiple: ``GET /api/v2/{company}/cases/{id,id,...}/get``."""
        return f"{self._v2}/cases/{','.join(_seg(c) for c in case_ids)}/get"

    def case_create(self) -> str:
        """Case Create: ``POST /api/v2/{company}/case/create``."""
        return f"{self._v2}/case/create"

    def case_delete(self, case_id: str) -> str:
        """Case Delete (a GET): ``GET /api/v2/{company}/case/{case_id}/delete``."""
        return f"{self._v2}/case/{_seg(case_id)}/delete"

    def file_upload(self) -> str:
        """Document Upload: ``POST {files_host}/v3/company/{company}/file/upload``."""
        return f"{self._v3}/upload"

    def file_presigned_url(self) -> str:
        """Document Retrieve: ``POST {files_host}/v3/company/{company}/file/view-presigned-url``."""
        return f"{self._v3}/view-presigned-url"

    def document_convert(self, version: str = "v2") -> str:
        """Document Convert: ``POST /api/{v1|v2}/document/convert`` (no company segment).

        The docs name v2; production integrations call v1 (nextsign-api.md §0 P6).
        """
        if version not in CONVERT_API_VERSIONS:
            raise ValueError(f"version must be one of {CONVERT_API_VERSIONS}, got {version!r}")
        return f"{self.host}/api/{version}/document/convert"


def _seg(value: str) -> str:
    return quote(str(value), safe="")
