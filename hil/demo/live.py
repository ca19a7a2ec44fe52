"""The demo's live view: a small block of lines redrawn in place with plain ANSI codes, or,
when the output is not a terminal, one plain line every few seconds and on every change."""

from __future__ import annotations

import math
import sys
from typing import TextIO

from alertloop.hil.demo.runner import Snapshot

RESET, BOLD, DIM = "\x1b[0m", "\x1b[1m", "\x1b[2m"
RED, GREEN, YELLOW = "\x1b[31m", "\x1b[32m", "\x1b[33m"
CLEAR_LINE = "\x1b[2K"
BAR_WIDTH = 40
PLAIN_EVERY = 2.0

STATE_COLOURS = {
    "Alerting": RED,
    "Pending": YELLOW,
    "Normal": GREEN,
    "NoData": YELLOW,
    "Error": YELLOW,
}


def _num(value: float | None, digits: int = 1) -> str:
    return "  -  " if value is None else f"{value:5.{digits}f}"


def _bar(value: float | None, mean: float | None, threshold: float) -> str:
    """A 0..100 bar: ``#`` up to the value, ``|`` at the threshold, ``^`` at the mean."""
    cells = ["."] * BAR_WIDTH
    scale = (BAR_WIDTH - 1) / 100.0
    if value is not None:
        for i in range(int(round(value * scale)) + 1):
            cells[i] = "#"
    cells[int(round(threshold * scale))] = "|"
    if mean is not None:
        cells[int(round(mean * scale))] = "^"
    return "[" + "".join(cells) + "]"


def _leds(name: str, colour: bool) -> str:
    red_on, green_on = name in ("red", "both"), name in ("green", "both")
    if not colour:
        return f"red {'ON ' if red_on else 'off'}  green {'ON ' if green_on else 'off'}"
    red = f"{RED}{BOLD}(R){RESET}" if red_on else f"{DIM}( ){RESET}"
    green = f"{GREEN}{BOLD}(G){RESET}" if green_on else f"{DIM}( ){RESET}"
    extra = f" {YELLOW}error{RESET}" if name == "error" else ""
    return f"{red} {green}{extra}"


class LiveView:
    """Shows snapshots; ``tty=None`` asks the stream whether it is a terminal."""

    def __init__(
        self, out: TextIO | None = None, tty: bool | None = None, title: str = "alertloop demo"
    ) -> None:
        self.out = out or sys.stdout
        self.tty = self.out.isatty() if tty is None else tty
        self.title = title
        self._drawn = 0
        self._last_plain: float | None = None
        self._last_key: tuple[str, str] | None = None

    def update(self, snap: Snapshot) -> None:
        if self.tty:
            self._draw(self.render(snap, colour=True))
        else:
            key = (snap.state, snap.led)
            due = self._last_plain is None or snap.elapsed - self._last_plain >= PLAIN_EVERY
            if due or key != self._last_key:
                self._last_plain, self._last_key = snap.elapsed, key
                self.out.write(self.plain_line(snap) + "\n")
                self.out.flush()

    def render(self, snap: Snapshot, colour: bool = True) -> list[str]:
        state_colour = STATE_COLOURS.get(snap.state, "") if colour else ""
        reset = RESET if colour else ""
        latency = "-" if snap.last_latency is None else f"{snap.last_latency * 1000:.0f} ms"
        to_go = "until Ctrl-C" if math.isinf(snap.remaining) else f"{snap.remaining:4.1f} s to go"
        return [
            f"{BOLD if colour else ''}{self.title}{reset}  t={snap.elapsed:5.1f} s  ({to_go})",
            f"  knob value   {_num(snap.value, 0)} %  {_bar(snap.value, snap.mean, snap.threshold)}",
            f"  10 s mean    {_num(snap.mean)} %  threshold {snap.threshold:g} %",
            f"  alert state  {state_colour}{snap.state:<9}{reset}  LEDs {_leds(snap.led, colour)}"
            + (f"  other rules {snap.others}" if snap.others else ""),
            f"  messages     published {snap.published}  stored {snap.stored}  "
            f"notifications {snap.notifications}  /alert at NodeMCU {snap.alert_messages}",
            f"  last alert-to-LED latency  {latency}",
        ]

    def plain_line(self, snap: Snapshot) -> str:
        latency = "-" if snap.last_latency is None else f"{snap.last_latency * 1000:.0f}ms"
        mean = "-" if snap.mean is None else f"{snap.mean:.1f}"
        return (
            f"t={snap.elapsed:5.1f}s value={snap.value if snap.value is not None else '-'} "
            f"mean10s={mean} threshold={snap.threshold:g} state={snap.state} led={snap.led} "
            f"published={snap.published} stored={snap.stored} notifications={snap.notifications} "
            f"alert_msgs={snap.alert_messages} alert_to_led={latency}"
            + (f" others={snap.others.replace(' ', ',')}" if snap.others else "")
        )

    def _draw(self, lines: list[str]) -> None:
        text = f"\x1b[{self._drawn}F" if self._drawn else ""
        text += "".join(f"{CLEAR_LINE}{line}\n" for line in lines)
        self._drawn = len(lines)
        self.out.write(text)
        self.out.flush()

    def close(self) -> None:
        """Leave the last frame on screen and move below it."""
        self._drawn = 0
