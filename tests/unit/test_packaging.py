"""What the distributions ship: package data that exists, developer tools that are not published, and
two wheels that keep to their own code (the provider; the sandbox, nextsign-sandbox)."""

from __future__ import annotations

import configparser
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from email.parser import Parser
from pathlib import Path, PurePosixPath

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
SANDBOX = ROOT / "sandbox"


def test_every_package_data_pattern_matches_a_file():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    declared = [
        (ROOT, package, patterns.split()) for package, patterns in cfg["options.package_data"].items()
    ]
    sandbox_project = tomllib.loads((SANDBOX / "pyproject.toml").read_text())
    for package, patterns in sandbox_project["tool"]["setuptools"]["package-data"].items():
        declared.append((SANDBOX, package, patterns))
    for project, package, patterns in declared:
        folder = project / package.replace(".", "/")
        for pattern in patterns:
            assert list(folder.glob(pattern)), (
                f"{project.name}: package data {package} = {pattern} matches no file: remove it"
            )


def test_developer_tools_are_dependency_groups_not_published_extras():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    published = set(project["project"]["optional-dependencies"])
    assert not published & {"test", "docs", "screenshots", "dev", "release"}, published
    assert {"test", "docs", "screenshots", "release", "dev"} <= set(project["dependency-groups"])


def test_the_sandbox_ships_the_same_license_as_the_provider():
    assert (SANDBOX / "LICENSE").read_text() == (ROOT / "LICENSE").read_text()


class Built:
    """One distribution's sdist and wheel (the wheel built from the sdist, as PyPI users get it)."""

    def __init__(self, folder: Path) -> None:
        self.sdist = next(folder.glob("*.tar.gz"))
        self.wheel = next(folder.glob("*.whl"))
        with zipfile.ZipFile(self.wheel) as wheel:
            self.files = [PurePosixPath(name) for name in wheel.namelist()]
            dist_info = next(f.parts[0] for f in self.files if f.parts[0].endswith(".dist-info"))
            names = set(wheel.namelist())
            self.metadata = Parser().parsestr(wheel.read(f"{dist_info}/METADATA").decode())
            entry_points = configparser.ConfigParser(delimiters=("=",))
            entry_points.optionxform = str  # type: ignore[assignment,method-assign]
            if f"{dist_info}/entry_points.txt" in names:
                entry_points.read_string(wheel.read(f"{dist_info}/entry_points.txt").decode())
            self.entry_points = {group: dict(entry_points[group]) for group in entry_points.sections()}
        with tarfile.open(self.sdist) as sdist:
            # the path inside the sdist's top folder (name-version/)
            self.sdist_files = [PurePosixPath(*PurePosixPath(n).parts[1:]) for n in sdist.getnames()]

    def code(self) -> list[PurePosixPath]:
        """The wheel's files outside its .dist-info folder."""
        return [f for f in self.files if not f.parts[0].endswith(".dist-info")]

    def requirements(self) -> list[str]:
        return self.metadata.get_all("Requires-Dist") or []


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Built]:
    """Both distributions built once per session, offline: no isolated build environment, no index."""
    out = tmp_path_factory.mktemp("dist")
    result = {}
    for name, project in (("provider", ROOT), ("sandbox", SANDBOX)):
        build = subprocess.run(
            [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out / name), str(project)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
        result[name] = Built(out / name)
    return result


def test_the_provider_wheel_holds_only_the_provider(built):
    provider = built["provider"]
    assert provider.metadata["Name"] == "airflow-provider-nextsign"
    assert {f.parts[0] for f in provider.code()} == {"airflow_provider_nextsign"}
    sandbox_code = [f for f in provider.files if {"sandbox", "nextsign_sandbox"} & set(f.parts)]
    assert not sandbox_code, f"the provider wheel ships sandbox code: {sandbox_code}"
    assert PurePosixPath("airflow_provider_nextsign/hooks/nextsign.py") in provider.files  # the real thing


def test_the_provider_registers_no_pytest_plugin_and_no_sandbox_command(built):
    entry_points = built["provider"].entry_points
    assert "pytest11" not in entry_points, entry_points
    assert "nextsign-sandbox" not in entry_points.get("console_scripts", {}), entry_points
    assert set(entry_points) == {"apache_airflow_provider", "airflow.plugins"}, entry_points


def test_the_provider_has_no_sandbox_extra(built):
    """An extra naming nextsign-sandbox would break `pip install airflow-provider-nextsign[all]` for as
    long as nextsign-sandbox is not on PyPI."""
    provider = built["provider"]
    assert "sandbox" not in (provider.metadata.get_all("Provides-Extra") or [])
    assert not [r for r in provider.requirements() if "sandbox" in r], provider.requirements()


def test_the_provider_sdist_holds_no_sandbox(built):
    shipped = [f for f in built["provider"].sdist_files if f.parts[:1] == ("sandbox",)]
    assert not shipped, f"the provider sdist ships the sandbox folder: {shipped}"


def test_the_sandbox_wheel_holds_only_the_sandbox(built):
    sandbox = built["sandbox"]
    assert sandbox.metadata["Name"] == "nextsign-sandbox"
    assert {f.parts[0] for f in sandbox.code()} == {"nextsign_sandbox"}
    provider_code = [f for f in sandbox.files if "airflow_provider_nextsign" in f.parts]
    assert not provider_code, f"the sandbox wheel ships provider code: {provider_code}"
    shipped = {f.name for f in sandbox.code()}
    assert {p.name for p in (SANDBOX / "nextsign_sandbox").glob("*.py")} | {"py.typed"} == shipped
    assert any(f.name == "LICENSE" for f in sandbox.files if f.parts[0].endswith(".dist-info"))
    assert not [f for f in sandbox.sdist_files if "airflow_provider_nextsign" in f.parts]


def test_the_sandbox_registers_its_pytest_plugin_and_command(built):
    entry_points = built["sandbox"].entry_points
    assert entry_points["pytest11"] == {"nextsign_sandbox": "nextsign_sandbox.pytest_plugin"}
    assert entry_points["console_scripts"] == {"nextsign-sandbox": "nextsign_sandbox.cli:main"}


def test_the_sandbox_installs_without_airflow_or_the_provider(built):
    sandbox = built["sandbox"]
    names = [Requirement(r).name for r in sandbox.requirements()]
    assert not [n for n in names if "airflow" in n], sandbox.requirements()
    assert {"fastapi", "uvicorn", "python-docx", "fpdf2", "python-multipart", "requests"} <= set(names)
    assert sandbox.metadata["Requires-Python"] == built["provider"].metadata["Requires-Python"] == ">=3.11"
