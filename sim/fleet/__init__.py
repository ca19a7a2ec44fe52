"""Fleets: thousands of simulated ESP32s and NodeMCUs in one process, on one event loop."""

from alertloop.sim.fleet.config import FleetConfig, FleetConfigError
from alertloop.sim.fleet.devices import FleetDevice, FleetEsp32, FleetNodeMcu
from alertloop.sim.fleet.fleet import Fleet, FleetError, raise_open_file_limit
from alertloop.sim.fleet.stats import FleetStats, LatenessHistogram

__all__ = [
    "Fleet",
    "FleetConfig",
    "FleetConfigError",
    "FleetDevice",
    "FleetError",
    "FleetEsp32",
    "FleetNodeMcu",
    "FleetStats",
    "LatenessHistogram",
    "raise_open_file_limit",
]
