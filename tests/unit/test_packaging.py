"""What the distributions ship: package data that exists, developer tools that are not published."""

from __future__ import annotations

import configparser
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_package_data_pattern_matches_a_file():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    for package, patterns in cfg["options.package_data"].items():
        folder = ROOT / package.replace(".", "/")
        for pattern in patterns.split():
            assert list(folder.glob(pattern)), (
                f"setup.cfg [options.package_data] {package} = {pattern} matches no file: remove it"
            )


def test_developer_tools_are_dependency_groups_not_published_extras():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    published = set(project["project"]["optional-dependencies"])
    assert not published & {"test", "docs", "screenshots", "dev", "release"}, published
    assert {"test", "docs", "screenshots", "release", "dev"} <= set(project["dependency-groups"])
