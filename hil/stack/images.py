"""The images the docker backend runs: the official ones, or local ones built from Debian's packages.

With a registry, the official ``eclipse-mosquitto`` and ``influxdb`` 1.8 images are used. Where
they cannot be pulled, :func:`build_local_images` builds stand-ins once: ``debootstrap`` makes a
minimal Debian root file system with the ``mosquitto`` and ``influxdb`` packages, and the engine
imports it twice, once per server, with the same configuration paths, ports and commands as
the official images (``/mosquitto/config/mosquitto.conf`` and ``/mosquitto/data``; ``influxd``
on 8086 with its data under ``/var/lib/influxdb``). The backend's code is then the same for
both; readiness is checked the same way (a real MQTT CONNECT, InfluxDB's ``/ping``).

``ALERTLOOP_STACK_IMAGES`` chooses: ``official``, ``local``, or ``auto`` (the default: official
images that are present or can be pulled, else the local ones).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alertloop.hil.stack.base import StackError

__all__ = [
    "IMAGES_ENV",
    "LOCAL",
    "OFFICIAL",
    "ImageSet",
    "ImagesMissing",
    "available",
    "build_local_images",
    "local_images_present",
    "resolve_images",
]

IMAGES_ENV = "ALERTLOOP_STACK_IMAGES"
OFFICIAL = {"mqtt": "eclipse-mosquitto:2.0.20", "influxdb": "influxdb:1.8.10"}
LOCAL = {
    "mqtt": "localhost/alertloop-mosquitto:bookworm",
    "influxdb": "localhost/alertloop-influxdb:bookworm",
}
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"

# What each local image runs, as the official image does.
_CHANGES = {
    "mqtt": [
        'CMD ["/usr/sbin/mosquitto", "-c", "/mosquitto/config/mosquitto.conf"]',
        "EXPOSE 1883",
    ],
    "influxdb": [
        'CMD ["/usr/bin/influxd", "-config", "/etc/influxdb/influxdb.conf"]',
        "ENV INFLUXDB_REPORTING_DISABLED=true",
        "EXPOSE 8086",
    ],
}
# Left out of the root file system: documentation, manuals, apt's caches.
_PRUNE = ("usr/share/doc", "usr/share/man", "usr/share/info", "var/cache/apt", "var/lib/apt/lists")


class ImagesMissing(StackError):
    """Neither the official images nor the local stand-ins are available."""


@dataclass(frozen=True)
class ImageSet:
    """The image of each server and where the set came from (``official`` or ``local``)."""

    source: str
    mqtt: str
    influxdb: str

    def describe(self) -> str:
        return f"{self.source} images ({self.mqtt}, {self.influxdb})"


def _present(client: Any, image: str) -> bool:
    import docker.errors

    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        return False
    return True


def _pullable(client: Any, image: str) -> bool:
    try:
        client.images.pull(image)
    except Exception:  # no registry, no such image, no network: all mean "cannot be had"
        return False
    return True


def available(client: Any, image: str) -> bool:
    """Whether ``image`` is on the engine or can be pulled now."""
    return _present(client, image) or _pullable(client, image)


def local_images_present(client: Any) -> bool:
    return all(_present(client, image) for image in LOCAL.values())


def resolve_images(client: Any, choice: str | None = None) -> ImageSet:
    """The images to run on the engine behind ``client`` (a ``docker.DockerClient``).

    Raises ImagesMissing saying how to build the local ones when nothing can be had.
    """
    choice = (choice or os.environ.get(IMAGES_ENV) or "auto").lower()
    if choice not in ("auto", "official", "local"):
        raise ImagesMissing(f"{IMAGES_ENV}={choice!r}: choose auto, official or local")
    official = ImageSet("official", OFFICIAL["mqtt"], OFFICIAL["influxdb"])
    local = ImageSet("local", LOCAL["mqtt"], LOCAL["influxdb"])
    if choice in ("auto", "official"):
        if all(available(client, image) for image in OFFICIAL.values()):
            return official
        if choice == "official":
            raise ImagesMissing(
                f"the official images {', '.join(OFFICIAL.values())} cannot be pulled"
            )
    if local_images_present(client):
        return local
    raise ImagesMissing(
        "the official images cannot be pulled and the local ones are not built: "
        "run `alertloop stack images` (needs root and debootstrap)"
    )


def _rootfs(target: Path, progress: Callable[[str], None]) -> None:
    debootstrap = shutil.which("debootstrap") or "/usr/sbin/debootstrap"
    if not Path(debootstrap).exists():
        raise StackError("debootstrap is not installed (apt-get install debootstrap)")
    if os.geteuid() != 0:
        raise StackError("building the local images needs root (debootstrap)")
    progress(f"debootstrap {SUITE} with mosquitto and influxdb into {target}")
    command = [
        debootstrap,
        "--variant=minbase",
        "--include=mosquitto,influxdb",
        SUITE,
        str(target),
        MIRROR,
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-15:])
        raise StackError(f"debootstrap failed with {result.returncode}:\n{tail}")
    for part in _PRUNE:
        shutil.rmtree(target / part, ignore_errors=True)
    for folder in ("mosquitto/config", "mosquitto/data", "mosquitto/log"):
        (target / folder).mkdir(parents=True, exist_ok=True)
    uid, gid = _user_ids(target / "etc/passwd", "mosquitto")
    for folder in ("mosquitto/data", "mosquitto/log"):
        os.chown(target / folder, uid, gid)


def _user_ids(passwd: Path, user: str) -> tuple[int, int]:
    for line in passwd.read_text().splitlines():
        fields = line.split(":")
        if fields[0] == user:
            return int(fields[2]), int(fields[3])
    raise StackError(f"no user {user!r} in the root file system")


def build_local_images(
    client: Any, *, force: bool = False, progress: Callable[[str], None] = print
) -> ImageSet:
    """Builds the local images unless they exist (``force`` rebuilds); returns them."""
    if local_images_present(client) and not force:
        progress("local images present: " + ", ".join(LOCAL.values()))
        return ImageSet("local", LOCAL["mqtt"], LOCAL["influxdb"])
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="alertloop-rootfs-") as tmp:
        root = Path(tmp) / "rootfs"
        _rootfs(root, progress)
        archive = Path(tmp) / "rootfs.tar"
        progress("packing the root file system")
        with tarfile.open(archive, "w") as tar:
            tar.add(root, arcname=".")
        for name, image in LOCAL.items():
            repository, _, tag = image.rpartition(":")
            progress(f"importing {image}")
            answer = client.api.import_image(
                src=str(archive), repository=repository, tag=tag, changes=_CHANGES[name]
            )
            # Podman's Docker API takes the repository but not the tag: tag by the image id.
            image_id = json.loads(str(answer).strip().splitlines()[-1]).get("id") or ""
            client.images.get(image_id or f"{repository}:latest").tag(repository, tag)
    progress(f"local images built in {time.monotonic() - started:.0f} s")
    return ImageSet("local", LOCAL["mqtt"], LOCAL["influxdb"])
