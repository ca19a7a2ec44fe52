"""Errors of the simulated boards, their signals and scenarios."""

from alertloop.services.common.errors import AlertloopError

__all__ = ["ScenarioError", "SignalError", "SimError"]


class SimError(AlertloopError):
    """Root of the errors the simulator raises on purpose."""


class SignalError(SimError, ValueError):
    """A knob signal was described with a value that cannot be used."""


class ScenarioError(SimError, ValueError):
    """A scenario file or dict is invalid; ``where`` names the step and field."""

    def __init__(self, message: str, *, where: str = "", source: str = "") -> None:
        self.where = where
        self.source = source
        prefix = ": ".join(part for part in (source, where) if part)
        super().__init__(f"{prefix}: {message}" if prefix else message)
