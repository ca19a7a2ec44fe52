"""Engine detection, the settings each engine needs, and the choice of images (no engine needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import docker.errors
import pytest

import alertloop.hil.stack.engine as engine_module
from alertloop.hil.stack.base import DockerUnavailable
from alertloop.hil.stack.engine import Engine, candidate_urls, configure, find_engine
from alertloop.hil.stack.images import LOCAL, OFFICIAL, ImagesMissing, resolve_images
from alertloop.hil.stack.podman_service import CONTAINERS_CONF


def test_docker_host_is_tried_first_and_no_socket_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///var/run/docker.sock")
    urls = candidate_urls()
    assert urls[0] == "unix:///var/run/docker.sock"
    assert len(urls) == len(set(urls))
    assert "unix:///run/podman/podman.sock" in urls


def test_the_project_podman_socket_is_a_candidate(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ALERTLOOP_ENGINE_DIR", str(tmp_path))
    assert candidate_urls()[-1] == f"unix://{tmp_path}/podman.sock"


def test_no_engine_names_every_socket_tried(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    urls = [f"unix://{tmp_path}/a.sock", f"unix://{tmp_path}/b.sock"]
    monkeypatch.setattr(engine_module, "candidate_urls", lambda: urls)
    with pytest.raises(DockerUnavailable) as info:
        find_engine()
    message = str(info.value)
    assert all(url in message for url in urls)
    assert "alertloop stack engine start" in message


def test_podman_gets_no_reaper_and_the_docker_host_connection_mode(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from testcontainers.core.config import ConnectionMode, testcontainers_config

    for attr in ("_ryuk_disabled", "connection_mode_override", "tc_host_override"):
        monkeypatch.setattr(testcontainers_config, attr, getattr(testcontainers_config, attr))
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.delenv("TESTCONTAINERS_RYUK_DISABLED", raising=False)
    configure(Engine("podman", "unix:///tmp/x.sock", "4.3.1"))
    import os

    assert os.environ["DOCKER_HOST"] == "unix:///tmp/x.sock"
    assert testcontainers_config.ryuk_disabled is True
    assert testcontainers_config.connection_mode_override == ConnectionMode.docker_host
    assert testcontainers_config.tc_host_override == "127.0.0.1"


def test_docker_keeps_testcontainers_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    from testcontainers.core.config import testcontainers_config

    before = testcontainers_config.connection_mode_override
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    configure(Engine("docker", "unix:///var/run/docker.sock", "28.2"))
    assert testcontainers_config.connection_mode_override == before


def test_podman_service_config_carries_the_sandbox_settings() -> None:
    assert "default_ulimits = []" in CONTAINERS_CONF
    assert 'runtime = "runc"' in CONTAINERS_CONF


class _Images:
    def __init__(self, present: set[str], pullable: set[str]) -> None:
        self.present, self.pullable = present, pullable
        self.pulled: list[str] = []

    def get(self, image: str) -> object:
        if image not in self.present:
            raise docker.errors.ImageNotFound(image)
        return object()

    def pull(self, image: str) -> object:
        self.pulled.append(image)
        if image not in self.pullable:
            raise docker.errors.ImageNotFound(image)
        self.present.add(image)
        return object()


class _Client:
    def __init__(self, present: set[str] = frozenset(), pullable: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.images = _Images(set(present), set(pullable))


def test_official_images_are_preferred_where_they_can_be_pulled() -> None:
    client: Any = _Client(pullable=set(OFFICIAL.values()), present=set(LOCAL.values()))
    chosen = resolve_images(client, "auto")
    assert chosen.source == "official"
    assert chosen.mqtt == OFFICIAL["mqtt"]


def test_local_images_stand_in_without_a_registry() -> None:
    client: Any = _Client(present=set(LOCAL.values()))
    chosen = resolve_images(client, "auto")
    assert (chosen.source, chosen.mqtt, chosen.influxdb) == (
        "local",
        LOCAL["mqtt"],
        LOCAL["influxdb"],
    )


def test_nothing_to_run_says_how_to_build_the_local_images() -> None:
    with pytest.raises(ImagesMissing, match="alertloop stack images"):
        resolve_images(_Client(), "auto")  # type: ignore[arg-type]


def test_official_only_fails_without_a_registry() -> None:
    client: Any = _Client(present=set(LOCAL.values()))
    with pytest.raises(ImagesMissing, match="cannot be pulled"):
        resolve_images(client, "official")


def test_local_only_never_pulls(monkeypatch: pytest.MonkeyPatch) -> None:
    client: Any = _Client(present=set(LOCAL.values()), pullable=set(OFFICIAL.values()))
    assert resolve_images(client, "local").source == "local"
    assert client.images.pulled == []


def test_the_choice_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALERTLOOP_STACK_IMAGES", "local")
    client: Any = _Client(present=set(LOCAL.values()), pullable=set(OFFICIAL.values()))
    assert resolve_images(client).source == "local"
    monkeypatch.setenv("ALERTLOOP_STACK_IMAGES", "newest")
    with pytest.raises(ImagesMissing, match="choose auto, official or local"):
        resolve_images(client)
