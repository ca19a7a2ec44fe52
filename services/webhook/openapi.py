"""The OpenAPI 3.1 document served at ``/openapi.json``."""

from __future__ import annotations

from typing import Any

_ERROR = {"$ref": "#/components/schemas/Error"}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR}}}


_HEALTH = {
    "type": "object",
    "required": ["status", "service", "version", "problems", "checks"],
    "properties": {
        "status": {"enum": ["ok", "degraded", "failing"]},
        "service": {"type": "string"},
        "version": {"type": "string"},
        "problems": {"type": "object", "additionalProperties": {"type": "string"}},
        "checks": {"type": "object"},
    },
}


def _health(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _HEALTH}}}


def openapi_document(max_body_bytes: int) -> dict[str, Any]:
    """The API description; ``max_body_bytes`` is the configured body limit (413 above it)."""
    unified_alert = {
        "type": "object",
        "required": ["status"],
        "properties": {
            "status": {"enum": ["firing", "resolved"]},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "annotations": {"type": "object"},
            "startsAt": {"type": "string", "format": "date-time"},
            "endsAt": {"type": "string", "format": "date-time"},
            "fingerprint": {"type": "string"},
            "values": {"type": "object"},
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "alertloop webhook",
            "version": "1",
            "description": "Grafana alert notifications in, a retained MQTT message (1/0) out.",
        },
        "components": {
            "securitySchemes": {"basic": {"type": "http", "scheme": "basic"}},
            "schemas": {
                "Unified": {
                    "type": "object",
                    "required": ["alerts"],
                    "properties": {
                        "status": {"enum": ["firing", "resolved"]},
                        "alerts": {"type": "array", "items": unified_alert},
                    },
                },
                "Legacy": {
                    "type": "object",
                    "required": ["state"],
                    "properties": {
                        "state": {
                            "enum": ["alerting", "ok", "no_data", "pending", "paused", "unknown"]
                        },
                        "ruleName": {"type": "string"},
                        "ruleUrl": {"type": "string"},
                        "rule_url": {"type": "string"},
                    },
                },
                "Result": {
                    "type": "object",
                    "properties": {
                        "status": {
                            "enum": ["published", "superseded", "unchanged", "stale", "ignored"]
                        },
                        "kind": {"enum": ["unified", "legacy"]},
                        "value": {"enum": ["1", "0", None]},
                        "topic": {"type": "string"},
                        "reason": {"type": "string"},
                        "ignored": {
                            "description": "why nothing was published (status ignored)",
                            "enum": ["test", "no_match", "no_alerts", "policy"],
                        },
                    },
                },
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "properties": {
                                "status": {"type": "integer"},
                                "name": {"type": "string"},
                                "message": {"type": "string"},
                            },
                        }
                    },
                },
            },
        },
        "paths": {
            "/alert": {
                "post": {
                    "summary": "Receive a Grafana notification and publish the alert state",
                    "security": [{"basic": []}],
                    "requestBody": {
                        "required": True,
                        "description": f"At most {max_body_bytes} bytes.",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "oneOf": [
                                        {"$ref": "#/components/schemas/Unified"},
                                        {"$ref": "#/components/schemas/Legacy"},
                                    ]
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "Published and acknowledged, or nothing to change",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Result"}
                                }
                            },
                        },
                        "400": _error("Body is not JSON"),
                        "401": _error("Missing or wrong credentials"),
                        "413": _error("Body too large"),
                        "422": _error("JSON of neither notification shape"),
                        "503": _error("Broker unreachable or no acknowledgement in time; retry"),
                    },
                }
            },
            "/healthz": {
                "get": {
                    "summary": "Whether publishes are accepted (the MQTT connection is up)",
                    "responses": {
                        "200": _health("ok: connected"),
                        "503": _health("failing: not connected, or restoring the state"),
                    },
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics",
                    "responses": {"200": {"description": "text exposition format"}},
                }
            },
        },
    }
