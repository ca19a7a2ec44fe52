"""Writes a deploy directory: each file whole (a temporary file renamed into place) with its
mode from the start, owned by the deploy's user; nothing is replaced without ``force``."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from alertloop.services.deploy.errors import DeployError, DeployExistsError, DeployUsageError
from alertloop.services.deploy.layout import DeployOptions, Plan, build_plan


@dataclass
class InitReport:
    """What ``init_deploy`` did: the files written (relative paths), which of them are secrets,
    the data directories that already held something (kept as they were)."""

    directory: Path
    written: list[str] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)
    kept_data: list[str] = field(default_factory=list)
    hasher: str = ""


def _check_options(options: DeployOptions) -> None:
    uid, gid = options.owner
    if uid == 0:
        raise DeployUsageError(
            "the files' owner, and so the containers' user, would be root: mosquitto then "
            "drops to its own user and cannot read its 0600 password file; give --owner "
            "UID:GID of a normal user (for example 1000:1000) or run as that user"
        )
    if uid < 0 or gid < 0:
        raise DeployUsageError(f"--owner {uid}:{gid}: ids must not be negative")
    if (uid, gid) != (os.getuid(), os.getgid()) and os.geteuid() != 0:
        raise DeployUsageError(f"--owner {uid}:{gid}: giving files to another user needs root")


def _conflicts(directory: Path, plan: Plan) -> list[str]:
    return [f.path for f in plan.files if os.path.lexists(directory / f.path)]


def _mkdir(path: Path, mode: int, owner: tuple[int, int]) -> None:
    try:
        path.mkdir(mode=mode, parents=True, exist_ok=True)
        os.chmod(path, mode)
        _chown(path, owner)
    except OSError as exc:
        raise DeployError(f"cannot make {path}: {exc.strerror or exc}") from exc


def _chown(path: Path, owner: tuple[int, int]) -> None:
    st = os.lstat(path)
    if (st.st_uid, st.st_gid) != owner:
        os.chown(path, *owner, follow_symlinks=False)


def _write(path: Path, text: str, mode: int, owner: tuple[int, int]) -> None:
    if path.is_dir() and not path.is_symlink():
        raise DeployError(
            f"{path} is a directory (Docker makes one where a mounted file is missing); "
            "remove it and run init again"
        )
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            os.fchmod(fd, mode)
            if (os.getuid(), os.getgid()) != owner:
                os.fchown(fd, *owner)
            os.write(fd, text.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise DeployError(f"cannot write {path}: {exc.strerror or exc}") from exc


def init_deploy(options: DeployOptions) -> InitReport:
    """Write the deploy directory ``options.directory`` with fresh secrets.

    Raises DeployUsageError for options that cannot work (root as owner), DeployExistsError
    when the directory already holds a file this would write and ``force`` is false (nothing
    is written then), DeployError when a file or the password hashing fails.
    """
    _check_options(options)
    directory = options.directory
    if directory.exists() and not directory.is_dir():
        raise DeployUsageError(f"{directory} exists and is not a directory")
    try:
        plan = build_plan(options)
    except (FileNotFoundError, ValueError) as exc:
        raise DeployUsageError(str(exc)) from exc
    conflicts = _conflicts(directory, plan)
    if conflicts and not options.force:
        raise DeployExistsError(conflicts)
    report = InitReport(
        directory=directory,
        hasher=options.mosquitto_passwd or "built-in (mosquitto's $7$ PBKDF2-SHA512 format)",
    )
    _mkdir(directory, 0o755, options.owner)
    for rel, mode in sorted(plan.dirs.items()):
        target = directory / rel
        if rel.startswith("data/") and target.is_dir() and any(target.iterdir()):
            report.kept_data.append(rel)
        for parent in reversed(Path(rel).parents[:-1]):
            if not (directory / parent).is_dir():
                _mkdir(directory / parent, 0o755, options.owner)
        _mkdir(target, mode, options.owner)
    for planned in plan.files:
        _write(directory / planned.path, planned.text, planned.mode, options.owner)
        report.written.append(planned.path)
        if planned.secret:
            report.secrets.append(planned.path)
    return report
