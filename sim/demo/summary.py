"""The demo's closing summary: counts, each crossing of the mean and how the LEDs followed."""

from __future__ import annotations

from sim.demo.runner import DemoResult


def summary_lines(result: DemoResult) -> list[str]:
    t0 = result.started
    ok = sum(1 for d in result.deliveries if d.ok)
    lines = [
        f"alertloop demo: {result.ended - t0:.1f} s on the {result.backend} stack, evaluation every "
        f"{result.interval:g} s, threshold {result.threshold:g}, mean over {result.window:g} s",
        f"  published {len(result.published)} values, stored {len(result.stored)} points, "
        f"{len(result.evaluations)} evaluations, {len(result.deliveries)} notifications ({ok} delivered), "
        f"{result.alert_messages} /alert messages at the NodeMCU",
    ]
    if not result.checks:
        lines.append("  the 10 s mean never crossed the threshold: nothing to check")
    for check in result.checks:
        crossing = check.crossing
        verb = "rose above" if crossing.direction == "up" else "fell back below"
        head = f"  mean {verb} {result.threshold:g} at {crossing.time - t0:5.1f} s ({crossing.mean:.1f})"
        if check.led_time is None:
            tail = f"LED never turned {crossing.colour}"
        else:
            tail = f"LED {crossing.colour} at {check.led_time - t0:5.1f} s, after {check.latency:.2f} s"
        if not check.required:
            verdict = "(too short to require)"
        else:
            verdict = f"(allowed {check.allowed:g} s) {'ok' if check.ok else 'LATE' if check.led_time else 'MISSING'}"
        lines.append(f"{head} -> {tail} {verdict}")
    if result.interrupted:
        lines.append("  ended with Ctrl-C")
    lines.append(f"  result: {'PASS' if result.passed else 'FAIL'}")
    return lines
