"""Every module logs under its import name, so every logger is under ``alertloop.``."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _get_logger_args() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for top in ("sim", "services", "hil"):
        for path in sorted((ROOT / top).rglob("*.py")):
            if path.name == "cli.py":  # applications name their own logger
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "getLogger"
                    and node.args
                ):
                    found.setdefault(str(path.relative_to(ROOT)), []).append(
                        ast.unparse(node.args[0])
                    )
    return found


def test_every_module_logger_is_its_import_name() -> None:
    found = _get_logger_args()
    assert found, "no getLogger call found: the scan is broken"
    others = {path: args for path, args in found.items() if set(args) != {"__name__"}}
    assert not others, f"getLogger with something else than __name__: {others}"


def test_import_names_are_under_alertloop() -> None:
    from alertloop.services.ingester import service
    from alertloop.services.webhook import publisher

    assert service.log.name == "alertloop.services.ingester.service"
    assert publisher.log.name == "alertloop.services.webhook.publisher"
