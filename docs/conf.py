"""Sphinx configuration of the airflow-provider-nextsign documentation (``make docs``)."""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from pathlib import Path

# Autodoc imports the package, which imports Airflow: give Airflow a throwaway home first.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="nextsign-docs-airflow-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
logging.getLogger("airflow").setLevel(logging.WARNING)  # its import-time INFO lines, before logging is set up
ROOT = Path(__file__).resolve().parent.parent
# The provider (repository root) and the sandbox distribution (sandbox/), importable without installing.
sys.path[:0] = [str(ROOT), str(ROOT / "sandbox")]

from airflow_provider_nextsign import __version__  # noqa: E402  (after the environment above)

project = "airflow-provider-nextsign"
author = "airflow-provider-nextsign developers"
copyright = "2026, airflow-provider-nextsign developers"
release = version = __version__

extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.viewcode"]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build", "examples/__init__.py"]
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}
# Airflow's own classes are not documented here; their cross-references are not errors.
nitpicky = False
suppress_warnings = ["myst.xref_missing"]

html_theme = "furo"
html_title = f"airflow-provider-nextsign {release}"
html_static_path = ["_static"]
