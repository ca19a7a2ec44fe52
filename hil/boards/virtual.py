"""The ``virtual`` board backend: the real sketches, built for Linux, as boards.

``make -C firmware host`` builds each sketch against a small Arduino core for Linux and a
PubSubClient on libmosquitto (``firmware/host/``). Started with ``ALERTLOOP_SERIAL=pty``, the
program opens a pseudo-terminal, prints ``#HW pty path=/dev/pts/N`` on stdout, and from then on
its ``Serial`` is that terminal. This module starts the program with the broker and topic
prefix in its environment, reads the path and attaches the serial backend to it, so the serial
path that flashed boards use runs on every machine. The knob is the ADC of GPIO 32 and the
LEDs are the pins themselves (``#HW`` lines of the core), not what the sketch prints.

Stopping sends SIGTERM to the program's pid, then SIGKILL if it has not ended; ``kill()`` is
SIGKILL at once (a power cut: the broker publishes the board's last will).
"""

from __future__ import annotations

from pathlib import Path
from typing import Self

from alertloop.hil.boards.host_program import (
    FIRMWARE_DIR,
    HostFirmware,
    VirtualBoardError,
    ensure_built,
)
from alertloop.hil.boards.serial_board import SerialBoard, SerialEsp32, SerialNodeMcu
from alertloop.hil.serial_monitor import SerialMonitor
from alertloop.services.common.config import MqttSettings
from alertloop.services.common.mqtt import new_client_id

__all__ = [
    "FIRMWARE_DIR",
    "HostFirmware",
    "VirtualBoardError",
    "VirtualEsp32",
    "VirtualNodeMcu",
    "ensure_built",
]


def _prefix_for(topic: str, sketch_topic: str) -> str:
    if not topic.endswith(sketch_topic):
        raise ValueError(
            f"a virtual board's topic must end with the sketch's {sketch_topic!r} "
            f"(the prefix goes to ALERTLOOP_TOPIC_PREFIX), got {topic!r}"
        )
    return topic[: -len(sketch_topic)]


class _HostBoard(SerialBoard):
    """Start the program before attaching the serial board; stop it by its pid after."""

    firmware: HostFirmware

    def start(self) -> Self:
        """Start the program and attach to its pty. Raises VirtualBoardError when it cannot."""
        if not self.running:
            if self._monitor is not None:  # a previous run's console
                self._monitor.stop()
            path = self.firmware.start()
            log_path = None
            if self.firmware.log_path is not None:
                log_path = self.firmware.log_path.with_suffix(".serial")
            self._monitor = SerialMonitor(
                path, self.baudrate, log_path=log_path, keep_buffered=True
            )
            self._listening = False
            self.port = path
        return super().start()

    def stop(self) -> None:
        """Close the console, then end the program (SIGTERM, SIGKILL if needed)."""
        super().stop()
        self.firmware.stop()

    def kill(self) -> None:
        """SIGKILL: the connection drops without a DISCONNECT, so the broker sends the will."""
        self.firmware.stop(hard=True)
        super().stop()

    def set_network(self, up: bool) -> None:
        """Drop WiFi (``up=False``) or bring it back, through the host core.

        Raises BoardNotStarted when the board is not running."""
        self._require_running()
        self.serial.send(f"#HW wifi state={'up' if up else 'down'}")

    @property
    def pid(self) -> int | None:
        """The program's process id."""
        return self.firmware.pid

    @property
    def running(self) -> bool:
        return super().running and self.firmware.alive

    def _describe(self) -> str:
        process = self.firmware.process
        alive = "running" if self.firmware.alive else f"exited {process and process.poll()}"
        return f"{super()._describe()}; {self.firmware.program} pid {self.pid} {alive}"


class VirtualEsp32(_HostBoard, SerialEsp32):
    """The ESP32 knob sketch as a Linux program. Implements ``alertloop.hil.boards.SensorBoard``."""

    def __init__(
        self,
        mqtt: MqttSettings,
        topic: str = "/pot",
        client_id: str | None = None,
        *,
        firmware_dir: Path = FIRMWARE_DIR,
        log_dir: Path | None = None,
    ) -> None:
        self.topic = topic
        self.mqtt = mqtt
        self.client_id = client_id or new_client_id("esp32")
        self.firmware = HostFirmware(
            "esp32_knob",
            mqtt,
            topic_prefix=_prefix_for(topic, "/pot"),
            client_id=self.client_id,
            firmware_dir=firmware_dir,
            log_dir=log_dir,
        )
        SerialEsp32.__init__(self, "virtual", knob_mode="adc", query_status=False)


class VirtualNodeMcu(_HostBoard, SerialNodeMcu):
    """The NodeMCU LED sketch as a Linux program (``seed_compat=True``: the seed's behaviour,
    built with ``ALERTLOOP_SEED_COMPAT=1``). Implements ``alertloop.hil.boards.IndicatorBoard``."""

    def __init__(
        self,
        mqtt: MqttSettings,
        topic: str = "/alert",
        client_id: str | None = None,
        seed_compat: bool = False,
        *,
        firmware_dir: Path = FIRMWARE_DIR,
        log_dir: Path | None = None,
    ) -> None:
        self.topic = topic
        self.mqtt = mqtt
        self.seed_compat = seed_compat
        self.client_id = client_id or new_client_id("nodemcu")
        self.firmware = HostFirmware(
            "nodemcu_led_seed" if seed_compat else "nodemcu_led",
            mqtt,
            topic_prefix=_prefix_for(topic, "/alert"),
            client_id=self.client_id,
            firmware_dir=firmware_dir,
            log_dir=log_dir,
        )
        SerialNodeMcu.__init__(self, "virtual", led_source="pins", query_status=False)
