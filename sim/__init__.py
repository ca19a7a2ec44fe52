"""Simulated boards (the seed's ESP32 knob and NodeMCU LEDs), knob signals and scenarios."""

from alertloop.sim.errors import ScenarioError, SignalError, SimError
from alertloop.sim.esp32 import SimEsp32
from alertloop.sim.nodemcu import SimNodeMcu
from alertloop.sim.scenario import Scenario, load_scenario
from alertloop.sim.serial_log import SerialEvent, SerialLog, format_event, parse_event
from alertloop.sim.signals import (
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
