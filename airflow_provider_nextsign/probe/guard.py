"""Where the probe may run: NextSign's test environment and a local sandbox, unless told otherwise.

The probe creates and deletes a case, uploads a small PDF and sends a wrong key on purpose. None of
that belongs in a production account by accident, so a v2 host other than ``https://test.nextsign.dk``
or a loopback address is refused before any request, unless the caller says
``--i-know-this-is-production`` (``allow_production=True``).

NextSign names no test host for the v3 file API. The file checks (Upload, pre-signed URL, download and
Convert, which needs an uploaded file) run only when ``files_host`` is the test host, one of its
subdomains, or loopback; otherwise they are reported as not checked.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from airflow_provider_nextsign.probe.redaction import host_of

__all__ = ["TEST_HOST", "ProbeRefused", "check_hosts", "is_loopback", "is_test_environment"]

#: NextSign's test environment (nextsign-api.md §1.1).
TEST_HOST = "test.nextsign.dk"


class ProbeRefused(Exception):
    """The probe will not run against this host."""


def _hostname(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), (parts.hostname or "").lower()


def is_loopback(url: str) -> bool:
    """True for ``localhost`` and loopback addresses (a sandbox on this machine)."""
    _, host = _hostname(url)
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_test_environment(url: str, *, subdomains: bool = False) -> bool:
    """True for ``https://test.nextsign.dk`` (and its subdomains when asked)."""
    scheme, host = _hostname(url)
    if scheme != "https":
        return False
    return host == TEST_HOST or (subdomains and host.endswith("." + TEST_HOST))


def check_hosts(host: str, files_host: str, *, allow_production: bool) -> tuple[bool, str]:
    """Refuse a v2 host that is not the test environment; say whether the file host may be probed.

    :returns: (files may be probed, why not when they may not).
    :raises ProbeRefused: ``host`` is neither the test environment nor loopback.
    """
    if not (allow_production or is_test_environment(host) or is_loopback(host)):
        raise ProbeRefused(
            f"Refusing to probe {host_of(host)}: the probe creates and deletes a case and uploads a file, so "
            f"it runs only against NextSign's test environment (https://{TEST_HOST}) or a local sandbox. "
            f"Point the connection's host at https://{TEST_HOST} with a test API key, or pass "
            "--i-know-this-is-production (allow_production=True) to probe this host anyway."
        )
    if allow_production or is_test_environment(files_host, subdomains=True) or is_loopback(files_host):
        return True, ""
    return False, (
        f"the files host {host_of(files_host)} is not known to be the test environment (NextSign names "
        "no test host for the v3 file API); set files_host to your test file host, or pass "
        "--i-know-this-is-production"
    )
