"""The file operations of a deployment, each safe to be killed at any point.

The layout is ``stockagents.core.registry``'s. The one operation that changes what
production is, ``swap``, is an ``os.replace`` of the ``production`` symlink: atomic, so
production is always wholly the old release or wholly the new one. Everything before it
writes into hidden temporary names (``releases/.staging-*``, ``backups/.tmp-*``) that
``sweep`` removes, and releases that production does not point at are removed after the
swap (their content is in a backup). Only paths under the models directory are written.
"""

from __future__ import annotations

import datetime as dt
import errno
import fcntl
import json
import os
import shutil
from pathlib import Path
from types import TracebackType
from typing import Any

from stockagents.core.errors import DeploymentError
from stockagents.core.jsonio import write_json
from stockagents.core.registry import BACKUPS, PRODUCTION, RELEASES, ignored

__all__ = ["DeployLock", "Store", "copy_tree", "stamp"]

_LOCK = ".deploy.lock"


def stamp() -> str:
    """``YYYYMMDD_HHMMSS`` of now (with microseconds when that name is taken)."""
    return dt.datetime.now().strftime("%Y%m%d_%H%M%S")


def copy_tree(source: Path, target: Path) -> None:
    """Copy a model directory (training leftovers left out); a failure is a
    ``DeploymentError`` naming the file and the cause (a full disk, an unreadable source),
    and leaves no partial ``target``."""
    try:
        target.mkdir(parents=True)
        for path in sorted(source.rglob("*")):
            relative = path.relative_to(source)
            if ignored(relative):
                continue
            if path.is_dir():
                (target / relative).mkdir(parents=True, exist_ok=True)
            else:
                shutil.copy2(path, target / relative)
    except OSError as exc:
        shutil.rmtree(target, ignore_errors=True)
        where = Path(exc.filename).name if exc.filename else str(source)
        reason = exc.strerror or errno.errorcode.get(exc.errno or 0, str(exc))
        raise DeploymentError(
            f"cannot copy {source}: {where}: {reason}; production is unchanged"
        ) from None


class DeployLock:
    """An exclusive lock on the models directory while a deployment runs (``flock``: the
    operating system releases it when the process dies, so a killed run leaves none)."""

    def __init__(self, models_dir: Path) -> None:
        self.path = models_dir / _LOCK
        self._fd: int | None = None

    def __enter__(self) -> DeployLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise DeploymentError(
                f"another deployment is running ({holder}); wait for it to finish"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} since {dt.datetime.now():%H:%M:%S}".encode())
        self._fd = fd
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


class Store:
    """The models directory: production, releases, backups and deployment records."""

    def __init__(self, models_dir: Path) -> None:
        self.root = models_dir
        self.production = models_dir / PRODUCTION
        self.releases = models_dir / RELEASES
        self.backups = models_dir / BACKUPS
        self.records = models_dir / "records"

    def current(self) -> Path | None:
        """The release production points at (None: nothing deployed)."""
        if self.production.is_symlink():
            target = self.production.resolve()
            return target if target.is_dir() else None
        return self.production if self.production.is_dir() else None

    def adopt(self) -> None:
        """Turn a ``production`` directory made by hand into a release behind the symlink.

        The directory is first copied into ``releases/adopted_<name>``, then moved to
        ``backups/backup_<name>_handmade`` and replaced by the symlink. A kill between the
        move and the link leaves production missing; ``sweep`` links the adopted release
        again, so nothing is lost. Run under the lock."""
        if not self.production.is_dir() or self.production.is_symlink():
            return
        name = stamp()
        staging = self.staging(f"adopt-{name}")
        shutil.rmtree(staging)
        copy_tree(self.production, staging)
        adopted = self.releases / f"adopted_{name}"
        staging.rename(adopted)
        self.backups.mkdir(parents=True, exist_ok=True)
        self.production.rename(self.backups / f"backup_{name}_handmade")
        self._link(adopted)

    def staging(self, name: str) -> Path:
        self.releases.mkdir(parents=True, exist_ok=True)
        path = self.releases / f".staging-{name}"
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir()
        return path

    def publish(self, staging: Path, name: str) -> Path:
        """Give a finished staging directory its release name (not yet production)."""
        release = self.releases / f"release_{name}"
        staging.rename(release)
        return release

    def _link(self, release: Path) -> None:
        tmp = self.root / f".production-{os.getpid()}"
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        # relative to the models directory, wherever it is reached from (relative paths,
        # a models directory that is itself a symlink)
        tmp.symlink_to(os.path.relpath(release.resolve(), self.root.resolve()))
        os.replace(tmp, self.production)

    def swap(self, release: Path) -> Path | None:
        """Point production at ``release`` atomically; returns the previous release."""
        before = self.current()
        self._link(release)
        return before

    def unswap(self, previous: Path | None) -> None:
        """Undo ``swap``: production points at ``previous`` again (or is removed)."""
        if previous is not None:
            self._link(previous)
        elif self.production.is_symlink():
            self.production.unlink()

    def _releases(self) -> list[Path]:
        if not self.releases.is_dir():
            return []
        return sorted(
            (p for p in self.releases.iterdir() if p.name.startswith(("release_", "adopted_"))),
            key=lambda p: p.name.split("_", 1)[1],
        )

    def backup(self, name: str) -> Path | None:
        """Copy production to ``backups/backup_<name>`` (None: nothing to back up)."""
        current = self.current()
        if current is None:
            return None
        self.backups.mkdir(parents=True, exist_ok=True)
        tmp = self.backups / f".tmp-backup_{name}"
        shutil.rmtree(tmp, ignore_errors=True)
        copy_tree(current, tmp)
        final = self.backups / f"backup_{name}"
        tmp.rename(final)
        return final

    def sweep(self) -> None:
        """Remove what a killed or finished deployment left: staging and temporary
        copies, symlinks half made, and releases production no longer needs. Kept: the
        current release and the one before it (a process that resolved production just
        before a swap still reads it; both are also in backups). When production is
        missing after a kill inside ``adopt``, the adopted release is linked again."""
        for parent, prefix in ((self.releases, ".staging-"), (self.backups, ".tmp-")):
            if parent.is_dir():
                for path in parent.iterdir():
                    if path.name.startswith(prefix):
                        shutil.rmtree(path, ignore_errors=True)
        for path in self.root.glob(".production-*"):
            path.unlink(missing_ok=True)
        for path in self.root.glob(".candidate-*"):
            shutil.rmtree(path, ignore_errors=True)
        current = self.current()
        adopted = [p for p in self._releases() if p.name.startswith("adopted_")]
        if current is None and adopted and not self.production.is_dir():
            self._link(adopted[-1])
            current = self.current()
        releases = self._releases()
        keep = {current} if current is not None else set()
        if current is not None:
            older = [p for p in releases if p.name.split("_", 1)[1] < current.name.split("_", 1)[1]]
            keep.update(older[-1:])
        for path in releases:
            if path.resolve() not in {k.resolve() for k in keep}:
                shutil.rmtree(path, ignore_errors=True)

    def write_record(self, record: dict[str, Any]) -> Path:
        """Keep ``record`` in ``records/`` (every deployment, refused ones too)."""
        return write_json(self.records / f"{record['id']}.json", record)

    def history(self) -> list[dict[str, Any]]:
        """Every record, oldest first."""
        out = []
        for file in sorted(self.records.glob("deployment_*.json")):
            try:
                out.append(json.loads(file.read_text(encoding="utf-8")))
            except (OSError, json.JSONDecodeError):
                continue
        return out
