"""Fixtures: pipeline (filled in by its component)."""

__all__: list[str] = []
