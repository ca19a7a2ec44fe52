"""Which extra brings a missing package, for a one-line hint instead of a traceback.

``pip install alertloop`` has what the services and the simulator import; the harness's
packages come with extras (README.md, "Install").
"""

from __future__ import annotations

__all__ = ["EXTRA_OF", "missing_extra"]

# top-level module -> the extra that installs it
EXTRA_OF = {
    "serial": "hil",
    "esptool": "hil",
    "pytest": "hil",
    "_pytest": "hil",
    "docker": "docker",
    "testcontainers": "docker",
    "matplotlib": "plot",
    "numpy": "plot",
}


def missing_extra(exc: ModuleNotFoundError) -> str | None:
    """The hint for a package an extra brings, or None when ``exc`` is about another module."""
    top = (exc.name or "").split(".")[0]
    extra = EXTRA_OF.get(top)
    if extra is None:
        return None
    return f"needs {top!r}, which comes with the {extra!r} extra: pip install 'alertloop[{extra}]'"
