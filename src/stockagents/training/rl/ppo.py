"""PPO for the strategist: a compact implementation on transformers and peft.

TRL's PPO left its main package (``trl.experimental.ppo`` takes a reward model, not a
reward function), so this module owns the loop. Each iteration:

1. **Rollout.** One sampled completion per prompt for ``batch_size`` prompts.
2. **Scoring.** The reward of each completion (``rewards``), and per token the KL penalty
   ``-kl_coef * (log pi - log pi_ref)`` against the SFT start (the frozen ``ref`` copy of
   the adapter; the bare base for a fresh LoRA); the sequence reward lands on its last
   token.
3. **Advantages.** A value head (a linear layer on the policy's last hidden state) gives
   ``V(s_t)``; generalised advantage estimation (``gamma = 1``, ``gae_lambda``) gives the
   advantages, whitened over the batch, and the returns.
4. **Update.** ``ppo_epochs`` passes of the clipped objective
   ``max(-A r, -A clip(r, 1 - eps, 1 + eps))`` plus ``vf_coef`` times the clipped value
   loss, with AdamW on the LoRA weights and the value head and gradient clipping.

Checkpoints (``checkpoint-N``: adapter, value head, optimizer, RNG and history; its
``trainer_state.json`` written last) resume a killed run exactly where it stopped.
Curves go to TensorBoard (``output_dir/runs``) and to W&B (offline without a key).
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from stockagents.core.errors import ConfigError, DataError
from stockagents.core.jsonio import write_json
from stockagents.core.threads import use_all_cpus
from stockagents.training.processes import world_size
from stockagents.training.rl.config import RLConfig
from stockagents.training.rl.grpo import RewardFn
from stockagents.training.rl.policy import REF_ADAPTER, Policy, load_policy, require_training_stack
from stockagents.training.rl.results import RLResult, finish_run, resume_point
from stockagents.training.rl.rollout import completion_logps, sample_completions
from stockagents.training.rl.scoring import RewardModel
from stockagents.training.tracking import available_reporters, wandb_env

__all__ = ["gae", "train_ppo"]

logger = logging.getLogger(__name__)


def gae(rewards: Any, values: Any, mask: Any, lam: float, gamma: float = 1.0) -> tuple[Any, Any]:
    """Advantages and returns over completion tokens (tensors ``[batch, tokens]``; the mask
    marks real tokens, a contiguous run from the start). Bootstraps 0 after the last."""
    import torch

    batch, length = rewards.shape
    advantages = torch.zeros_like(rewards)
    last = torch.zeros(batch, dtype=rewards.dtype)
    for t in reversed(range(length)):
        next_value = values[:, t + 1] * mask[:, t + 1] if t + 1 < length else torch.zeros(batch)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        last = delta + gamma * lam * last * (mask[:, t + 1] if t + 1 < length else 0)
        advantages[:, t] = last * mask[:, t]
    return advantages, (advantages + values) * mask


def _masked_mean(x: Any, mask: Any) -> Any:
    return (x * mask).sum() / mask.sum().clamp(min=1)


def _whiten(x: Any, mask: Any) -> Any:
    mean = _masked_mean(x, mask)
    var = _masked_mean((x - mean) ** 2, mask)
    return (x - mean) * (var + 1e-8).rsqrt() * mask


@contextlib.contextmanager
def _reference(model: Any) -> Iterator[None]:
    """The reference policy: the frozen ``ref`` adapter, or the base without adapters."""
    if REF_ADAPTER in getattr(model, "peft_config", {}):
        model.base_model.set_adapter(REF_ADAPTER)
        try:
            yield
        finally:
            model.base_model.set_adapter("default")
            for name, param in model.named_parameters():
                param.requires_grad_(".default." in name and "lora_" in name)
    else:
        with model.disable_adapter():
            yield


class _PPO:
    """The state of one PPO run."""

    def __init__(self, config: RLConfig, policy: Policy, reward: RewardModel | RewardFn) -> None:
        import torch

        self.config = config
        self.t = config.training
        self.model = policy.model
        self.tok = policy.tokenizer
        self.reward = reward
        hidden = int(self.model.config.hidden_size)
        self.value_head = torch.nn.Linear(hidden, 1)
        torch.nn.init.zeros_(self.value_head.weight)
        torch.nn.init.zeros_(self.value_head.bias)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(
            [*self.params, *self.value_head.parameters()], lr=config.model.learning_rate
        )

    def score(self, texts: list[str], rows: Sequence[dict[str, Any]]) -> list[float]:
        if isinstance(self.reward, RewardModel):
            return self.reward.totals(texts, rows)
        return [float(r) for r in self.reward(texts, rows)]

    def _forward(self, seq: Any, attn: Any, keep: int, values: bool) -> tuple[Any, Any]:
        """Per-token log-probabilities of the last ``keep`` tokens (and values before each)."""
        logp, _, hidden = completion_logps(
            self.model, seq, attn, keep, self.t.temperature, return_hidden=values
        )
        return logp, self.value_head(hidden.float()).squeeze(-1) if values else None

    def rollout(self, rows: Sequence[dict[str, Any]], seed: int) -> dict[str, Any]:
        import torch

        prompt_ids, completion_ids = sample_completions(
            self.model, self.tok, [r["prompt"] for r in rows], temperature=self.t.temperature,
            max_new_tokens=self.t.max_completion_length, seed=seed, top_p=self.t.top_p,
        )  # fmt: skip
        pad = int(self.tok.pad_token_id)
        width = max(len(p) for p in prompt_ids)
        keep = max(len(c) for c in completion_ids)
        seq = torch.tensor(
            [[pad] * (width - len(p)) + p + c + [pad] * (keep - len(c))
             for p, c in zip(prompt_ids, completion_ids, strict=True)]
        )  # fmt: skip
        attn = torch.tensor(
            [[0] * (width - len(p)) + [1] * (len(p) + len(c)) + [0] * (keep - len(c))
             for p, c in zip(prompt_ids, completion_ids, strict=True)]
        )  # fmt: skip
        mask = attn[:, width:].float()
        decoded = self.tok.batch_decode(completion_ids, skip_special_tokens=True)
        scores = self.score(decoded, rows)
        with torch.no_grad():
            logp, values = self._forward(seq, attn, keep, values=True)
            with _reference(self.model):
                ref_logp, _ = self._forward(seq, attn, keep, values=False)
        kl = (logp - ref_logp) * mask
        rewards = -self.t.kl_coef * kl
        lengths = mask.sum(-1).long().clamp(min=1)
        rewards[torch.arange(len(rows)), lengths - 1] += torch.tensor(scores)
        advantages, returns = gae(rewards, values * mask, mask, self.t.gae_lambda)
        return {
            "seq": seq,
            "attn": attn,
            "keep": keep,
            "mask": mask,
            "logp": logp,
            "values": values * mask,
            "advantages": _whiten(advantages, mask),
            "returns": returns,
            "scores": scores,
            "kl": float((kl.sum(-1)).mean()),
            "length": float(mask.sum(-1).mean()),
        }

    def update(self, batch: dict[str, Any]) -> dict[str, float]:
        import torch

        self.model.train()
        eps = self.t.clip_range
        mask = batch["mask"]
        stats: dict[str, list[float]] = {"policy_loss": [], "value_loss": [], "clip_frac": []}
        n = batch["seq"].shape[0]
        size = max(1, n // 2) if n >= 4 else n
        for _ in range(self.t.ppo_epochs):
            order = torch.randperm(n)
            for i in range(0, n, size):
                idx = order[i : i + size]
                m = mask[idx]
                logp, values = self._forward(
                    batch["seq"][idx], batch["attn"][idx], batch["keep"], values=True
                )
                ratio = torch.exp(logp - batch["logp"][idx])
                adv = batch["advantages"][idx]
                pg = torch.max(-adv * ratio, -adv * ratio.clamp(1 - eps, 1 + eps))
                policy_loss = _masked_mean(pg, m)
                old_v = batch["values"][idx]
                clipped = old_v + (values - old_v).clamp(-eps, eps)
                ret = batch["returns"][idx]
                vf = 0.5 * torch.max((values - ret) ** 2, (clipped - ret) ** 2)
                value_loss = _masked_mean(vf, m)
                loss = policy_loss + self.t.vf_coef * value_loss
                self.optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(
                    [*self.params, *self.value_head.parameters()], self.t.max_grad_norm
                )
                self.optimizer.step()
                stats["policy_loss"].append(float(policy_loss.detach()))
                stats["value_loss"].append(float(value_loss.detach()))
                stats["clip_frac"].append(float(_masked_mean(((ratio - 1).abs() > eps).float(), m)))
        return {k: sum(v) / len(v) for k, v in stats.items() if v}

    # --- checkpoints -------------------------------------------------------------------

    def save(self, directory: Path, step: int, history: list[dict[str, float]], rng: Any) -> None:
        import torch

        staging = directory.with_name(f".{directory.name}-tmp")
        shutil.rmtree(staging, ignore_errors=True)
        self.model.save_pretrained(str(staging), selected_adapters=["default"])
        torch.save(self.value_head.state_dict(), staging / "value_head.pt")
        torch.save(self.optimizer.state_dict(), staging / "optimizer.pt")
        torch.save({"torch": torch.get_rng_state(), "python": rng.getstate()}, staging / "rng.pt")
        write_json(staging / "trainer_state.json", {"global_step": step, "log_history": history})
        shutil.rmtree(directory, ignore_errors=True)
        staging.rename(directory)

    def load(self, directory: Path, rng: Any) -> tuple[int, list[dict[str, float]]]:
        import torch
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        weights = load_file(str(directory / "adapter_model.safetensors"))
        set_peft_model_state_dict(self.model, weights, adapter_name="default")
        self.value_head.load_state_dict(torch.load(directory / "value_head.pt"))
        self.optimizer.load_state_dict(torch.load(directory / "optimizer.pt"))
        state = torch.load(directory / "rng.pt", weights_only=False)
        torch.set_rng_state(state["torch"])
        rng.setstate(state["python"])
        data = json.loads((directory / "trainer_state.json").read_text(encoding="utf-8"))
        return int(data["global_step"]), list(data["log_history"])


def _prune(output_dir: Path, keep: int = 3) -> None:
    found = sorted(
        (int(p.name.split("-")[1]), p)
        for p in output_dir.glob("checkpoint-*")
        if p.name.split("-")[1].isdigit()
    )
    for _, path in found[:-keep]:
        shutil.rmtree(path, ignore_errors=True)


def _tensorboard_writer(output_dir: Path, reporters: Sequence[str]) -> Any:
    """The TensorBoard writer under ``output_dir/runs``, when TensorBoard is reported to."""
    if "tensorboard" not in reporters:
        return None
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(str(output_dir / "runs"))


def _wandb_run(config: RLConfig, reporters: Sequence[str]) -> Any:
    """The ``wandb`` module with this run started, when W&B is reported to."""
    if "wandb" not in reporters:
        return None
    import wandb

    wandb.init(config=config.model_dump(mode="json", by_alias=True), name="ppo-strategist")
    return wandb


@dataclass
class _Curves:
    """Where each iteration's figures go besides the history: TensorBoard and W&B."""

    writer: Any = None
    wandb: Any = None

    def log(self, entry: dict[str, float], step: int) -> None:
        """Record one iteration's figures."""
        if self.writer is not None:
            for key, value in entry.items():
                if key != "step":
                    self.writer.add_scalar(f"train/{key}", value, step)
        if self.wandb is not None:
            self.wandb.log(entry, step=step)

    def close(self) -> None:
        """Flush and close the TensorBoard writer."""
        if self.writer is not None:
            self.writer.close()


