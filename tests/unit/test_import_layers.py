"""Imports run one way: basics <- services and device models <- harness <- applications."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# package (folder) -> top-level packages it must never import
FORBIDDEN = {
    "services/common": (
        "alertloop.sim",
        "alertloop.hil",
        "alertloop.services.ingester",
        "alertloop.services.webhook",
    ),
    "services": ("alertloop.sim", "alertloop.hil"),
    "sim": ("alertloop.hil",),
}
# The folders install as alertloop.sim, alertloop.services and alertloop.hil; a bare ``sim``
# import works only from a checkout's root, never from an installed wheel.
BARE = ("sim", "services", "hil")
CODE = ("sim", "services", "hil", "tests", "bench", "conftest.py")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _violations(folder: str, forbidden: tuple[str, ...]) -> list[str]:
    found = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        for name in _imports(path):
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                found.append(f"{path.relative_to(ROOT)} imports {name}")
    return found


@pytest.mark.parametrize(("folder", "forbidden"), list(FORBIDDEN.items()), ids=list(FORBIDDEN))
def test_no_lower_layer_imports_a_higher_one(folder: str, forbidden: tuple[str, ...]) -> None:
    assert _violations(folder, forbidden) == []


def test_the_checker_sees_a_violation(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("from alertloop.hil.boards import create_esp32\nimport sim.esp32\n")
    assert _imports(module) == {"alertloop.hil.boards", "sim.esp32"}


def test_no_code_imports_the_folders_by_their_bare_names() -> None:
    found = []
    for entry in CODE:
        paths = [ROOT / entry] if entry.endswith(".py") else sorted((ROOT / entry).rglob("*.py"))
        for path in paths:
            for name in _imports(path):
                if name.split(".")[0] in BARE:
                    found.append(f"{path.relative_to(ROOT)} imports {name}")
    assert found == []
