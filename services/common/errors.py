"""The root error type of alertloop and the few kinds every package shares."""


class AlertloopError(Exception):
    """Root of every error alertloop raises on purpose."""


class ConfigError(AlertloopError, ValueError):
    """A flag, environment variable or file holds a value that cannot be used."""


class TimeoutExpired(AlertloopError, TimeoutError):
    """Something awaited did not happen before its deadline."""