@dataclass
class _Loop:
    """The PPO iterations of one run and what they share."""

    run: _PPO
    config: RLConfig
    rows: list[dict[str, Any]]
    rng: random.Random
    history: list[dict[str, float]]
    curves: _Curves
    bar: Progress

    def iterate(self, step: int) -> tuple[int, int]:
        """Iterate from ``step`` to ``num_iterations``; the last step and how many ran."""
        t = self.config.training
        task = self.bar.add_task("ppo", total=t.num_iterations, completed=step, info="")
        done_here = 0
        while step < t.num_iterations:
            entry = self.one_iteration(step + 1)
            step += 1
            done_here += 1
            self.bar.update(task, advance=1, info=f"reward {entry['reward']:+.3f}")
            if step % t.save_interval == 0 or step == t.num_iterations:
                self.run.save(t.output_dir / f"checkpoint-{step}", step, self.history, self.rng)
                _prune(t.output_dir)
        return step, done_here

    def one_iteration(self, step: int) -> dict[str, float]:
        """Rollout, update and record iteration ``step``; its history entry."""
        t = self.config.training
        tick = time.perf_counter()
        batch_rows = self.rng.sample(self.rows, min(t.batch_size, len(self.rows)))
        batch = self.run.rollout(batch_rows, seed=self.rng.randrange(2**31))
        stats = self.run.update(batch)
        entry = {
            "step": float(step),
            "reward": sum(batch["scores"]) / len(batch["scores"]),
            "kl": batch["kl"],
            "completion_length": batch["length"],
            "seconds": time.perf_counter() - tick,
            **stats,
        }
        self.history.append(entry)
        self.curves.log(entry, step)
        return entry


