"""Fleets: thousands of simulated ESP32s and NodeMCUs in one process, on one event loop."""

from sim.fleet.config import FleetConfig, FleetConfigError
from sim.fleet.devices import FleetDevice, FleetEsp32, FleetNodeMcu
from sim.fleet.fleet import Fleet, FleetError, raise_open_file_limit
from sim.fleet.stats import FleetStats, LatenessHistogram

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
