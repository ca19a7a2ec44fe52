"""The plugin itself, tested with pytester: options, markers, docker skip reason."""

import pytest

pytest_plugins = ["pytester"]


def test_markers_are_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    for marker in ("e2e:", "hil:", "docker:", "slow:"):
        result.stdout.fnmatch_lines([f"@pytest.mark.{marker}*"])


def test_stack_option_rejects_unknown_backend(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest("--stack", "bogus")
    assert result.ret != 0
    result.stderr.fnmatch_lines(["*invalid choice: 'bogus'*"])


def test_docker_stack_skips_with_reason_where_no_engine(pytester: pytest.Pytester) -> None:
    from alertloop.hil.stack import docker_available

    if docker_available()[0]:
        pytest.skip("a Docker engine answers here, so the docker stack does not skip")
    pytester.makepyfile("def test_needs_stack(stack): pass")
    result = pytester.runpytest("--stack", "docker", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*docker stack backend unavailable: no Docker engine answers*"])
