#!/usr/bin/env python3
"""Which file the service image installs for each package, on each platform it is built for.

The image (deploy/Dockerfile) installs alertloop with its base dependencies only, on
python:3.11-slim (Debian bookworm, glibc 2.36). This script resolves those dependencies once,
for linux/amd64, then asks the package index, for each platform, which wheel each pinned
release would use. A package without a wheel for a platform is built from its sdist in the
image's builder stage (gcc is there); ``--build-sdists`` builds each such sdist here to show
that it builds.

    python deploy/check_platform_wheels.py [--build-sdists] [--pip PIP]

Prints one block per platform: every package with its wheel file, or ``sdist ... (built in
the builder stage)``. Exits 1 when a package has neither a wheel nor an sdist, or when an
sdist fails to build with ``--build-sdists``.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = "3.11"
ABI = "cp311"
GLIBC = range(17, 37)  # manylinux_2_17 .. manylinux_2_36: bookworm's glibc is 2.36
PLATFORMS = {  # docker platform -> the machine name in wheel tags
    "linux/amd64": "x86_64",
    "linux/arm64": "aarch64",
    "linux/arm/v7": "armv7l",
}


def pip_report(pip: list[str], args: list[str]) -> dict | None:
    """``pip install --dry-run --report`` with ``args``; None when pip finds no match."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        proc = subprocess.run(
            [
                *pip,
                "install",
                "--dry-run",
                "--quiet",
                "--ignore-installed",
                "--report",
                str(report),
                "--target",
                str(Path(tmp) / "target"),
                *args,
            ],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            if "No matching distribution" in proc.stderr:
                return None
            sys.exit(f"pip failed:\n{proc.stderr}")
        return json.loads(report.read_text())


def platform_args(machine: str) -> list[str]:
    tags = [f"manylinux_2_{v}_{machine}" for v in GLIBC] + [f"manylinux2014_{machine}"]
    args = ["--only-binary=:all:", "--python-version", PYTHON, "--implementation", "cp"]
    for abi in (ABI, "abi3", "none"):
        args += ["--abi", abi]
    for tag in tags:
        args += ["--platform", tag]
    return args


def dependencies() -> list[str]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]


def resolve(pip: list[str]) -> list[tuple[str, str]]:
    """(name, version) of every package the image installs, resolved for linux/amd64."""
    report = pip_report(pip, [*platform_args(PLATFORMS["linux/amd64"]), *dependencies()])
    if report is None:
        sys.exit("the dependencies do not resolve for linux/amd64")
    pins = [(i["metadata"]["name"], i["metadata"]["version"]) for i in report["install"]]
    return sorted(pins, key=lambda p: p[0].lower())


def wheels_for(pip: list[str], machine: str, pins: list[tuple[str, str]]) -> dict[str, str]:
    """name -> wheel file for ``machine``; a package without one is left out."""
    pinned = [f"{name}=={version}" for name, version in pins]
    report = pip_report(pip, [*platform_args(machine), "--no-deps", *pinned])
    if report is None:  # one or more without a wheel: ask for each
        found: dict[str, str] = {}
        for (name, _), requirement in zip(pins, pinned, strict=True):
            one = pip_report(pip, [*platform_args(machine), "--no-deps", requirement])
            if one is not None:
                found[name] = _file(one["install"][0])
        return found
    return {i["metadata"]["name"]: _file(i) for i in report["install"]}


def _file(item: dict) -> str:
    return str(item["download_info"]["url"].rsplit("/", 1)[-1])


def sdist_of(pip: list[str], name: str, version: str, dest: Path) -> Path | None:
    proc = subprocess.run(
        [*pip, "download", "--quiet", "--no-deps", "--no-binary", ":all:", "-d", str(dest)]
        + [f"{name}=={version}"],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        return None
    norm = re.sub(r"[-_.]+", "[-_.]", name)
    found = [p for p in dest.iterdir() if re.match(norm, p.name, re.I)]
    return found[0] if found else None


def build(pip: list[str], sdist: Path, dest: Path) -> tuple[bool, str]:
    proc = subprocess.run(
        [*pip, "wheel", "--quiet", "--no-deps", "--no-binary", ":all:", "-w", str(dest)]
        + [str(sdist)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        return False, proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"
    built = sorted(dest.glob("*.whl"), key=lambda p: p.stat().st_mtime)
    return True, built[-1].name if built else "?"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pip", default=f"{sys.executable} -m pip", help="pip command to use")
    parser.add_argument(
        "--build-sdists", action="store_true", help="build each needed sdist here to show it builds"
    )
    args = parser.parse_args()
    pip = args.pip.split()
    pins = resolve(pip)
    print(f"{len(pins)} packages: alertloop's base dependencies for Python {PYTHON}")
    from_source: dict[tuple[str, str], list[str]] = {}
    status = 0
    for platform, machine in PLATFORMS.items():
        print(f"\n{platform} ({machine})")
        width = max(len(n) for n, _ in pins)
        wheels = wheels_for(pip, machine, pins)
        for name, version in pins:
            wheel = wheels.get(name)
            if wheel is None:
                from_source.setdefault((name, version), []).append(platform)
                print(f"  {name.ljust(width)}  sdist {name}-{version} (built in the builder stage)")
            else:
                print(f"  {name.ljust(width)}  {wheel}")
    if from_source:
        print("\nbuilt from source in the image's builder stage:")
        with tempfile.TemporaryDirectory() as tmp:
            dest = Path(tmp)
            for (name, version), platforms in from_source.items():
                sdist = sdist_of(pip, name, version, dest)
                if sdist is None:
                    print(f"  {name} {version}: NO SDIST either ({', '.join(platforms)})")
                    status = 1
                    continue
                line = f"  {name} {version} for {', '.join(platforms)}: {sdist.name}"
                if args.build_sdists:
                    ok, what = build(pip, sdist, dest / "wheels")
                    line += f" -> builds here: {what}" if ok else f" -> BUILD FAILED: {what}"
                    status = status or (0 if ok else 1)
                print(line)
    return status


if __name__ == "__main__":
    sys.exit(main())
