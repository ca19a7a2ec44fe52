"""Install size: the package with no extra (the services and the simulator) against ``[all]``.

    .venv/bin/python bench/install_size.py [--extras "" all]

Builds the wheel once, then for each extra set makes a new virtual environment, installs the
wheel with that extra from PyPI (pip's cache helps a second run) and measures:

- the size the install added to the environment (site-packages and scripts, less an empty
  environment's), and the number of distributions it added;
- the time ``alertloop ingest --help`` and ``alertloop webhook --help`` take, started as
  processes (the console script's import cost);
- whether matplotlib, numpy, pytest, docker, testcontainers or pyserial came with it.

Prints one table with the sets side by side and their ratios. Needs PyPI.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("matplotlib", "numpy", "pytest", "docker", "testcontainers", "pyserial")


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def _distributions(python: Path) -> set[str]:
    out = subprocess.run(
        [str(python), "-m", "pip", "list", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {d["name"].lower() for d in json.loads(out)}


def _help_time(script: Path, command: str, runs: int = 3) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([str(script), command, "--help"], capture_output=True, check=True)
        best = min(best, time.perf_counter() - start)
    return best


def measure(wheel: Path, extra: str, work: Path) -> dict[str, object]:
    env_dir = work / f"venv-{extra or 'base'}"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    before_size, before = _size(env_dir), _distributions(python)
    target = f"{wheel}[{extra}]" if extra else str(wheel)
    print(f"installing alertloop{f'[{extra}]' if extra else ''} ...", flush=True)
    started = time.perf_counter()
    subprocess.run([str(python), "-m", "pip", "install", "-q", target], check=True)
    seconds = time.perf_counter() - started
    added = _distributions(python) - before
    script = env_dir / "bin" / "alertloop"
    return {
        "extra": extra or "(none)",
        "added_mb": (_size(env_dir) - before_size) / 1e6,
        "distributions": len(added),
        "install_s": seconds,
        "ingest_help_s": _help_time(script, "ingest"),
        "webhook_help_s": _help_time(script, "webhook"),
        "heavy": sorted(h for h in HEAVY if h in added),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extras", nargs="+", default=["", "all"], help="extra sets to compare")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="alertloop-install-") as tmp:
        work = Path(tmp)
        print("building the wheel ...", flush=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(work), str(ROOT)],
            check=True,
            capture_output=True,
        )
        wheel = next(work.glob("alertloop-*.whl"))
        rows = [measure(wheel, extra, work) for extra in args.extras]
    base = rows[0]
    print()
    print(f"{'':24}" + "".join(f"{str(r['extra']):>16}" for r in rows))
    for key, fmt in (
        ("added_mb", "{:.1f} MB"),
        ("distributions", "{}"),
        ("install_s", "{:.1f} s"),
        ("ingest_help_s", "{:.2f} s"),
        ("webhook_help_s", "{:.2f} s"),
    ):
        print(f"{key:24}" + "".join(f"{fmt.format(r[key]):>16}" for r in rows))
    for r in rows[1:]:
        ratio = float(r["added_mb"]) / float(base["added_mb"])  # type: ignore[arg-type]
        print(f"size {r['extra']} / {base['extra']}: {ratio:.1f}x")
    for r in rows:
        print(f"heavy packages with {r['extra']}: {', '.join(r['heavy']) or 'none'}")  # type: ignore[arg-type]
    return 0 if not base["heavy"] else 1


if __name__ == "__main__":
    sys.exit(main())
