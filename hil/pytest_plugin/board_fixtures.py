"""Fixtures: board (filled in by its component)."""

__all__: list[str] = []
