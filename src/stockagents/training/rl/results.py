"""What every RL run ends with: resume points, the final adapter, its manifest and curves.

``finish_run`` writes ``output_dir/final`` (the trained adapter and a manifest recording
the algorithm, the SFT start, the per-iteration history and timing),
``output_dir/history.json`` and ``output_dir/reward_curve.png``.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from stockagents.core.errors import AgentError
from stockagents.core.jsonio import write_json
from stockagents.core.manifests import ModelManifest, RLTraining, load_manifest
from stockagents.core.provenance import TrainingWindow, training_window
from stockagents.training.rl.config import RLConfig
from stockagents.training.rl.policy import Policy, save_adapter
from stockagents.training.sft.trainer import resume_from

__all__ = ["RLResult", "finish_run", "resume_point"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RLResult:
    """What an RL run produced."""

    final_dir: Path
    manifest: ModelManifest
    training: RLTraining
    iterations: int
    seconds: float
    seconds_per_iteration: float
    history: list[dict[str, float]] = field(default_factory=list)
    resumed_from: Path | None = None


def resume_point(config: RLConfig, output_dir: Path) -> Path | None:
    """The checkpoint to resume from, as ``training.resume_from_checkpoint`` says."""
    return resume_from(config.training.resume_from_checkpoint, output_dir)


def plot_history(history: list[dict[str, float]], path: Path, title: str) -> Path | None:
    """Mean reward per iteration (and its terms when logged), as a PNG."""
    points = [(h.get("step", i + 1), h["reward"]) for i, h in enumerate(history) if "reward" in h]
    if not points:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    steps, rewards = zip(*points, strict=True)
    ax.plot(steps, rewards, label="mean reward", color="tab:blue", alpha=0.5)
    window = max(1, len(rewards) // 10)
    if window > 1:
        smooth = [
            sum(rewards[max(0, i - window + 1) : i + 1])
            / len(rewards[max(0, i - window + 1) : i + 1])
            for i in range(len(rewards))
        ]
        ax.plot(steps, smooth, label=f"moving mean ({window})", color="tab:blue")
    for key, color in (("rewards/ret/mean", "tab:green"), ("kl", "tab:red")):
        series = [(h.get("step", i + 1), h[key]) for i, h in enumerate(history) if key in h]
        if series:
            xs, ys = zip(*series, strict=True)
            ax.plot(xs, ys, label=key, color=color, alpha=0.7)
    ax.set_xlabel("iteration")
    ax.set_ylabel("reward")
    ax.set_title(title)
    ax.legend(loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _mean(history: list[dict[str, float]], key: str, part: slice) -> float:
    values = [h[key] for h in history[part] if key in h and math.isfinite(h[key])]
    return sum(values) / len(values) if values else math.nan


def finish_run(
    config: RLConfig,
    policy: Policy,
    *,
    algorithm: str,
    history: list[dict[str, float]],
    seconds: float,
    iterations: int,
    resumed_from: Path | None,
    timed_iterations: int,
    dates: Iterable[str] = (),
    write: bool = True,
) -> RLResult:
    """Write ``final/``, the history and the reward curve; returns the result.

    ``dates`` are the training prompts' ``as_of`` days; with the SFT start's window they
    make the manifest's ``trained_on`` (see ``stockagents.core.provenance``). With
    ``write=False`` (a process other than the main one, under a launcher) nothing is
    written: the result describes the ``final/`` the main process wrote."""
    output_dir = config.training.output_dir
    per_iteration = seconds / timed_iterations if timed_iterations > 0 else math.nan
    tenth = max(1, len(history) // 10)
    window = TrainingWindow.from_dates(dates)
    start = config.model.sft_checkpoint
    parent = training_window(Path(start)) if start else None
    window = window.union(parent) if window else parent
    training = RLTraining(
        algorithm=algorithm,
        start=policy.start,
        sft_checkpoint=str(config.model.sft_checkpoint or ""),
        config=config.model_dump(mode="json", by_alias=True),
        iterations=iterations,
        seconds=round(seconds, 2),
        seconds_per_iteration=round(per_iteration, 3),
        resumed_from=str(resumed_from) if resumed_from else None,
        first_reward=_mean(history, "reward", slice(0, tenth)),
        last_reward=_mean(history, "reward", slice(-tenth, None)),
        tied_groups=_mean(history, "frac_reward_zero_std", slice(None)),
    )
    manifest = ModelManifest(
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        trained_on=window.to_record() if window else None,
        training=training,
    )
    final = output_dir / "final"
    if write:
        manifest = save_adapter(policy, final, manifest, algorithm)
        write_json(output_dir / "history.json", history)
        plot_history(history, output_dir / "reward_curve.png", f"{algorithm.upper()} strategist")
        logger.info(
            "%s: %d iterations, %.1f s each, reward %.3f -> %.3f; adapter in %s",
            algorithm, iterations, per_iteration, training.first_reward,
            training.last_reward, final,
        )  # fmt: skip
    else:  # the main process wrote final/
        manifest = load_manifest(final / "manifest.json", ModelManifest, AgentError)
    return RLResult(
        final_dir=final,
        manifest=manifest,
        training=training,
        iterations=iterations,
        seconds=seconds,
        seconds_per_iteration=per_iteration,
        history=history,
        resumed_from=resumed_from,
    )
