"""Which container engine the docker backend talks to, and the settings each engine needs.

The docker backend speaks the Docker API through testcontainers. Docker serves it, and so does
Podman's ``podman system service``. :func:`find_engine` tries ``$DOCKER_HOST`` first, then the
usual sockets of Docker and of Podman (rootful and rootless), then the socket of a Podman
service that ``alertloop stack engine start`` started; the first that answers a ping wins.

Podman needs three testcontainers settings, applied by :func:`configure`:

- no Ryuk reaper (its image cannot be pulled without a registry, and the stack removes its
  own containers by label anyway);
- ``docker_host`` connection mode with the host ``127.0.0.1``: otherwise testcontainers reads
  ``HostConfig`` from the container list, which Podman 4.3 does not return (a ``KeyError``);
- ``DOCKER_HOST`` pointing at the socket, for the docker SDK that testcontainers builds on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from alertloop.hil.extras import missing_extra
from alertloop.hil.stack.base import DockerUnavailable

__all__ = ["Engine", "candidate_urls", "configure", "find_engine", "engine_state_dir"]


@dataclass(frozen=True)
class Engine:
    """A container engine that answered: ``kind`` is ``docker`` or ``podman``."""

    kind: str
    url: str
    version: str

    def describe(self) -> str:
        return f"{self.kind} {self.version} at {self.url}"


def engine_state_dir() -> Path:
    """Where ``alertloop stack engine`` keeps its Podman service's socket, pid and config."""
    override = os.environ.get("ALERTLOOP_ENGINE_DIR")
    if override:
        return Path(override)
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    base = Path(runtime) if runtime else Path("/tmp")
    return base / f"alertloop-engine-{os.getuid()}"


def candidate_urls() -> list[str]:
    """Docker-API sockets to try, in order, without duplicates."""
    urls: list[str] = []
    if os.environ.get("DOCKER_HOST"):
        urls.append(os.environ["DOCKER_HOST"])
    urls.append("unix:///var/run/docker.sock")
    urls.append("unix:///run/podman/podman.sock")
    runtime = os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.getuid()}"
    urls.append(f"unix://{runtime}/podman/podman.sock")
    urls.append(f"unix://{engine_state_dir() / 'podman.sock'}")
    return list(dict.fromkeys(urls))


def _probe(url: str, timeout: float) -> Engine:
    """The engine at ``url``; raises whatever the docker SDK raises when nothing answers."""
    import docker

    if url.startswith("unix://") and not Path(url[len("unix://") :]).exists():
        raise FileNotFoundError(f"no socket {url[len('unix://') :]}")
    client = docker.DockerClient(base_url=url, timeout=max(1, int(timeout)))
    try:
        info = client.version()
    finally:
        client.close()
    components = [c.get("Name", "") for c in info.get("Components") or []]
    kind = "podman" if any("podman" in name.lower() for name in components) else "docker"
    return Engine(kind, url, str(info.get("Version", "?")))


def find_engine(timeout: float = 15.0) -> Engine:
    """The first engine that answers; raises DockerUnavailable saying what was tried.

    A socket that exists gets ``timeout`` seconds to answer: an engine on a loaded machine
    can take several seconds for its first request."""
    try:
        import docker  # noqa: F401
    except ModuleNotFoundError as exc:
        hint = missing_extra(exc) or str(exc)
        raise DockerUnavailable(f"the docker backend {hint}") from exc
    tried: list[str] = []
    for url in candidate_urls():
        try:
            return _probe(url, timeout)
        except Exception as exc:  # the docker SDK raises unrelated types when nothing answers
            tried.append(f"{url}: {type(exc).__name__}")
    raise DockerUnavailable(
        "no Docker engine answers (tried "
        + "; ".join(tried)
        + "); start Docker, or Podman with `alertloop stack engine start`"
    )


def configure(engine: Engine) -> None:
    """Point testcontainers and the docker SDK at ``engine``, with the settings it needs."""
    os.environ["DOCKER_HOST"] = engine.url
    if engine.kind != "podman":
        return
    from testcontainers.core.config import ConnectionMode, testcontainers_config

    os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
    testcontainers_config.ryuk_disabled = True
    testcontainers_config.connection_mode_override = ConnectionMode.docker_host
    testcontainers_config.tc_host_override = "127.0.0.1"
