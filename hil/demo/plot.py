"""A PNG of a demo run: knob value, 10 s mean, threshold, alert periods and the LED colour."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from alertloop.hil.demo.analysis import led_periods, rolling_mean  # noqa: E402
from alertloop.hil.demo.runner import DemoResult  # noqa: E402

LED_COLOURS = {
    "red": "#d62728",
    "green": "#2ca02c",
    "off": "#d9d9d9",
    "error": "#ff7f0e",
    "both": "#8c564b",
}


def alert_periods(result: DemoResult) -> list[tuple[float, float]]:
    """(start, end) epoch seconds of every period the evaluator held the rule Alerting."""
    periods, start = [], None
    for evaluation in result.evaluations:
        firing = evaluation.state.value == "Alerting"
        if firing and start is None:
            start = evaluation.time
        elif not firing and start is not None:
            periods.append((start, evaluation.time))
            start = None
    if start is not None:
        periods.append((start, result.ended))
    return periods


def save_plot(result: DemoResult, path: str | Path) -> Path:
    """Draw ``result`` to ``path`` (PNG; parent directories are created). Returns the path.

    Raises OSError when the file cannot be written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    t0 = result.started
    fig, (ax, band) = plt.subplots(
        2,
        1,
        figsize=(11, 5.5),
        sharex=True,
        gridspec_kw={"height_ratios": [6, 1]},
        constrained_layout=True,
    )
    if result.published:
        ax.step(
            [p.time - t0 for p in result.published], [p.value for p in result.published],
            where="post", color="#1f77b4", linewidth=1, label="knob value (published)",
        )  # fmt: skip
    if result.stored:
        step = 0.1
        times = [
            result.stored[0][0] + i * step
            for i in range(int((result.ended - result.stored[0][0]) / step))
        ]
        means = rolling_mean(result.stored, result.window, times)
        ax.plot(
            [t - t0 for t in times],
            means,
            color="#9467bd",
            linewidth=2,
            label=f"{result.window:g} s mean (stored)",
        )
    ax.axhline(
        result.threshold,
        color="black",
        linestyle="--",
        linewidth=1,
        label=f"threshold {result.threshold:g}",
    )
    for i, (start, end) in enumerate(alert_periods(result)):
        ax.axvspan(
            start - t0,
            end - t0,
            color="#d62728",
            alpha=0.12,
            label="rule Alerting" if i == 0 else None,
        )
    for crossing in result.crossings:
        ax.axvline(crossing.time - t0, color="#7f7f7f", linewidth=0.8, linestyle=":")
    ax.set_ylim(-2, 102)
    ax.set_ylabel("percent")
    verdict = "PASS" if result.passed else "FAIL"
    ax.set_title(
        f"alertloop demo ({result.backend}): evaluation every {result.interval:g} s, "
        f"LED allowed {result.allowed:g} s after the mean crosses - {verdict}"
    )
    ax.legend(loc="upper right", fontsize="small")
    ax.grid(alpha=0.3)
    for start, end, name in led_periods(result.leds, result.ended):
        band.broken_barh(
            [(start - t0, end - start)], (0, 1), color=LED_COLOURS.get(name, "#000000")
        )
    band.set_yticks([])
    band.set_ylabel("LED")
    band.set_xlabel("seconds since start")
    band.set_xlim(0, max(1.0, result.ended - t0))
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
