"""Every import is declared, in the list that installs it, and the services run without extras.

``pip install alertloop`` gives the services and the simulator: everything ``services/`` and
``sim/`` import is in ``[project].dependencies``. The harness (``hil/``) may use the extras
too; the tests and benchmarks use the ``test`` extra.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import textwrap
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

from alertloop.hil.extras import EXTRA_OF

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
EXTRAS: dict[str, list[str]] = PROJECT["optional-dependencies"]
# Modules of the test tree and the benchmarks themselves, imported by their own names.
LOCAL = {"alertloop", "tests", "conftest", "esp_rom_fake", "mqtt_conformance"}
# What the services must run without (the harness's, the docker backend's and the plots').
BLOCKED = (
    "matplotlib",
    "numpy",
    "pytest",
    "_pytest",
    "docker",
    "testcontainers",
    "esptool",
    "serial",
)


def _name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9._-]+", requirement)
    assert match, requirement
    return _normal(match.group())


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared(*lists: list[str]) -> set[str]:
    return {_name(req) for requirements in lists for req in requirements}


def _imported_modules(*folders: str) -> dict[str, set[str]]:
    """Top-level module -> files importing it (every import, at module level or inside a
    function), for the third-party modules only."""
    found: dict[str, set[str]] = {}
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(), str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top in sys.stdlib_module_names or top in LOCAL:
                        continue
                    found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def _distributions(modules: dict[str, set[str]]) -> dict[str, set[str]]:
    """Distribution name -> files importing it; a module no installed distribution provides
    fails the test (installed here means declared somewhere, or an undeclared leftover)."""
    providers = metadata.packages_distributions()
    out: dict[str, set[str]] = {}
    unknown = {m: files for m, files in modules.items() if m not in providers}
    assert not unknown, f"imported but provided by no installed distribution: {unknown}"
    for module, files in modules.items():
        for dist in providers[module]:
            out.setdefault(_normal(dist), set()).update(files)
    return out


def test_services_and_simulator_need_only_the_base_dependencies() -> None:
    used = _distributions(_imported_modules("services", "sim"))
    missing = {d: sorted(f) for d, f in used.items() if d not in _declared(PROJECT["dependencies"])}
    assert not missing, (
        f"imported by services/ or sim/ but not in [project].dependencies: {missing}"
    )


def test_base_dependencies_are_all_used_by_services_or_simulator() -> None:
    used = set(_distributions(_imported_modules("services", "sim")))
    assert _declared(PROJECT["dependencies"]) - used == set()


def test_the_harness_needs_only_base_and_extras() -> None:
    used = _distributions(_imported_modules("hil"))
    declared = _declared(PROJECT["dependencies"], EXTRAS["hil"], EXTRAS["docker"], EXTRAS["plot"])
    missing = {d: sorted(f) for d, f in used.items() if d not in declared}
    assert not missing, f"imported by hil/ but in no extra: {missing}"


def test_tests_and_benchmarks_need_only_base_and_test_extra() -> None:
    used = _distributions(_imported_modules("tests", "bench"))
    missing = {
        d: sorted(f)
        for d, f in used.items()
        if d not in _declared(PROJECT["dependencies"], EXTRAS["test"])
    }
    assert not missing, f"imported by tests/ or bench/ but not in the test extra: {missing}"


def test_all_is_every_extra_and_test_has_all() -> None:
    assert set(EXTRAS["all"]) == set(EXTRAS["hil"] + EXTRAS["docker"] + EXTRAS["plot"])
    assert set(EXTRAS["all"]) <= set(EXTRAS["test"])


def test_the_heavy_packages_are_extras_only() -> None:
    base = _declared(PROJECT["dependencies"])
    heavy = {"matplotlib", "pytest", "docker", "testcontainers", "esptool", "pyserial"}
    assert base & heavy == set()


_BLOCKER = textwrap.dedent(
    """
    import sys

    BLOCKED = set(sys.argv[1].split(","))

    class Refuse:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"{name} is not installed (blocked)", name=name)
            return None

    sys.meta_path.insert(0, Refuse())
    for name in list(sys.modules):
        if name.split(".")[0] in BLOCKED:
            del sys.modules[name]
    from alertloop.hil.cli import main  # the console script's entry point

    sys.exit(main(sys.argv[2:]))
    """
)


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["ingest", "--help"],
        ["webhook", "--help"],
        ["hash-password", "--help"],
        ["sim", "esp32", "--help"],
        ["sim", "alerting", "--help"],
    ],
    ids=["alertloop", "ingest", "webhook", "hash-password", "sim-esp32", "sim-alerting"],
)
def test_commands_run_without_the_extras(argv: list[str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _BLOCKER, ",".join(BLOCKED), *argv],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    assert "usage:" in proc.stdout


def test_a_command_that_needs_an_extra_names_it() -> None:
    # The same blocker makes a command that needs an extra fail, so the passes above mean it.
    proc = subprocess.run(
        [sys.executable, "-c", _BLOCKER, ",".join(BLOCKED), "monitor", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert proc.returncode == 2
    assert "pip install 'alertloop[hil]'" in proc.stderr and "Traceback" not in proc.stderr


def test_every_extra_named_in_the_hints_exists() -> None:
    assert set(EXTRA_OF.values()) <= set(EXTRAS)
    for module, extra in EXTRA_OF.items():
        if module.startswith("_") or module == "numpy":
            continue  # pytest's internals; matplotlib's dependency
        providers = metadata.packages_distributions().get(module, [])
        assert _declared(EXTRAS[extra]) & {_normal(p) for p in providers}, module


def test_the_docker_backend_without_its_extra_names_it() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _BLOCKER, ",".join(BLOCKED), "stack", "up", "--backend", "docker"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert proc.returncode != 0
    assert "pip install 'alertloop[docker]'" in proc.stderr and "Traceback" not in proc.stderr


def test_the_pytest_plugin_loads_with_pytest_alone() -> None:
    # pytest loads the plugin in every environment that has alertloop and pytest, so it must
    # not need the other extras' packages until a test asks for a fixture that uses them.
    others = ",".join(sorted(set(BLOCKED) - {"pytest", "_pytest"}))
    script = _BLOCKER.replace(
        "from alertloop.hil.cli import main  # the console script's entry point\n\n"
        "sys.exit(main(sys.argv[2:]))",
        "import alertloop.hil.pytest_plugin\nimport alertloop.hil.pytest_plugin.bench_fixtures",
    )
    assert script != _BLOCKER
    proc = subprocess.run(
        [sys.executable, "-c", script, others],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
