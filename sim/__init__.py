"""Simulated boards (the seed's ESP32 knob and NodeMCU LEDs), knob signals and scenarios."""

from sim.errors import ScenarioError, SignalError, SimError
from sim.esp32 import SimEsp32
from sim.nodemcu import SimNodeMcu
from sim.scenario import Scenario, load_scenario
from sim.serial_log import SerialEvent, SerialLog, format_event, parse_event
from sim.signals import (
    Constant,
    CsvReplay,
    Ramp,
    RandomWalk,
    Settable,
    Signal,
    Sine,
    Square,
    Step,
    parse_signal,
)

__all__ = [
    "Constant",
    "CsvReplay",
    "RandomWalk",
    "Ramp",
    "Scenario",
    "ScenarioError",
    "SerialEvent",
    "SerialLog",
    "Settable",
    "Signal",
    "SignalError",
    "SimError",
    "SimEsp32",
    "SimNodeMcu",
    "Sine",
    "Square",
    "Step",
    "format_event",
    "load_scenario",
    "parse_event",
    "parse_signal",
]
