"""The Grafana conformance corpus: real notification bodies, where each came from, and what the
webhook does with it (see README.md in this folder).

    from tests.conformance.grafana.corpus import load_corpus
    for entry in load_corpus():
        entry.name, entry.kind, entry.grafana_version, entry.source, entry.body, entry.expect

Only the standard library and PyYAML are used, so any test (or a script run from the
repository root) can load it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

HERE = Path(__file__).resolve().parent
MANIFEST = HERE / "manifest.yaml"
BODIES = HERE / "bodies"

OUTCOMES = (
    "publish-1",
    "publish-0",
    "ignored-test",
    "ignored-no-match",
    "ignored-policy",
    "422",
)
CONFIG_KEYS = (
    "match",
    "legacy_rules",
    "accept_test",
    "error_action",
    "nodata_action",
    "legacy_actions",
)


@dataclass(frozen=True)
class Expectation:
    """One expected outcome under the webhook settings in ``config`` ({} = the defaults)."""

    config: Mapping[str, Any]
    outcome: str

    @property
    def id(self) -> str:
        if not self.config:
            return "default"
        return ",".join(f"{k}={_short(v)}" for k, v in sorted(self.config.items()))


@dataclass(frozen=True)
class CorpusEntry:
    """One body of the corpus. ``derived`` is None for a body exactly as captured."""

    name: str
    kind: Literal["unified", "legacy"]
    grafana_version: str
    source: Mapping[str, str]
    body: dict[str, Any]
    expect: tuple[Expectation, ...] = field(default_factory=tuple)
    derived: str | None = None

    @property
    def default_outcome(self) -> str:
        """The outcome under the default settings."""
        for expectation in self.expect:
            if not expectation.config:
                return expectation.outcome
        raise LookupError(f"{self.name}: no expectation for the default settings")

    @property
    def source_text(self) -> str:
        """``repo path@commit`` for messages."""
        return f"{self.source['repo']} {self.source['path']}@{self.source['commit'][:12]}"


def _short(value: Any) -> str:
    if isinstance(value, Mapping):
        return "+".join(f"{k}:{v}" for k, v in value.items())
    if isinstance(value, list):
        return "+".join(str(v) for v in value)
    return str(value)


def load_corpus(manifest: Path = MANIFEST) -> list[CorpusEntry]:
    """Every entry of the manifest with its body loaded. Raises ValueError for a bad manifest."""
    doc = yaml.safe_load(manifest.read_text(encoding="utf-8"))
    entries = []
    for raw in doc["entries"]:
        name = raw["name"]
        if raw["kind"] not in ("unified", "legacy"):
            raise ValueError(f"{name}: kind must be unified or legacy")
        source = {k: str(v) for k, v in raw["source"].items()}
        if not {"repo", "path", "commit"} <= source.keys():
            raise ValueError(f"{name}: source needs repo, path and commit")
        expect = []
        for item in raw["expect"]:
            config, outcome = item.get("config") or {}, str(item["outcome"])
            if outcome not in OUTCOMES or not set(config) <= set(CONFIG_KEYS):
                raise ValueError(f"{name}: bad expectation {item!r}")
            expect.append(Expectation(config, outcome))
        body = json.loads((manifest.parent / "bodies" / f"{name}.json").read_text("utf-8"))
        entries.append(
            CorpusEntry(
                name=name,
                kind=raw["kind"],
                grafana_version=str(raw["grafana_version"]),
                source=source,
                body=body,
                expect=tuple(expect),
                derived=raw.get("derived"),
            )
        )
    return entries
