"""Grafana's server-side expressions the loop's rule uses: reduce and threshold (pure functions)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

from alertloop.sim.alerting.provisioning import ReduceExpression, ThresholdExpression

NAN = float("nan")


def reduce_series(values: Sequence[float | None], expr: ReduceExpression) -> float:
    """One number out of ``values`` as Grafana's reduce does it.

    Modes: strict (default; any null or NaN makes the result NaN), ``dropNN`` (drop them),
    ``replaceNN`` (replace them with ``replace_with``). An empty series reduces to NaN,
    except ``count`` and ``sum`` (0).
    """
    clean: list[float] = []
    for value in values:
        missing = value is None or math.isnan(value)
        if not missing:
            clean.append(float(value))  # type: ignore[arg-type]
        elif expr.mode == "replaceNN":
            clean.append(float(expr.replace_with or 0.0))
        elif expr.mode != "dropNN":
            return NAN
    if expr.reducer == "count":
        return float(len(clean))
    if expr.reducer == "sum":
        return math.fsum(clean)
    if not clean:
        return NAN
    if expr.reducer == "mean":
        return math.fsum(clean) / len(clean)
    if expr.reducer == "min":
        return min(clean)
    if expr.reducer == "max":
        return max(clean)
    if expr.reducer == "last":
        return clean[-1]
    if expr.reducer == "median":
        return float(statistics.median(clean))
    raise ValueError(f"unknown reducer {expr.reducer!r}")


def threshold_met(value: float, expr: ThresholdExpression) -> bool:
    """Whether ``value`` meets the threshold's one condition (NaN never does)."""
    if math.isnan(value):
        return False
    p = expr.params
    checks = {
        "gt": lambda: value > p[0],
        "lt": lambda: value < p[0],
        "eq": lambda: value == p[0],
        "ne": lambda: value != p[0],
        "gte": lambda: value >= p[0],
        "lte": lambda: value <= p[0],
        "within_range": lambda: p[0] < value < p[1],
        "outside_range": lambda: value < p[0] or value > p[1],
        "within_range_included": lambda: p[0] <= value <= p[1],
        "outside_range_included": lambda: value <= p[0] or value >= p[1],
    }
    return bool(checks[expr.type]())
