"""The board fixtures' backend options, tested with pytester (no broker needed)."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]


def test_an_unknown_backend_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_knob(alertloop_esp32): pass\n")
    result = pytester.runpytest("--esp32", "bogus")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*--esp32=bogus: unknown board backend 'bogus': expected sim, virtual, or a serial port*"]
    )


def test_help_lists_the_backends_that_exist(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    text = result.stdout.str()
    assert "ESP32 board backend: sim, virtual, or a serial port" in text
    assert "not built" not in text


def test_backend_fixtures_default_to_sim(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        "def test_backends(alertloop_esp32_backend, alertloop_nodemcu_backend):\n"
        "    assert (alertloop_esp32_backend, alertloop_nodemcu_backend) == ('sim', 'sim')\n"
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_every_board_runs_once_per_backend_and_the_ports_given(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        "import pytest\n"
        "@pytest.mark.every_board\n"
        "def test_pair(alertloop_esp32_backend, alertloop_nodemcu_backend):\n"
        "    print('PAIR', alertloop_esp32_backend, alertloop_nodemcu_backend)\n"
        "def test_plain(alertloop_esp32_backend):\n"
        "    print('PLAIN', alertloop_esp32_backend)\n"
    )
    result = pytester.runpytest("--esp32", "/dev/ttyUSB0", "--nodemcu", "/dev/ttyUSB1", "-s", "-v")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines_random(
        [
            "*test_pair?sim?*PAIR sim sim*",
            "*test_pair?virtual?*PAIR virtual virtual*",
            "*test_pair?/dev/ttyUSB0+/dev/ttyUSB1?*PAIR /dev/ttyUSB0 /dev/ttyUSB1*",
            "*test_plain*PLAIN /dev/ttyUSB0*",
        ]
    )


def test_board_backends_narrows_the_matrix(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        "import pytest\n"
        "@pytest.mark.every_board\n"
        "def test_pair(alertloop_nodemcu_backend):\n"
        "    assert alertloop_nodemcu_backend == 'sim'\n"
    )
    pytester.runpytest("--board-backends", "sim").assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("sim", "sim"),
        ("virtual", "virtual"),
        ("/dev/ttyUSB0", "serial"),
        ("COM3", "serial"),
        ("rfc2217://10.0.0.5:4000", "serial"),
        ("loop://", "serial"),
    ],
    ids=["sim", "virtual", "device", "windows", "rfc2217", "loop"],
)
def test_backend_names(name: str, kind: str) -> None:
    from alertloop.hil.boards.factory import backend_kind

    assert backend_kind(name) == kind


@pytest.mark.parametrize(
    "name", ["bogus", "ttyUSB0", "", "COM"], ids=["word", "bare", "empty", "com"]
)
def test_names_that_are_no_backend(name: str) -> None:
    from alertloop.hil.boards.factory import BackendNotBuilt, backend_kind

    with pytest.raises(BackendNotBuilt, match="expected sim, virtual, or a serial port"):
        backend_kind(name)
