"""Reading Grafana's provisioning files: where they are, YAML documents, durations, ``$VAR``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from alertloop.sim.alerting.errors import ProvisioningError

__all__ = [
    "BASE_INTERVAL",
    "alerting_dir",
    "default_provisioning_dir",
    "interpolate_env",
    "load_docs",
    "need",
    "parse_duration",
]

BASE_INTERVAL = 10.0

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
_ENV = re.compile(r"\$(?:\$|\{(\w+)\}|(\w+))")


def default_provisioning_dir() -> Path:
    """``services/grafana/provisioning`` inside the installed package."""
    from alertloop import services

    return Path(services.__file__).resolve().parent / "grafana" / "provisioning"


def parse_duration(value: object, what: str = "duration") -> float:
    """Seconds in a Prometheus-style duration (``10s``, ``1m30s``, ``500ms``, ``0s``) or a number.

    Raises ProvisioningError for anything else.
    """
    if isinstance(value, bool):
        raise ProvisioningError(f"{what}: {value!r} is not a duration")
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    if text in ("0", ""):
        return 0.0
    pos, total = 0, 0.0
    for match in _DURATION.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or pos == 0:
        raise ProvisioningError(f"{what}: {value!r} is not a duration such as 10s, 1m or 500ms")
    return total


def interpolate_env(text: str, env: Mapping[str, str]) -> str:
    """Replace ``$VAR`` / ``${VAR}`` with ``env`` values (missing ones become empty); ``$$`` is ``$``."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1) or match.group(2), "")

    return _ENV.sub(replace, text)


def load_docs(directory: Path) -> list[tuple[Path, dict[str, Any]]]:
    if not directory.is_dir():
        raise ProvisioningError(f"provisioning directory {directory} does not exist")
    docs = []
    for path in sorted(directory.iterdir()):
        if path.suffix not in (".yaml", ".yml", ".json"):
            continue
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ProvisioningError(f"{path}: cannot read: {exc}") from exc
        if not isinstance(doc, dict):
            raise ProvisioningError(
                f"{path}: expected a mapping at the top, got {type(doc).__name__}"
            )
        docs.append((path, doc))
    return docs


def alerting_dir(directory: str | Path | None) -> Path:
    """The ``alerting`` directory under a provisioning directory (or the directory itself)."""
    base = Path(directory) if directory is not None else default_provisioning_dir()
    return base / "alerting" if (base / "alerting").is_dir() else base


def need(mapping: Mapping[str, Any], key: str, where: str) -> Any:
    value = mapping.get(key)
    if value is None or value == "":
        raise ProvisioningError(f"{where}: '{key}' is required")
    return value
