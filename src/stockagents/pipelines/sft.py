"""The SFT run of the user's guide (step 1.1): data, training and held-out evaluation of
every junior agent (and the strategist's warm start), in one timestamped directory.

``run_sft_training`` writes ``training_runs/sft_run_YYYYMMDD_HHMMSS/``::

    data/<agent>_train.jsonl, <agent>_heldout.jsonl, reports and data manifests
    models/<agent>_agent/checkpoint-N/, models/<agent>_agent/final/ (adapter, tokenizer,
                                         manifest): the guide's paths
    models/<agent>_agent/heldout_eval.json   valid-output rate, teacher agreement, F1, ECE
    models/manifest.json                 the model set: each agent -> <agent>_agent/final
    report.md, report.json, agreement.png, manifest.json

``models/`` is a model set: ``stockagents analyze AAPL --models <run>/models`` runs the
trained agents. Profiles (``profiles.SFT_PROFILES``) size the run: ``tiny`` (the random
tiny model, for tests and smoke runs), ``cpu`` (SmolLM2-135M, sized to finish all agents
on 2 cores in about 20 minutes), ``gpu`` (the guide's Llama 3.1 8B in 4-bit, on CUDA).
A run killed part way resumes with ``--resume <run dir>``: finished data and agents are
kept, a half-trained agent continues from its last checkpoint.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stockagents.core.config import AppConfig
from stockagents.core.errors import ConfigError, DataError
from stockagents.core.jsonio import write_json
from stockagents.core.manifests import (
    ModelManifest,
    ModelSetManifest,
    SFTDataManifest,
    SFTRunManifest,
    SFTTraining,
    find_manifest,
    write_manifest,
)
from stockagents.pipelines.profiles import SFT_PROFILES, SFTProfile
from stockagents.training.agent_eval import evaluate_agent
from stockagents.training.sft.config import DataSection, ModelSection, SFTConfig, TrainingSection
from stockagents.training.sft.trainer import train_agent
from stockagents.training.synthetic.generate import generate_dataset, heldout_path, sibling
from stockagents.training.synthetic.inputs import InputSampler
from stockagents.training.synthetic.teachers import Teacher

__all__ = ["AGENTS", "data_provenance", "generate_sft_data", "run_sft_training"]

logger = logging.getLogger(__name__)

AGENTS = ("news", "technical", "fundamental", "strategist")


def _sft_config(
    agent: str, profile: SFTProfile, data: Path, out: Path, max_steps: int, seed: int
) -> SFTConfig:
    save = max(5, max_steps // 2)  # an evaluation costs several training steps on a CPU
    return SFTConfig(
        agent=agent,
        model=ModelSection(
            base_model=profile.base_model,
            max_seq_length=profile.max_seq_length,
            lora_rank=profile.lora_rank,
            lora_alpha=2 * profile.lora_rank,
            lora_layers=profile.lora_layers,
            load_in_4bit=profile.load_in_4bit,
        ),
        training=TrainingSection(
            output_dir=out,
            batch_size=profile.batch_size,
            max_steps=max_steps,
            learning_rate=profile.learning_rate,
            warmup_steps=max(1, max_steps // 20),
            save_steps=save,
            eval_steps=save,
            logging_steps=max(1, min(10, max_steps // 10)),
            validation_fraction=0.05,
            seed=seed,
            bf16=profile.bf16,
            report_to=list(profile.report_to),
        ),
        data=DataSection(dataset_path=data),
    )


def _write_predictions(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


def _plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    agents = list(results)
    fig, ax = plt.subplots(figsize=(7, 3.5))
    x = range(len(agents))
    before = [results[a].get("base", {}).get("agreement", float("nan")) for a in agents]
    after = [results[a]["heldout"]["agreement"] for a in agents]
    ax.bar([i - 0.2 for i in x], before, width=0.4, label="base model (prompted)")
    ax.bar([i + 0.2 for i in x], after, width=0.4, label="after SFT")
    ax.set_xticks(list(x), agents)
    ax.set_ylim(0, 1)
    ax.set_ylabel("agreement with the teacher")
    ax.set_title("Held-out agreement with the teacher")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _markdown(manifest: SFTRunManifest, results: dict[str, Any]) -> str:
    lines = [
        f"# SFT run {manifest.run}",
        "",
        f"profile {manifest.profile} (base {manifest.base_model}), teacher "
        f"{manifest.teacher}, {manifest.num_examples} examples per agent (steps in "
        f"the table); {manifest.seconds or 0.0:.0f} s in all",
        "",
        "| agent | examples | steps | eval loss | valid | agreement | macro F1 "
        "| ECE (teacher's) | confidence gap | base agreement |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    nan = float("nan")
    for agent, r in results.items():
        h = r["heldout"]
        base = r.get("base", {}).get("agreement")
        lines.append(
            f"| {agent} | {r['examples']} | {r['steps']} | {r['eval_loss'] or nan:.3f} "
            f"| {h['valid_rate']:.0%} | {h['agreement']:.0%} | {h['macro_f1']:.2f} "
            f"| {h['ece']:.3f} ({h.get('ece_teacher_confidence', nan):.3f}) "
            f"| {h.get('mean_confidence_gap', nan):.3f} | {'' if base is None else f'{base:.0%}'} |"
        )
    lines += [
        "",
        "ECE compares the stated confidence with agreement; in brackets, the ECE of the "
        "teacher's own confidence on the same prompts (its confidence is a strength, not a "
        "probability of agreeing). Per-prompt predictions: "
        "`models/<agent>_agent/heldout_predictions.jsonl`.",
        "",
        "![agreement](agreement.png)",
        "",
    ]
    return "\n".join(lines)


def _data(
    agent: str,
    data_dir: Path,
    teacher: Teacher,
    sampler: InputSampler,
    n: int,
    heldout: int,
    seed: int,
    progress: bool,
) -> Path:
    """``data_dir/<agent>_train.jsonl`` and its held-out file, made unless both exist."""
    train_path = data_dir / f"{agent}_train.jsonl"
    if not (train_path.is_file() and heldout_path(train_path).is_file()):
        generate_dataset(
            agent, n, train_path, teacher, sampler=sampler, seed=seed,
            heldout_examples=heldout, progress=progress,
        )  # fmt: skip
    return train_path


def data_provenance(data_dir: Path, agents: Sequence[str]) -> dict[str, Any]:
    """Who wrote the data in ``data_dir`` (from each file's manifest, so a resumed run
    names the teacher that answered, not the one it was resumed with). A file without a
    readable manifest is left out, with a warning when the manifest is there but bad."""
    teachers: dict[str, None] = {}
    fallbacks: dict[str, None] = {}
    for agent in agents:
        path = sibling(data_dir / f"{agent}_train.jsonl", ".manifest.json")
        try:
            data = find_manifest(path, SFTDataManifest, DataError)
        except DataError as exc:
            logger.warning("%s", exc)
            continue
        if data is None:
            continue
        teachers[data.teacher] = None
        fallbacks.update(dict.fromkeys(data.teacher_fallbacks))
    return {"teacher": ",".join(teachers) or "unknown", "teacher_fallbacks": list(fallbacks)}


def generate_sft_data(
    teacher: Teacher,
    run: Path,
    *,
    profile: str = "cpu",
    num_examples: int | None = None,
    agents: Sequence[str] = AGENTS,
    config: AppConfig | None = None,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, Path]:
    """The data of an SFT run only, into ``run/data`` (files already there are kept), so
    that ``run_sft_training(resume=run)`` trains on it; returns each agent's file."""
    if profile not in SFT_PROFILES:
        raise ConfigError(f"--profile {profile!r}: use one of {', '.join(SFT_PROFILES)}")
    chosen = SFT_PROFILES[profile]
    n = num_examples or chosen.num_examples
    if chosen.cap:
        n = min(n, chosen.num_examples)
    data_dir = run / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    sampler = InputSampler(config)
    return {
        agent: _data(agent, data_dir, teacher, sampler, n, chosen.heldout, seed, progress)
        for agent in agents
    }


