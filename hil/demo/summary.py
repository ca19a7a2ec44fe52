"""The demo's closing summary: counts, each crossing of the mean and how the LEDs followed."""

from __future__ import annotations

from alertloop.hil.demo.runner import DemoResult


def summary_lines(result: DemoResult) -> list[str]:
    t0 = result.started
    ok = sum(1 for d in result.deliveries if d.ok)
    faster = (
        " (faster than Grafana, --faster-than-grafana: Grafana evaluates every 10 s at the fastest)"
        if result.faster_than_grafana and result.interval < 10
        else ""
    )
    lines = [
        f"alertloop demo: {result.ended - t0:.1f} s on the {result.backend} stack, evaluation every "
        f"{result.interval:g} s{faster}, threshold {result.threshold:g}, mean over {result.window:g} s",
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
    for title, history in result.other_rules.items():
        firing = [e for e in history if e.changed and e.state.value == "Alerting"]
        when = f"Alerting at {firing[0].time - t0:.1f} s" if firing else "never Alerting"
        lines.append(f"  other rule {title}: {when}; it must not move the LED")
    for change in result.unexplained:
        lines.append(
            f"  LED turned {change.state.name} at {change.time - t0:5.1f} s although the mean did "
            "not ask for it (moved by another alert) FAIL"
        )
    if result.interrupted:
        lines.append("  ended with Ctrl-C")
    lines.append(f"  result: {'PASS' if result.passed else 'FAIL'}")
    return lines
