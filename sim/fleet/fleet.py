"""``Fleet``: thousands of simulated ESP32s and NodeMCUs in one process, one event loop."""

from __future__ import annotations

import resource
from collections.abc import Callable, Iterable
from typing import Self

from alertloop.services.common.config import MqttSettings
from alertloop.services.common.deadline import wait_until
from alertloop.services.common.lifecycle import Lifecycle
from alertloop.sim.board_api.protocol import BoardNotStarted, LedChange, LedState
from alertloop.sim.errors import SimError
from alertloop.sim.fleet.config import FleetConfig
from alertloop.sim.fleet.devices import FleetDevice, FleetEsp32, FleetNodeMcu
from alertloop.sim.fleet.loop import FleetLoop
from alertloop.sim.fleet.stats import FleetStats

__all__ = ["Fleet", "FleetError", "raise_open_file_limit"]

FDS_PER_DEVICE = 1
FD_RESERVE = 256


class FleetError(SimError):
    """The fleet cannot run (file limit) or its loop failed."""


def raise_open_file_limit(needed: int) -> int:
    """Raise this process's soft open-file limit to at least ``needed`` (up to the hard limit).

    Returns the new soft limit; raises FleetError when the hard limit is lower than ``needed``.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft >= needed:
        return soft
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise FleetError(
            f"a fleet this size needs {needed} open files but the hard limit is {hard}; "
            "raise it (ulimit -Hn, or LimitNOFILE= in a systemd unit) or run fewer devices"
        )
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    return needed


class Fleet(Lifecycle):
    """Simulated devices built from ``config``, all on the broker ``mqtt``.

    ``start()`` raises the open-file limit if needed and connects the devices at
    ``config.connect_rate`` per second from one loop thread; ``stop()`` says ``offline`` and
    disconnects every device, ``kill()`` cuts them all (the broker publishes the wills).
    """

    def __init__(self, mqtt: MqttSettings, config: FleetConfig) -> None:
        self.mqtt = mqtt
        self.config = config
        self._loop: FleetLoop | None = None
        self.esp32s: list[FleetEsp32] = []
        self.nodemcus: list[FleetNodeMcu] = []

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> Self:
        if self.running:
            return self
        cfg = self.config
        raise_open_file_limit(cfg.size * FDS_PER_DEVICE + FD_RESERVE)
        loop = FleetLoop(
            self.mqtt,
            connect_rate=cfg.connect_rate,
            connect_timeout=cfg.connect_timeout,
            reconnect_interval=cfg.reconnect_interval,
            reconnect_jitter=cfg.reconnect_jitter,
            keepalive=cfg.keepalive,
            seed=cfg.seed,
        )
        self.esp32s = [
            FleetEsp32(
                loop,
                self.mqtt,
                index,
                cfg.names("esp32", index),
                period=cfg.period,
                qos=cfg.qos,
                json_payload=cfg.json_payload,
                noise=cfg.noise,
                seed=cfg.seed,
                signal=None
                if cfg.signal is None
                else cfg.signal(index, cfg.names("esp32", index)["device"]),
                record=cfg.record_published,
            )
            for index in range(cfg.esp32)
        ]
        self.nodemcus = [
            FleetNodeMcu(
                loop,
                self.mqtt,
                index,
                cfg.names("nodemcu", index),
                qos=cfg.alert_qos,
                seed_compat=cfg.seed_compat,
            )
            for index in range(cfg.nodemcu)
        ]
        self._loop = loop
        loop.start([*self.esp32s, *self.nodemcus])
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Say ``offline``, disconnect every device and end the loop. Idempotent."""
        if self._loop is not None:
            self._loop.stop(timeout=timeout)

    def kill(self, timeout: float = 30.0) -> None:
        """Cut every connection without a DISCONNECT and end the loop."""
        if self._loop is not None:
            self._loop.stop(kill=True, timeout=timeout)

    @property
    def running(self) -> bool:
        return self._loop is not None and self._loop.running

    def _require_loop(self) -> FleetLoop:
        loop = self._loop
        if loop is None or not loop.running:
            failure = loop.failure if loop is not None else None
            if failure is not None:
                raise FleetError(f"the fleet's loop stopped after an error: {failure!r}")
            raise BoardNotStarted("the fleet is not running: call start() first")
        return loop

    # -- devices --------------------------------------------------------------------------
    @property
    def devices(self) -> list[FleetDevice]:
        return [*self.esp32s, *self.nodemcus]

    def device(self, device_id: str) -> FleetDevice:
        """The device called ``device_id``; raises KeyError naming a few known ids."""
        for device in self.devices:
            if device.device_id == device_id:
                return device
        known = ", ".join(d.device_id for d in self.devices[:3])
        raise KeyError(f"no device {device_id!r} in this fleet (ids like {known})")

    def set_knob(self, percent: float, devices: Iterable[FleetEsp32] | None = None) -> None:
        """Turn the knob of ``devices`` (every ESP32 by default) to ``percent``."""
        for device in self.esp32s if devices is None else devices:
            device.set_knob(percent)

    def follow(
        self, signal: Callable[[float], float], devices: Iterable[FleetEsp32] | None = None
    ) -> None:
        """Let the knobs of ``devices`` (every ESP32 by default) follow ``signal`` from now."""
        for device in self.esp32s if devices is None else devices:
            device.follow(signal)

    def cut(self, devices: Iterable[FleetDevice] | None = None) -> None:
        """Drop the connections of ``devices`` (all by default) without a DISCONNECT, like a
        Wi-Fi link going away: the broker publishes their wills, and they reconnect after
        ``reconnect_interval`` (plus jitter)."""
        loop = self._require_loop()
        chosen = list(self.devices if devices is None else devices)

        def cut_all() -> None:
            for device in chosen:
                loop.cut(device)

        loop.call(cut_all)

    # -- observing ------------------------------------------------------------------------
    def stats(self) -> FleetStats:
        """Counters and publish lateness so far."""
        loop = self._loop
        esp = self.esp32s
        devices = self.devices
        started = loop.started_at if loop is not None else None
        done = loop.all_connected_at if loop is not None else None
        histogram = loop.lateness if loop is not None else None
        return FleetStats(
            devices=len(devices),
            connected=sum(1 for d in devices if d.connected),
            published=sum(d.published for d in esp),
            acked=sum(d.acked for d in esp),
            failed=sum(d.failed for d in esp),
            skipped=sum(d.skipped for d in esp),
            missed=sum(d.schedule.skipped for d in esp if d.schedule is not None),
            connects=sum(d.connects for d in devices),
            disconnects=sum(d.disconnects for d in devices),
            connect_failures=sum(d.connect_failures for d in devices),
            lateness_p50=histogram.percentile(0.50) if histogram else 0.0,
            lateness_p99=histogram.percentile(0.99) if histogram else 0.0,
            lateness_max=histogram.max if histogram else 0.0,
            all_connected_after=(done - started)
            if done is not None and started is not None
            else None,
        )

    def reset_lateness(self) -> None:
        """Forget the lateness seen so far (for example after the connection ramp)."""
        loop = self._require_loop()
        loop.call(loop.lateness.reset)

    def _describe(self) -> str:
        stats = self.stats()
        waiting = [d for d in self.devices if not d.connected][:3]
        why = "; ".join(f"{d.device_id}: {d.last_state}" for d in waiting)
        return f"{stats.line()}; e.g. {why}" if why else stats.line()

    def wait_connected(self, timeout: float = 30.0) -> float:
        """Wait until every device is connected (and every NodeMCU subscribed); returns the
        seconds it took. Raises TimeoutExpired (with counts and a few devices' last state)."""
        self._require_loop()
        deadline_what = f"{len(self.devices)} fleet devices to connect to {self.mqtt.safe_url}"
        wait_until(
            lambda: (
                all(d.connected for d in self.esp32s)
                and all(d.connected and d.subscribed for d in self.nodemcus)
            ),
            timeout,
            what=deadline_what,
            state=self._describe,
            interval=0.05,
            hint="is the broker up, and is its connection limit (max_connections) high enough?",
        )
        stats = self.stats()
        return stats.all_connected_after or 0.0

    def leds(self) -> dict[str, LedState]:
        """Every NodeMCU's LEDs now, by device id."""
        return {d.device_id: d.led for d in self.nodemcus}

    def wait_leds(
        self, state: str | LedState, timeout: float = 10.0, *, since: float | None = None
    ) -> dict[str, LedChange]:
        """Wait until every NodeMCU shows ``state`` (with ``since``, epoch s: changed to it at
        or after ``since``); returns the change of each device. Raises TimeoutExpired naming
        how many are not there yet and a few of them."""
        self._require_loop()
        wanted = state.name if isinstance(state, LedState) else LedState.named(state).name

        def done() -> dict[str, LedChange] | None:
            found: dict[str, LedChange] = {}
            for device in self.nodemcus:
                change = device.changed_to(wanted, since)
                if change is None or device.led.name != wanted:
                    return None
                found[device.device_id] = change
            return found

        def seen() -> str:
            late = [d for d in self.nodemcus if d.led.name != wanted]
            sample = ", ".join(f"{d.device_id}={d.led.name} ({d.last_state})" for d in late[:4])
            return f"{len(late)} of {len(self.nodemcus)} not {wanted}: {sample}"

        return wait_until(
            done, timeout, what=f"every fleet LED to show {wanted}", state=seen, interval=0.05
        )