def _previous_steps(path: Path) -> dict[str, int]:
    """Per-agent steps recorded in a run's manifest (an int there means every agent)."""
    manifest = find_manifest(path, SFTRunManifest, ConfigError)
    recorded = manifest.max_steps if manifest is not None else None
    if isinstance(recorded, int):
        return dict.fromkeys(manifest.agents if manifest and manifest.agents else AGENTS, recorded)
    return dict(recorded or {})


def _sizes(
    profile: str, agents: Sequence[str], num_examples: int | None, max_steps: int | None
) -> tuple[SFTProfile, int, int | None]:
    """Check the profile and agents; cut the sizes to a smoke profile's ceilings."""
    if profile not in SFT_PROFILES:
        raise ConfigError(f"--profile {profile!r}: use one of {', '.join(SFT_PROFILES)}")
    unknown = [a for a in agents if a not in AGENTS]
    if unknown:
        raise ConfigError(f"--agents: unknown {', '.join(unknown)}; use {', '.join(AGENTS)}")
    chosen = SFT_PROFILES[profile]
    n = num_examples or chosen.num_examples
    if chosen.cap and (n > chosen.num_examples or (max_steps or 0) > chosen.max_steps):
        logger.warning(
            "the %s profile caps --num-examples at %d and --max-steps at %d",
            profile, chosen.num_examples, chosen.max_steps,
        )  # fmt: skip
        n = min(n, chosen.num_examples)
        max_steps = min(max_steps, chosen.max_steps) if max_steps else None
    return chosen, n, max_steps


