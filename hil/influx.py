"""TestDatabase: a fresh InfluxDB database for one test, dropped afterwards."""

from __future__ import annotations

import re
import uuid
from dataclasses import replace
from typing import Any

from alertloop.services.common.config import InfluxSettings


class TestDatabase:
    """A database created on ``server`` with a unique name built from ``label``."""

    __test__ = False  # not a pytest test class

    def __init__(self, server: InfluxSettings, label: str = "t") -> None:
        clean = re.sub(r"[^A-Za-z0-9_]", "_", label)[:40]
        self.name = f"{clean}_{uuid.uuid4().hex[:6]}"
        self.settings = replace(server, database=self.name)
        self.client = self.settings.client()

    def create(self) -> TestDatabase:
        self.client.create_database(self.name)
        return self

    def drop(self) -> None:
        try:
            self.client.drop_database(self.name)
        finally:
            self.client.close()

    def query(self, influxql: str) -> list[dict[str, Any]]:
        """The points of the first series that ``influxql`` returns (empty list if none)."""
        result = self.client.query(influxql, database=self.name, epoch="ns")
        return list(result.get_points())

    def count(self, measurement: str = "pot", field: str = "value") -> int:
        rows = self.query(f'SELECT count("{field}") FROM "{measurement}"')
        return int(rows[0]["count"]) if rows else 0
