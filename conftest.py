"""Repo-level pytest wiring. The fixtures come from the alertloop plugin (entry point ``pytest11``)."""