def train_ppo(
    config: RLConfig,
    train_rows: Sequence[dict[str, Any]],
    reward: RewardModel | RewardFn,
    policy: Policy | None = None,
    progress: bool = True,
) -> RLResult:
    """Train the strategist with PPO on ``train_rows`` (see the module docstring);
    ``reward`` is the strategist's ``RewardModel`` or any ``fn(texts, rows) -> rewards``."""
    require_training_stack()
    import torch

    if config.training.use_vllm:
        raise ConfigError(
            "training.use_vllm applies to GRPO (TRL's vLLM rollouts); this PPO generates with "
            "the policy itself: set use_vllm: false or algorithm: grpo"
        )
    if world_size() > 1:
        raise ConfigError(
            f"PPO trains in one process (this launch started {world_size()}); run it without "
            "accelerate launch, or train with GRPO, which runs data parallel"
        )
    if not train_rows:
        raise DataError("no training prompts: the train segment of the library is empty")
    if not torch.cuda.is_available():
        use_all_cpus()
    t = config.training
    output_dir = t.output_dir
    output_dir.mkdir(parents=True, exist_ok=True)
    resume = resume_point(config, output_dir)
    torch.manual_seed(t.seed)
    rng = random.Random(t.seed)
    policy = policy or load_policy(config)
    run = _PPO(config, policy, reward)
    step, history = 0, list[dict[str, float]]()
    if resume is not None:
        step, history = run.load(resume, rng)
        logger.info("resuming from %s (iteration %d)", resume, step)
    reporters = available_reporters(t.report_to)
    curves = _Curves(writer=_tensorboard_writer(output_dir, reporters))
    started = time.perf_counter()
    bar = Progress(
        TextColumn("PPO"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"), disable=not progress,
    )  # fmt: skip
    with wandb_env(output_dir, "wandb" in reporters, project="stockagents-rl"), bar:
        curves.wandb = _wandb_run(config, reporters)
        try:
            loop = _Loop(run, config, list(train_rows), rng, history, curves, bar)
            step, done_here = loop.iterate(step)
        finally:
            curves.close()
    seconds = time.perf_counter() - started
    return finish_run(
        config,
        policy,
        algorithm="ppo",
        history=history,
        seconds=seconds,
        iterations=step,
        resumed_from=resume,
        timed_iterations=done_here,
        dates=[str(r.get("as_of") or "") for r in train_rows],
    )
