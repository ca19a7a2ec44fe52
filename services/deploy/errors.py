"""Errors of ``alertloop deploy``."""

from __future__ import annotations

from alertloop.services.common.errors import AlertloopError, ConfigError


class DeployError(AlertloopError):
    """Writing the deploy directory failed (a file, a helper program)."""


class DeployExistsError(DeployError):
    """The directory already holds files that ``init`` would replace (and ``--force`` was not given)."""

    def __init__(self, paths: list[str]) -> None:
        self.paths = paths
        listed = ", ".join(paths[:6]) + (f" and {len(paths) - 6} more" if len(paths) > 6 else "")
        super().__init__(
            f"the directory already holds {listed}; give --force to replace them "
            "(new secrets: every client must then get the new passwords)"
        )


class DeployUsageError(DeployError, ConfigError):
    """An option that cannot be used (exit 2)."""
