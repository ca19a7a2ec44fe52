"""The wheel's package list: every package folder, under its ``alertloop.`` import name."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]


def test_every_package_folder_is_listed_under_its_import_name() -> None:
    folders = {
        "alertloop." + ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("sim", "services", "hil")
        for init in (ROOT / top).rglob("__init__.py")
    }
    assert set(SETUPTOOLS["packages"]) == folders


def test_each_top_folder_maps_to_its_namespaced_name() -> None:
    assert SETUPTOOLS["package-dir"] == {
        "alertloop.sim": "sim",
        "alertloop.services": "services",
        "alertloop.hil": "hil",
    }


def test_alertloop_stays_a_namespace_package() -> None:
    # A folder named alertloop/ in the checkout would shadow the mapped packages.
    assert not (ROOT / "alertloop").exists()
