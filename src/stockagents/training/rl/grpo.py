"""GRPO for the strategist with TRL's ``GRPOTrainer``.

Each iteration samples ``group_size`` completions for each of ``batch_size`` prompts,
scores them with the reward terms (validity, return, oversizing, calibration; TRL logs
each term's mean as ``rewards/<term>/mean``), turns rewards into advantages within each
prompt's group and takes one optimizer step with the KL penalty ``kl_coef`` toward the SFT
start (TRL keeps a frozen ``ref`` copy of the adapter). A group whose rewards all tie has
no learning signal; TRL logs their share as ``frac_reward_zero_std``, and with
``mask_tied_groups`` they are left out of the loss so they do not dilute the batch's
normalisation. Checkpoints every ``save_interval`` iterations resume a killed run.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import os
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from stockagents.core.errors import ConfigError, DataError
from stockagents.core.packages import is_installed
from stockagents.training.processes import rank, share_cpus, world_size
from stockagents.training.progress import step_progress
from stockagents.training.rl.config import RLConfig
from stockagents.training.rl.policy import Policy, load_policy, require_training_stack
from stockagents.training.rl.results import RLResult, finish_run, resume_point
from stockagents.training.rl.rewards import RewardBreakdown
from stockagents.training.rl.rollout import completion_logps, sample_completions
from stockagents.training.rl.scoring import RewardModel
from stockagents.training.tracking import available_reporters, wandb_env

__all__ = ["RewardFn", "mask_tied_groups", "train_grpo"]

logger = logging.getLogger(__name__)

#: ``fn(completions, rows) -> rewards``: the generic form the trainers accept.
RewardFn = Callable[[Sequence[str], Sequence[dict[str, Any]]], list[float]]


def _texts(completions: Sequence[Any]) -> list[str]:
    out = []
    for c in completions:
        if isinstance(c, list):  # conversational: [{"role": "assistant", "content": ...}]
            out.append(str(c[0]["content"]) if c else "")
        else:
            out.append(str(c))
    return out


def _rows(n: int, columns: dict[str, Any]) -> list[dict[str, Any]]:
    return [{k: v[i] for k, v in columns.items() if isinstance(v, list)} for i in range(n)]


def reward_functions(reward: RewardModel) -> tuple[list[Callable[..., list[float]]], list[float]]:
    """One TRL reward function per term (so each is logged) and their weights. TRL calls
    them one after another on the same batch: it is scored once, for the first."""
    w = reward.weights
    last: dict[str, Any] = {"key": None, "scores": []}

    def scores(completions: Any, columns: dict[str, Any]) -> list[RewardBreakdown]:
        texts = _texts(completions)
        rows = _rows(len(texts), columns)
        key = tuple((t, r.get("symbol"), r.get("as_of")) for t, r in zip(texts, rows, strict=True))
        if key != last["key"]:
            last["key"] = key
            last["scores"] = [reward.score(t, r) for t, r in zip(texts, rows, strict=True)]
        return list(last["scores"])

    def term(name: str) -> Callable[..., list[float]]:
        def fn(prompts: Any, completions: Any, **columns: Any) -> list[float]:
            return [float(getattr(s, name)) for s in scores(completions, columns)]

        fn.__name__ = name
        return fn

    funcs = [term("validity"), term("ret"), term("oversize"), term("calibration")]
    return funcs, [w.validity, w.ret, -w.oversize, w.calibration]


def _generic(fn: RewardFn) -> Callable[..., list[float]]:
    def reward(prompts: Any, completions: Any, **columns: Any) -> list[float]:
        texts = _texts(completions)
        return [float(r) for r in fn(texts, _rows(len(texts), columns))]

    reward.__name__ = "reward"
    return reward


def mask_tied_groups(advantages: Any, completion_mask: Any, group: int) -> tuple[Any, int]:
    """``completion_mask`` with the rows of groups whose advantages are all zero (their
    rewards tied) masked out, and how many groups that was. When every group ties the
    mask is returned as it is (the step is then the KL term alone)."""
    tied = advantages.view(-1, group).abs().amax(dim=1) < 1e-8
    count = int(tied.sum())
    if count == 0 or bool(tied.all()):
        return completion_mask, 0
    keep = (~tied).repeat_interleave(group).to(completion_mask.dtype)
    return completion_mask * keep.unsqueeze(1), count


def _trainer_class() -> type[Any]:
    import torch
    from trl.trainer.grpo_trainer import GRPOTrainer

    class StrategistGRPOTrainer(GRPOTrainer):
        """``GRPOTrainer`` whose two costly passes run the prompts' shared prefix once
        (``rollout``), and that can leave tied groups out of the loss."""

        drop_tied = True

        def _get_per_token_logps_and_entropies(
            self,
            model: Any,
            input_ids: Any,
            attention_mask: Any,
            logits_to_keep: int,
            batch_size: int | None = None,
            compute_entropy: bool = False,
            compute_aux_loss: bool = False,
            **multimodal: Any,
        ) -> tuple[Any, Any, Any]:
            if compute_aux_loss or any(v is not None for v in multimodal.values()):
                parent: Any = super()
                return parent._get_per_token_logps_and_entropies(  # type: ignore[no-any-return]
                    model, input_ids, attention_mask, logits_to_keep, batch_size,
                    compute_entropy, compute_aux_loss, **multimodal,
                )  # fmt: skip
            unwrapped = self.accelerator.unwrap_model(model)
            size = batch_size or input_ids.size(0)
            logps, entropies = [], []
            for i in range(0, input_ids.size(0), size):
                lp, ent, _ = completion_logps(
                    unwrapped, input_ids[i : i + size], attention_mask[i : i + size],
                    logits_to_keep, self.temperature, compute_entropy,
                )  # fmt: skip
                logps.append(lp)
                entropies.append(ent)
            entropy = torch.cat(entropies) if compute_entropy else None
            return torch.cat(logps), entropy, None

        def _generate_and_score_completions(self, inputs: Any) -> dict[str, Any]:
            output: dict[str, Any] = super()._generate_and_score_completions(inputs)
            model: Any = self.model
            if not (self.drop_tied and model.training):
                return output
            mask, tied = mask_tied_groups(
                output["advantages"], output["completion_mask"], int(self.num_generations or 1)
            )
            if tied:
                output["completion_mask"] = mask
                if isinstance(output.get("num_items_in_batch"), (torch.Tensor, int)):
                    output["num_items_in_batch"] = mask.sum().clamp(min=1)
            return output

    return StrategistGRPOTrainer


def _args(config: RLConfig, output_dir: Path, reporters: list[str]) -> Any:
    from trl.trainer.grpo_config import GRPOConfig

    t = config.training
    processes = world_size()
    if t.batch_size % processes:
        raise ConfigError(
            f"training.batch_size: {t.batch_size} prompts do not split evenly over {processes} "
            f"processes; use a multiple of {processes}"
        )
    cpu_parallel = processes > 1 and not _cuda()
    return GRPOConfig(
        output_dir=str(output_dir),
        run_name=f"grpo-strategist-{dt.datetime.now():%Y%m%d-%H%M%S}",
        # the batch's prompts are shared out: each process samples whole groups for its own
        per_device_train_batch_size=t.batch_size // processes * t.group_size,
        gradient_accumulation_steps=1,
        num_generations=t.group_size,
        max_completion_length=t.max_completion_length,
        temperature=t.temperature,
        learning_rate=config.model.learning_rate,
        lr_scheduler_type="constant",
        warmup_steps=0,
        beta=t.kl_coef,
        max_steps=t.num_iterations,
        save_strategy="steps",
        save_steps=t.save_interval,
        save_total_limit=3,
        logging_steps=1,
        max_grad_norm=t.max_grad_norm,
        seed=t.seed,
        data_seed=t.seed,
        bf16=False,
        fp16=False,
        # TRL turns it on by default; on a CPU it only costs time (the backward pass runs
        # the forward again) and it would disable the shared-prefix log-prob pass
        gradient_checkpointing=False,
        report_to=reporters or "none",
        disable_tqdm=True,  # training.progress shows the steps
        dataloader_num_workers=0,
        use_cpu=not _cuda(),
        ddp_backend="gloo" if cpu_parallel else None,
        remove_unused_columns=False,
        use_vllm=t.use_vllm,
        vllm_mode=t.vllm_mode,
    )


def check_vllm(config: RLConfig) -> None:
    """``training.use_vllm`` needs CUDA and the vllm package: say so before any loading."""
    if not config.training.use_vllm:
        return
    if not _cuda():
        raise ConfigError(
            "training.use_vllm: vLLM generates on CUDA GPUs and this machine has none; "
            "set use_vllm: false (rollouts then use the model's own generate)"
        )
    if not is_installed("vllm"):
        raise ConfigError("training.use_vllm: the vllm package is not installed; pip install vllm")


def _cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def train_grpo(
    config: RLConfig,
    train_rows: Sequence[dict[str, Any]],
    reward: RewardModel | RewardFn,
    callbacks: Sequence[Any] = (),
    policy: Policy | None = None,
) -> RLResult:
    """Train the strategist with GRPO on ``train_rows`` (``RLExample.record`` dicts: a
    ``prompt`` of chat messages and the label columns the reward reads).

    ``reward`` is the strategist's ``RewardModel`` or any ``fn(texts, rows) -> rewards``
    (tests use a toy task). Writes ``output_dir/checkpoint-N`` and ``output_dir/final``.
    """
    require_training_stack()
    from datasets import Dataset  # type: ignore[import-untyped]

    if not train_rows:
        raise DataError("no training prompts: the train segment of the library is empty")
    check_vllm(config)
    if not _cuda():
        share_cpus()
    output_dir = config.training.output_dir
    output_dir.mkdir(parents=True, exist_ok=True)
    resume = resume_point(config, output_dir)
    policy = policy or load_policy(config, with_reference=False)  # TRL adds its own 'ref'
    if isinstance(reward, RewardModel):
        funcs, weights = reward_functions(reward)
    else:
        funcs, weights = [_generic(reward)], [1.0]
    reporters = available_reporters(config.training.report_to)
    args = _args(config, output_dir, reporters)
    args.reward_weights = weights
    trainer_class = _trainer_class()
    trainer_class.drop_tied = config.training.mask_tied_groups
    seeds = random.Random(config.training.seed + rank())  # each process its own samples

    def rollout(prompts: list[Any], trainer: Any) -> dict[str, Any]:
        model = trainer.accelerator.unwrap_model(trainer.model)
        prompt_ids, completion_ids = sample_completions(
            model, policy.tokenizer, prompts, temperature=config.training.temperature,
            max_new_tokens=config.training.max_completion_length,
            seed=seeds.randrange(2**31), top_p=config.training.top_p,
        )  # fmt: skip
        return {"prompt_ids": prompt_ids, "completion_ids": completion_ids, "logprobs": None}

    started = time.perf_counter()
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # rollout_func is documented
    with wandb_env(output_dir, "wandb" in reporters, project="stockagents-rl"):
        trainer = trainer_class(
            model=policy.model,
            reward_funcs=funcs,
            args=args,
            train_dataset=Dataset.from_list(list(train_rows)),
            processing_class=policy.tokenizer,
            callbacks=list(callbacks),
            rollout_func=rollout,
        )
        if resume is not None:
            logger.info("resuming from %s", resume)
        with step_progress(trainer, "GRPO"):
            trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    seconds = time.perf_counter() - started
    history = [
        {k: float(v) for k, v in entry.items() if isinstance(v, (int, float))}
        for entry in trainer.state.log_history
        if "reward" in entry
    ]
    finish = functools.partial(
        finish_run,
        config,
        policy,
        algorithm="grpo",
        history=history,
        seconds=seconds,
        iterations=int(trainer.state.global_step),
        resumed_from=resume,
        timed_iterations=int(trainer.state.global_step) - _step_of(resume),
        dates=[str(r.get("as_of") or "") for r in train_rows],
    )
    # data parallel: the main process writes final/ (the adapters are the same on all)
    result = finish() if trainer.is_world_process_zero() else None
    trainer.accelerator.wait_for_everyone()
    return result or finish(write=False)


def _step_of(checkpoint: Path | None) -> int:
    if checkpoint is None:
        return 0
    suffix = checkpoint.name.rsplit("-", 1)[-1]
    return int(suffix) if suffix.isdigit() else 0
