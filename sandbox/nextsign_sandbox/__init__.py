"""Local NextSign-compatible server for demos, tests and users' own DAG tests.

``from nextsign_sandbox import SandboxServer`` imports FastAPI and uvicorn only on
first use of the name, so importing this package (as the pytest plugin does) stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nextsign_sandbox.server import SandboxServer

__version__ = "0.1.0"

__all__ = ["SandboxServer", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "SandboxServer":
        from nextsign_sandbox.server import SandboxServer

        return SandboxServer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
