"""The production model registry's on-disk format: what deployment writes and the
coordinator reads (a contract here in core, so neither imports the other).

Under the models directory (``deployment.models_dir``, default ``models``)::

    production -> releases/release_YYYYMMDD_HHMMSS     a symlink, swapped atomically
    releases/release_YYYYMMDD_HHMMSS/
        manifest.json              {"kind": "production", "agents": {"news": "news", ...},
                                    "hashes": {...}, "versions": {...}, "deployment": "..."}
        news/ technical/ fundamental/ strategist/      each a model directory (or absent:
                                                       that agent is expert)
        deployment_YYYYMMDD_HHMMSS.json                 every deployment record so far
        evaluation.json            the set's deployment evaluation (absent when forced):
                                   {"path", "window", "set": its evaluation_results entry}
    backups/backup_YYYYMMDD_HHMMSS/                      a copy of production before a change
    records/deployment_YYYYMMDD_HHMMSS.json              one record per deployment run
    .deploy.lock                                         held while a deployment runs

A backup and the record of the run that took it share their ``YYYYMMDD_HHMMSS`` name; the
backup counts only when that record says the run installed its release (see
``stockagents.deployment.store``). The manifest's ``deployment`` names the record of the run
that installed the release, so production leads to the backup of what it replaced.

``release_manifest(release)`` is a release's ``ReleaseManifest`` (``core.manifests``), or
None when the directory is not a release; ``production_models(models_dir)`` is the
production release when one is deployed (the symlink resolved once, so a reader loads one
consistent set), else None.
``content_hash`` is the hash of a model directory's files that manifests, records and
evaluations use to say which bytes they mean; ``set_identity`` the hash of a release's
whole model set, which tells whether two releases (or backups) hold the same models.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from pathlib import Path
from typing import Any

from stockagents.core.errors import AgentError
from stockagents.core.manifests import ReleaseManifest, parse_manifest

__all__ = [
    "BACKUPS",
    "EVALUATION_FILE",
    "PRODUCTION",
    "RECORDS",
    "RELEASES",
    "content_hash",
    "ignored",
    "production_manifest",
    "production_models",
    "release_evaluation",
    "release_manifest",
    "set_identity",
]

PRODUCTION = "production"
RELEASES = "releases"
BACKUPS = "backups"
RECORDS = "records"
PRODUCTION_KIND = "production"
#: The file in a release that carries its deployment evaluation.
EVALUATION_FILE = "evaluation.json"


#: Parts of a model directory that are not the model (training leftovers), never copied
#: into production and never hashed.
IGNORED = ("checkpoint-*", "runs", "wandb")


def ignored(relative: Path) -> bool:
    """Whether a path relative to a model directory is a training leftover."""
    return any(fnmatch.fnmatch(part, pattern) for part in relative.parts for pattern in IGNORED)


def content_hash(path: str | Path) -> str:
    """SHA-256 (16 hex digits) over the relative names and bytes of every file under
    ``path`` (``IGNORED`` parts left out)."""
    root = Path(path)
    digest = hashlib.sha256()
    files = (p for p in root.rglob("*") if p.is_file() and not ignored(p.relative_to(root)))
    for file in sorted(files):
        name = str(file.relative_to(root)).encode()
        # lengths first, so no two listings of names and bytes hash alike
        digest.update(b"%d:%s:%d:" % (len(name), name, file.stat().st_size))
        with file.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()[:16]


def release_manifest(release: str | Path) -> ReleaseManifest | None:
    """The manifest of a production release directory (or a backup of one), or None when
    it is not one (no readable manifest, or another kind). A release manifest with a bad
    field or a newer schema version is an ``AgentError`` naming the file and the field."""
    file = Path(release) / "manifest.json"
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("kind") != PRODUCTION_KIND:
        return None
    return parse_manifest(data, ReleaseManifest, file, AgentError)


def release_evaluation(release: str | Path) -> dict[str, Any] | None:
    """The deployment evaluation a release carries (``EVALUATION_FILE``), or None when it
    has none (a forced deployment) or the file is not a JSON object."""
    try:
        data = json.loads((Path(release) / EVALUATION_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def production_manifest(models_dir: str | Path) -> ReleaseManifest | None:
    """The manifest of the deployed production set, or None when nothing is deployed."""
    return release_manifest(Path(models_dir) / PRODUCTION)


def production_models(models_dir: str | Path) -> Path | None:
    """The release ``models_dir/production`` points at, resolved once (so a reader keeps
    one consistent set while a deployment swaps the link), or None."""
    try:
        release = (Path(models_dir) / PRODUCTION).resolve(strict=True)
    except OSError:
        return None
    return release if release_manifest(release) is not None else None


def set_identity(release: str | Path) -> str | None:
    """Which model set a production release (or a backup of one) holds: a hash over each
    agent's content hash, agents without a model (``expert``) left out. The hashes are the
    manifest's, or the files' for an agent a hand-made manifest gives none for. Two
    releases with the same identity answer alike; None when ``release`` is not one."""
    manifest = release_manifest(release)
    if manifest is None:
        return None
    hashes, agents = manifest.hashes, manifest.agents
    models: dict[str, str] = {}
    for agent in sorted({*agents, *hashes}):
        if agent in hashes:
            value = hashes[agent]
        else:
            entry = agents[agent]
            path = Path(release) / str(entry)
            value = content_hash(path) if entry not in (None, "expert") and path.is_dir() else ""
        if value and value != "expert":
            models[str(agent)] = value
    return hashlib.sha256(json.dumps(models, sort_keys=True).encode()).hexdigest()[:16]