@dataclass(frozen=True)
class _AgentJob:
    """What the agents of one SFT run share: the run, the teacher, the sizes."""

    run: Path
    teacher: Teacher
    sampler: InputSampler
    profile: SFTProfile
    num_examples: int
    seed: int
    compare_base: bool
    progress: bool

    def train_and_evaluate(self, agent: str, steps: int) -> dict[str, Any]:
        """Make the data, train (unless done) and evaluate ``agent``; its report entry."""
        t0 = time.perf_counter()
        data_dir, chosen, progress = self.run / "data", self.profile, self.progress
        train_path = _data(
            agent, data_dir, self.teacher, self.sampler, self.num_examples, chosen.heldout,
            self.seed, progress,
        )  # fmt: skip
        examples = sum(1 for line in train_path.open(encoding="utf-8") if line.strip())
        out = self.agent_dir(agent)
        step, eval_loss = self.train(agent, train_path, out, steps)
        held = heldout_path(train_path)
        entry: dict[str, Any] = {
            "examples": examples,
            "steps": step,
            "eval_loss": eval_loss,
            "heldout": evaluate_agent(agent, out / "final", held, progress=progress),
        }
        if self.compare_base:
            entry["base"] = evaluate_agent(agent, chosen.base_model, held, progress=progress)
        entry["seconds"] = time.perf_counter() - t0
        for key in ("heldout", "base"):  # predictions go to their own file, not the report
            rows = entry.get(key, {}).pop("predictions", [])
            if key == "heldout":
                _write_predictions(out / "heldout_predictions.jsonl", rows)
        write_json(out / "heldout_eval.json", entry)
        logger.info(
            "%s: agreement %.0f%%, valid %.0f%% (%.0f s)",
            agent, 100 * entry["heldout"]["agreement"], 100 * entry["heldout"]["valid_rate"],
            entry["seconds"],
        )  # fmt: skip
        return entry

    def agent_dir(self, agent: str) -> Path:
        """``models/<agent>_agent``, after moving an older run's ``models/<agent>`` there."""
        models_dir = self.run / "models"
        out = models_dir / f"{agent}_agent"
        legacy = models_dir / agent  # the layout of runs made before 2026-11-29
        if not out.exists() and (legacy / "final" / "manifest.json").is_file():
            logger.info("%s: moving %s to the guide's layout, %s", self.run, legacy, out)
            legacy.rename(out)
        return out

    def train(self, agent: str, data: Path, out: Path, steps: int) -> tuple[int, float | None]:
        """Train ``agent`` into ``out`` unless its ``final/`` exists; steps and eval loss."""
        trained = find_manifest(out / "final" / "manifest.json", ModelManifest, ConfigError)
        if trained is not None:
            training = trained.training if isinstance(trained.training, SFTTraining) else None
            step = training.steps if training and training.steps is not None else steps
            return step, training.eval_loss if training else None
        result = train_agent(_sft_config(agent, self.profile, data, out, steps, self.seed))
        return result.global_step, result.eval_loss


def run_sft_training(
    teacher: Teacher,
    *,
    profile: str = "cpu",
    num_examples: int | None = None,
    max_steps: int | None = None,
    agents: Sequence[str] = AGENTS,
    output_root: Path = Path("training_runs"),
    resume: Path | None = None,
    config: AppConfig | None = None,
    seed: int = 0,
    compare_base: bool = True,
    progress: bool = True,
) -> Path:
    """Generate data, train and evaluate ``agents``; returns the run directory."""
    chosen, n, max_steps = _sizes(profile, agents, num_examples, max_steps)
    run = resume or output_root / f"sft_run_{dt.datetime.now():%Y%m%d_%H%M%S}"
    # A resumed run keeps the step counts it started with, unless told otherwise.
    before = _previous_steps(run / "manifest.json") if resume else {}
    steps = {a: max_steps or before.get(a) or chosen.steps_for(a) for a in agents}
    started = time.perf_counter()
    data_dir, models_dir = run / "data", run / "models"
    models_dir.mkdir(parents=True, exist_ok=True)
    data_dir.mkdir(parents=True, exist_ok=True)
    manifest = SFTRunManifest(
        run=run.name,
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        profile=profile,
        base_model=chosen.base_model,
        teacher=teacher.name,
        teacher_fallbacks=teacher.fallbacks,
        num_examples=n,
        max_steps={**before, **steps},  # per agent, with those of a resumed run
        seed=seed,
        agents=list(agents),
        status="running",
    )
    write_manifest(run / "manifest.json", manifest)
    job = _AgentJob(run, teacher, InputSampler(config), chosen, n, seed, compare_base, progress)
    results = {agent: job.train_and_evaluate(agent, steps[agent]) for agent in agents}
    write_manifest(
        models_dir / "manifest.json",
        ModelSetManifest(agents={a: f"{a}_agent/final" for a in agents}, run=run.name),
    )
    provenance = data_provenance(data_dir, agents)
    manifest.teacher = provenance["teacher"]
    manifest.teacher_fallbacks = provenance["teacher_fallbacks"]
    manifest.status = "done"
    manifest.seconds = time.perf_counter() - started
    write_json(run / "report.json", {"manifest": manifest.as_json(), "agents": results})
    _plot(results, run / "agreement.png")
    (run / "report.md").write_text(_markdown(manifest, results), encoding="utf-8")
    write_manifest(run / "manifest.json", manifest)
    return run
