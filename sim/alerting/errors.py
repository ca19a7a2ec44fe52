"""Errors of the simulated alerting: one root type, converted at the boundary."""

from __future__ import annotations

from alertloop.services.common.errors import AlertloopError, ConfigError


class AlertingError(AlertloopError):
    """Root of every error the simulated alert evaluator raises on purpose."""


class ProvisioningError(AlertingError, ConfigError):
    """A provisioning file is missing, unreadable, or breaks one of Grafana's constraints."""


class QueryError(AlertingError):
    """The rule's query could not be run against InfluxDB (connection, syntax, server error)."""


class NotifyError(AlertingError):
    """A notification could not be delivered to the contact point."""
