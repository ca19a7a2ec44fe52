"""``alertloop demo``: the whole loop on one machine with simulated boards, live, checked, plotted."""

from alertloop.hil.demo.analysis import (
    Crossing,
    LoopCheck,
    check_loop,
    mean_crossings,
    rolling_mean,
)
from alertloop.hil.demo.runner import DemoOptions, DemoResult, DemoRunner, Snapshot

__all__ = [
    "Crossing",
    "DemoOptions",
    "DemoResult",
    "DemoRunner",
    "LoopCheck",
    "Snapshot",
    "check_loop",
    "mean_crossings",
    "rolling_mean",
]
