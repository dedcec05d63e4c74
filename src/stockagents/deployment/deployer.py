"""``ModelDeployer``: the guide's step 4. Validate, back up, install, verify, roll back.

``deploy`` runs, under a lock on the models directory:

1. **validate**: every given model has a complete manifest and loads; an evaluation of
   exactly this set (see ``gate``) exists and meets the criteria, or ``force`` is set
   (the record keeps it), or ``evaluate`` runs one first;
2. **backup**: production is copied to ``backups/backup_YYYYMMDD_HHMMSS/``;
3. **stage**: the models are copied into a new release, with its manifest and every
   deployment record so far plus this one;
4. **verify**: the new release (not yet production) is loaded and ``analyze_symbol``
   runs on the configured symbol; every agent must answer with valid output;
5. **swap**: production now points at the new release (one atomic rename);
6. **confirm**: production's manifest and file hashes are those just staged, else the
   swap is undone.

A failure at any step leaves production as it was and is recorded (``records/``); a kill
at any point leaves it wholly old or wholly new (``store``). Ctrl-C, and SIGTERM while
a run holds the default handler, stop a run as an exception: the same cleanup as an error
runs and the record says ``interrupted``. A run that died (SIGKILL, power) is cleared by
the next one (``Store.recover``). After a run installs its release, the backups beyond
``deployment.keep_backups`` are removed, oldest first.

``rollback`` installs a backup the same way, after backing up what it replaces. With no
backup named, it installs the production the current one replaced (so a second rollback
undoes the first); never a copy of the set in production.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from stockagents.agents.runtime import AGENT_NAMES
from stockagents.core.config import AppConfig, load_config
from stockagents.core.errors import DeploymentError, StockAgentsError
from stockagents.core.jsonio import write_json
from stockagents.core.manifests import (
    DeploymentRecord,
    ModelSetManifest,
    ReleaseManifest,
    write_manifest,
)
from stockagents.core.registry import (
    EVALUATION_FILE,
    content_hash,
    production_manifest,
    release_evaluation,
    release_manifest,
    set_identity,
)
from stockagents.deployment._interrupts import sigterm_raises, stopped_by
from stockagents.deployment.gate import (
    Candidate,
    EvaluationMatch,
    candidate_from,
    check_loads,
    find_evaluation,
    gate,
)
from stockagents.deployment.store import DeployLock, Store, copy_tree, stamp
from stockagents.orchestration import SystemCoordinator

__all__ = ["STEPS", "ModelDeployer"]

logger = logging.getLogger(__name__)

#: The steps, in order; ``on_step(name)`` is called as each begins (tests kill there).
STEPS = ("validate", "backup", "stage", "verify", "swap", "confirm", "done")

_GUIDE_SYMBOLS = ("AAPL", "MSFT", "GOOGL", "AMZN", "TSLA")

Action = Literal["deploy", "rollback"]


class ModelDeployer:
    """Deploys model sets into ``models_dir/production`` and rolls them back.

    ``models_dir`` defaults to the config's ``deployment.models_dir`` (``models``);
    ``evaluations_dir`` is where ``evaluate_models`` writes (``evaluation_results``).
    """

    def __init__(
        self,
        models_dir: str | Path | None = None,
        config: AppConfig | str | Path | None = None,
        evaluations_dir: str | Path = "evaluation_results",
        on_step: Callable[[str], None] | None = None,
    ) -> None:
        self.config = load_config(config)
        self.models_dir = Path(models_dir or self.config.deployment.models_dir)
        self.store = Store(self.models_dir)
        self.evaluations_dir = Path(evaluations_dir)
        self.on_step = on_step or (lambda step: None)

    # -- public API ---------------------------------------------------------------

    def deploy(
        self,
        models: Mapping[str, str | Path],
        *,
        min_sharpe: float | None = None,
        force: bool = False,
        evaluate: bool = False,
        symbols: Sequence[str] = _GUIDE_SYMBOLS,
    ) -> dict[str, Any]:
        """Install ``models`` (agent -> model directory or ``expert``); agents not given
        keep production's model. Returns the deployment record."""
        if not models:
            raise DeploymentError("--models: name at least one agent, as in strategist:PATH")
        criteria = self.config.deployment
        if min_sharpe is not None:
            criteria = criteria.model_copy(update={"min_sharpe": min_sharpe})
        with sigterm_raises(), DeployLock(self.models_dir), self._run("deploy", force) as record:
            candidates = candidate_from(models, self.store.current())
            record.agents = {a: c.describe() for a, c in candidates.items()}
            check_loads(candidates, self.config.agents)
            match = find_evaluation(candidates, self.evaluations_dir, criteria, self.config)
            if match is None and evaluate:
                match = self._evaluate(candidates, symbols, criteria)
            record.evaluation = match.describe() if match else None
            record.criteria = criteria.model_dump(
                mode="json", exclude={"models_dir", "keep_backups"}
            )
            record.forced_because = gate(match, force)
            return self._install(candidates, record, _carried(match)).as_json()

    def rollback(self, backup: str | Path | None = None) -> dict[str, Any]:
        """Install ``backup`` as production, verified like any deployment; the production
        it replaces is backed up first. By default the production the current one
        replaced (``Store.previous_backup``): never a copy of the set in production."""
        with (
            sigterm_raises(),
            DeployLock(self.models_dir),
            self._run("rollback", False) as record,
        ):
            source = self._backup_path(backup)
            record.rollback_to = str(source)
            manifest = release_manifest(source)
            agents = manifest.agents if manifest is not None else {}
            given: dict[str, str | Path] = {}
            for agent in AGENT_NAMES:
                entry = agents.get(agent) or "expert"
                given[agent] = "expert" if entry == "expert" else source / entry
            candidates = candidate_from(given, None)
            record.agents = {a: c.describe() for a, c in candidates.items()}
            carried = release_evaluation(source)
            return self._install(candidates, record, carried).as_json()

    def status(self) -> dict[str, Any]:
        """Production (its agents and deployment), the backups, the one ``rollback``
        installs by default, and every record. What dead runs left is cleared first,
        unless a run is going on (then it is shown as it is)."""
        if self.models_dir.is_dir():
            try:
                with DeployLock(self.models_dir):
                    self._recover()
            except (DeploymentError, OSError):  # a run is going on, or read-only
                pass
        current = self.store.current()
        manifest = production_manifest(self.models_dir) if current else None
        previous = self.store.previous_backup()
        return {
            "models_dir": str(self.models_dir),
            "production": (
                {"release": str(current), **(manifest.as_json() if manifest else {})}
                if current
                else None
            ),
            "backups": [
                {"path": str(p), "deployment": self.store.installed_by(p)}
                for p in self.store.list_backups()
            ],
            "rollback_to": str(previous) if previous else None,
            "records": [record.as_json() for record in self.store.history()],
        }

    # -- steps --------------------------------------------------------------------

    @contextmanager
    def _run(self, action: Action, forced: bool) -> Iterator[DeploymentRecord]:
        """A deployment's record, named under the lock and begun; any failure inside is
        recorded, a file error turned into one line, and what it left cleared."""
        record = self._record(action, forced)
        try:
            self._begin(record)
            self.on_step("validate")
            yield record
        except StockAgentsError as exc:
            self._fail(record, exc)
            raise
        except OSError as exc:  # a full disk or an unwritable directory mid-way
            error = self._file_error(exc)
            self._fail(record, error)
            raise error from None
        except BaseException as exc:  # Ctrl-C, SIGTERM (``sigterm_raises``), a bug
            self._fail(record, exc)
            raise

    def _record(self, action: Action, forced: bool) -> DeploymentRecord:
        name = stamp()
        taken = (
            self.store.records / f"deployment_{name}.json",
            self.store.releases / f"release_{name}",
            self.store.backups / f"backup_{name}",
        )
        if any(p.exists() for p in taken):  # a second deployment within the same second
            name = dt.datetime.now().strftime("%Y%m%d_%H%M%S_%f")
        return DeploymentRecord(
            id=f"deployment_{name}",
            action=action,
            created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            models_dir=str(self.models_dir),
            forced=forced,
            pid=os.getpid(),
            outcome="started",
            steps={},
        )

    def _step(self, record: DeploymentRecord, name: str, started: float) -> None:
        """Begin step ``name``: ``record.steps`` keeps when each began (seconds)."""
        record.steps[name] = round(time.perf_counter() - started, 3)
        self.on_step(name)

    def _recover(self) -> None:
        for line in self.store.recover():
            logger.info("a run that died: %s", line)

    def _begin(self, record: DeploymentRecord) -> None:
        """Clear what dead runs left, then record this one as started."""
        self._recover()
        self.store.adopt()
        self.store.write_record(record)

    def _install(
        self,
        candidates: Mapping[str, Candidate],
        record: DeploymentRecord,
        evaluation: Mapping[str, Any] | None = None,
    ) -> DeploymentRecord:
        started = time.perf_counter()
        name = record.id.removeprefix("deployment_")
        self._step(record, "backup", started)
        backup = self.store.backup(name)
        record.backup = str(backup) if backup else None
        self.store.write_record(record)  # the backup is this run's (an orphan if it dies)
        self._step(record, "stage", started)
        staging = self.store.staging(name)
        agents: dict[str, str] = {}
        for agent, candidate in candidates.items():
            if candidate.source is not None:
                copy_tree(candidate.source, staging / agent)
                if content_hash(staging / agent) != candidate.hash:
                    raise DeploymentError(f"{agent}: the copy differs from {candidate.source}")
                agents[agent] = agent
        manifest = ReleaseManifest(
            deployment=record.id,
            agents={a: agents.get(a, "expert") for a in AGENT_NAMES},
            hashes={a: c.hash for a, c in candidates.items()},
            versions={a: c.version for a, c in candidates.items()},
            sources={a: c.describe().source for a, c in candidates.items()},
        )
        write_manifest(staging / "manifest.json", manifest)
        if evaluation:  # the release carries what its evaluation promised (the monitor's)
            write_json(staging / EVALUATION_FILE, dict(evaluation))
        release = self.store.publish(staging, name)  # its final path: models load from it
        self._step(record, "verify", started)
        record.verification = self._verify(release)
        for old in self.store.history():  # the history travels with production
            if old.id != record.id:
                write_manifest(release / f"{old.id}.json", old)
        record.outcome = "deployed" if record.action == "deploy" else "rolled back"
        write_manifest(release / f"{record.id}.json", record)
        self._step(record, "swap", started)
        previous = self.store.swap(release)
        record.swapped = True
        record.replaced = str(previous) if previous else None
        self._step(record, "confirm", started)
        if production_manifest(self.models_dir) != manifest or any(
            content_hash(self.store.production / a) != candidates[a].hash for a in agents
        ):
            self.store.unswap(previous)
            record.swapped = False
            raise DeploymentError(
                "production does not match what was staged; swapped back to "
                + (previous.name if previous is not None else "no production")
            )
        record.release = str(release)
        self._step(record, "done", started)
        self.store.write_record(record)
        write_manifest(release / f"{record.id}.json", record)
        self.store.sweep(previous)
        keep = self.config.deployment.keep_backups
        needed = self.store.previous_backup()  # what a rollback from here installs
        for pruned in self.store.prune_backups(keep, protect=needed):
            logger.info("removed %s (keep_backups is %d)", pruned.name, keep)
        logger.info("%s: production is now %s", record.id, release.name)
        return record

    def _verify(self, release: Path) -> dict[str, Any]:
        """Load the new release and analyse one symbol; every answer must be valid."""
        started = time.perf_counter()
        try:
            with SystemCoordinator(self.config, models=release) as coordinator:
                symbols = coordinator.sources.prices.symbols()
                wanted = self.config.deployment.verify_symbol
                symbol = wanted if wanted in symbols else symbols[0]
                result = coordinator.analyze_symbol(symbol)
        except StockAgentsError as exc:
            raise DeploymentError(f"verification failed: {exc}") from None
        invalid = [n for n, s in result.signals.items() if not s.valid]
        if not result.decision.valid:
            invalid.append("strategist")
        if invalid:
            raise DeploymentError(
                f"verification failed: {', '.join(invalid)} gave invalid output on {symbol}"
            )
        return {
            "symbol": symbol,
            "as_of": result.as_of.isoformat(),
            "recommendation": result["recommendation"],
            "confidence": result["confidence"],
            "model_versions": result.model_versions,
            "seconds": round(time.perf_counter() - started, 3),
        }

    def _evaluate(
        self, candidates: Mapping[str, Candidate], symbols: Sequence[str], criteria: Any
    ) -> EvaluationMatch | None:
        from stockagents.evaluation.evaluate import evaluate_models

        target = self.models_dir / f".candidate-{stamp()}"
        target.mkdir(parents=True, exist_ok=True)
        agents = {a: str(c.source) if c.source else "expert" for a, c in candidates.items()}
        write_manifest(target / "manifest.json", ModelSetManifest(agents=dict(agents)))
        try:
            evaluate_models(
                [f"candidate:{target}"], symbols=symbols, config=self.config,
                test_days=self.config.splits.test_days, output_root=self.evaluations_dir,
            )  # fmt: skip
        finally:
            shutil.rmtree(target, ignore_errors=True)
        return find_evaluation(candidates, self.evaluations_dir, criteria, self.config)

    def _backup_path(self, backup: str | Path | None) -> Path:
        root = self.store.backups.resolve()
        current = self.store.current()
        if backup is None:
            previous = self.store.previous_backup()
            if previous is None:
                held = f"; production ({current.name}) is the only model set" if current else ""
                raise DeploymentError(f"no backup in {self.store.backups} to roll back to{held}")
            return previous.resolve()
        path = Path(backup).expanduser().resolve()
        if path.parent != root or not path.name.startswith("backup_"):
            raise DeploymentError(
                f"{backup} is not a backup in {self.store.backups}; "
                "roll back to one of its backup_YYYYMMDD_HHMMSS directories"
            )
        if not path.is_dir():
            raise DeploymentError(f"{backup} does not exist; see stockagents models list")
        if release_manifest(path) is None:
            raise DeploymentError(f"{backup} has no production manifest; it is not a backup")
        if current is not None and set_identity(path) == set_identity(current):
            logger.info("%s holds the model set already in production", path.name)
        return path

    def _file_error(self, exc: OSError) -> DeploymentError:
        where = f"{exc.filename}: " if exc.filename else ""
        current = self.store.current()
        state = f"production is {current.name}" if current else "nothing is deployed"
        return DeploymentError(f"{where}{exc.strerror or exc}; {state}")

    def _fail(self, record: DeploymentRecord, exc: BaseException) -> None:
        """Record the failure or interruption (best effort: the disk may be full) and clear
        what it left; a backup taken for a run whose release is not production (it never
        swapped, or swapped back) is removed."""
        if isinstance(exc, Exception):
            record.outcome = "refused" if "refused" in str(exc) else "failed"
            record.error = str(exc)
        else:
            record.outcome = "interrupted"
            record.error = stopped_by(exc)
        try:
            record.swapped = self.store.installed_by() == record.id
            record.production = str(self.store.current() or "none")
            backup = self.store.backup_of(record.id)
            if not record.swapped:
                if backup is not None:
                    self.store.discard(backup)
                record.backup = None
            self.store.write_record(record, into_production=record.swapped)
            self.store.sweep()
        except OSError as error:
            logger.warning("could not record %s: %s", record.id, error)


def _carried(match: EvaluationMatch | None) -> dict[str, Any] | None:
    """What a release keeps of its deployment evaluation: the set's entry (its equity
    curve left out), the window and where it came from."""
    if match is None or not match.entry:
        return None
    entry = {k: v for k, v in match.entry.items() if k != "equity"}
    return {"path": str(match.path), "window": match.window, "set": entry}
