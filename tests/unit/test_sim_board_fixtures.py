"""The board fixtures' backend options, tested with pytester (no broker needed)."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]


def test_unbuilt_backends_skip_with_the_reason(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_knob(esp32): pass\n\ndef test_leds(nodemcu): pass\n")
    result = pytester.runpytest("--esp32", "/dev/ttyUSB0", "--nodemcu", "virtual", "-rs")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines_random(
        [
            "*--esp32=/dev/ttyUSB0: the '/dev/ttyUSB0' board backend is not built yet*",
            "*--nodemcu=virtual: the 'virtual' board backend is not built yet (available: sim)*",
        ]
    )


def test_backend_fixtures_default_to_sim(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        "def test_backends(esp32_backend, nodemcu_backend):\n"
        "    assert (esp32_backend, nodemcu_backend) == ('sim', 'sim')\n"
    )
    pytester.runpytest().assert_outcomes(passed=1)
