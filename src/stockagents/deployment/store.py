"""The file operations of a deployment, each safe to be killed at any point.

The layout is ``stockagents.core.registry``'s. The one operation that changes what
production is, ``swap``, is an ``os.replace`` of the ``production`` symlink: atomic, so
production is always wholly the old release or wholly the new one. Everything before it
writes into hidden temporary names (``releases/.staging-*``, ``backups/.tmp-*``) that
``sweep`` removes, and releases that production does not point at are removed after the
swap (their content is in a backup). Only paths under the models directory are written.

A backup is taken before the swap, so a run that dies between the two leaves a copy of
the unchanged production. Such a backup is an *orphan*: its record (same name) says the
run never installed its release. ``recover``, which every run calls first under the lock,
marks dead runs' ``started`` records ``interrupted`` and removes their orphans;
``previous_backup`` never picks a backup of the set in production; ``prune_backups``
keeps the newest few. Removals rename first (``backups/.tmp-*``), so a kill never leaves
half a backup that looks whole.
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

from stockagents.core.errors import DeploymentError
from stockagents.core.manifests import DeploymentRecord, parse_manifest, write_manifest
from stockagents.core.registry import (
    BACKUPS,
    PRODUCTION,
    RECORDS,
    RELEASES,
    ignored,
    release_manifest,
    set_identity,
)

__all__ = ["DeployLock", "Store", "copy_tree", "stamp"]

_LOCK = ".deploy.lock"

#: The outcomes of a run that finished installing its release.
INSTALLED = ("deployed", "rolled back")


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
        self.records = models_dir / RECORDS

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

    def sweep(self, previous: Path | None = None) -> None:
        """Remove what a killed or finished deployment left: staging and temporary
        copies, symlinks half made, and releases production no longer needs. Kept: the
        current release and the one before it, ``previous`` when given, else the newest
        older one (a process that resolved production just before a swap still reads it;
        both are also in backups). When production is missing after a kill inside
        ``adopt``, the adopted release is linked again."""
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
        if previous is not None:
            keep.add(previous)
        elif current is not None:
            older = [p for p in releases if p.name.split("_", 1)[1] < current.name.split("_", 1)[1]]
            keep.update(older[-1:])
        for path in releases:
            if path.resolve() not in {k.resolve() for k in keep}:
                shutil.rmtree(path, ignore_errors=True)

    # -- backups and the runs that took them ------------------------------------------

    def list_backups(self) -> list[Path]:
        """Every backup, oldest first (their names are their times)."""
        if not self.backups.is_dir():
            return []
        return sorted(
            p for p in self.backups.iterdir() if p.name.startswith("backup_") and p.is_dir()
        )

    def backup_of(self, run_id: str) -> Path | None:
        """The backup the run ``run_id`` took (same name), if it is there."""
        path = self.backups / f"backup_{run_id.removeprefix('deployment_')}"
        return path if path.is_dir() else None

    def installed_by(self, release: Path | None = None) -> str | None:
        """The id of the run that installed production (its manifest's ``deployment``),
        or the release (or backup) ``release``."""
        release = release if release is not None else self.current()
        manifest = release_manifest(release) if release is not None else None
        return manifest.deployment if manifest is not None and manifest.deployment else None

    def _ever_installed(self) -> set[str]:
        """The runs whose release is or was production: production's, and those of the
        releases the backups copied (a backup is a copy of production)."""
        ids = {self.installed_by()}
        ids.update(self.installed_by(backup) for backup in self.list_backups())
        return {i for i in ids if i}

    def discard(self, path: Path) -> None:
        """Remove a backup, first renamed so a kill never leaves half of one in place."""
        tmp = self.backups / f".tmp-discard-{path.name}"
        try:
            path.rename(tmp)
        except OSError:
            tmp = path
        shutil.rmtree(tmp, ignore_errors=True)

    def recover(self) -> list[str]:
        """Clear what runs that died left; call under the lock, before a run begins (no
        other run is alive then, so a ``started`` record is a dead run's).

        Each dead run's record becomes ``interrupted``, with ``swapped`` true when its
        release became production (it died after its swap). A backup whose run never
        installed its release, a dead one or a failed one, is an orphan: a copy of a
        production that did not change, removed here. Then ``sweep``. Returns what was
        done, one line each, for the log."""
        installed = self._ever_installed()
        done = []
        for record in self.history():
            if record.outcome == "started":
                swapped = record.id in installed
                record.outcome = "interrupted"
                record.swapped = swapped
                record.production = str(self.current() or "none")
                record.error = "the process ended " + (
                    "after its swap" if swapped else "before its swap; production unchanged"
                )
                self.write_record(record, into_production=swapped)
                done.append(f"{record.id}: marked interrupted")
            ran = record.outcome in INSTALLED or record.swapped
            backup = self.backup_of(record.id)
            if backup is not None and not ran and record.id not in installed:
                self.discard(backup)
                done.append(f"{record.id}: removed its orphaned {backup.name}")
        self.sweep()
        return done

    def previous_backup(self) -> Path | None:
        """The backup ``rollback`` installs by default: the production the current one
        replaced (the backup the run that installed production took) or, when that one
        is gone, the newest backup of another model set. Never a copy of the set in
        production; None when there is no other set (with nothing deployed: the newest)."""
        backups = self.list_backups()
        current = self.current()
        if current is None:
            return backups[-1] if backups else None
        identity = set_identity(current)
        others = [b for b in backups if set_identity(b) not in (None, identity)]
        installer = self.installed_by()
        linked = self.backup_of(installer) if installer else None
        if linked is not None and linked in others:
            return linked
        return others[-1] if others else None

    def prune_backups(self, keep: int, protect: Path | None) -> list[Path]:
        """Remove backups older than the newest ``keep``, never ``protect`` (the one a
        rollback needs). Returns the removed ones."""
        backups = self.list_backups()
        kept = {b.name for b in backups[-keep:]} if keep > 0 else set()
        if protect is not None:
            kept.add(protect.name)
        removed = [b for b in backups if b.name not in kept]
        for backup in removed:
            self.discard(backup)
        return removed

    # -- records ----------------------------------------------------------------------

    def write_record(self, record: DeploymentRecord, into_production: bool = False) -> Path:
        """Keep ``record`` in ``records/`` (every deployment, refused ones too); with
        ``into_production``, also in the production release (the copy that travels)."""
        current = self.current()
        if into_production and current is not None:
            write_manifest(current / f"{record.id}.json", record)
        return write_manifest(self.records / f"{record.id}.json", record)

    def history(self) -> list[DeploymentRecord]:
        """Every record, oldest first. A file that is not JSON (cut short) is skipped; a
        record with a bad field is a ``DeploymentError`` naming the file and the field."""
        out = []
        for file in sorted(self.records.glob("deployment_*.json")):
            try:
                data = json.loads(file.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                continue
            out.append(parse_manifest(data, DeploymentRecord, file, DeploymentError))
        return out
