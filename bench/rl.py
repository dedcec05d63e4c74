"""Benchmark: the cost of one RL iteration for the strategist, and where it goes.

On real strategist prompts (a run's ``data/rl_train.jsonl``) and an SFT strategist
adapter, it times the passes of one iteration at a batch of ``--rows`` completions:
sampling (``rollout.sample_completions``, the project's decoding loop) against
``model.generate`` on the same prompts, and the log-prob pass with the shared system
prompt run once (``rollout.completion_logps``) against every row run whole, without and
with gradients. Then it runs ``--iterations`` GRPO and PPO iterations at the cpu profile
and prints seconds per iteration (the first, which loads and warms up, is left out).

``--base-weights float32`` measures the float32 base of before (``auto`` keeps the frozen
base in bfloat16 on a CPU that multiplies it natively).

Run: ``python bench/rl.py --sft DIR --prompts RUN/data/rl_train.jsonl [--rows 16]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from stockagents.core.threads import use_all_cpus
from stockagents.pipelines.profiles import RL_PROFILES
from stockagents.training.rl import rollout
from stockagents.training.rl.config import load_rl_config
from stockagents.training.rl.grpo import train_grpo
from stockagents.training.rl.policy import load_policy
from stockagents.training.rl.ppo import train_ppo
from stockagents.training.rl.rewards import Desk, RewardWeights
from stockagents.training.rl.scoring import RewardModel


def _batch(tok: Any, prompts: list[list[int]], completions: list[list[int]]) -> tuple[Any, ...]:
    pad = int(tok.pad_token_id)
    width, keep = max(map(len, prompts)), max(map(len, completions))
    pairs = list(zip(prompts, completions, strict=True))
    seq = torch.tensor(
        [[pad] * (width - len(p)) + p + c + [pad] * (keep - len(c)) for p, c in pairs]
    )
    attn = torch.tensor(
        [[0] * (width - len(p)) + [1] * (len(p) + len(c)) + [0] * (keep - len(c)) for p, c in pairs]
    )
    return seq, attn, keep


def _timed(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def passes(sft: Path, rows: list[dict[str, Any]], n: int, base: str) -> dict[str, float]:
    config = load_rl_config({"model": {"sft_checkpoint": str(sft), "base_weights": base}})
    policy = load_policy(config, with_reference=False)
    model, tok = policy.model, policy.tokenizer
    group = 4
    prompts = [r["prompt"] for r in rows[: n // group] for _ in range(group)]
    out: dict[str, float] = {}
    start = time.perf_counter()
    ids, completions = rollout.sample_completions(
        model, tok, prompts, temperature=1.0, max_new_tokens=96, seed=0
    )
    out["sample_ours_s"] = time.perf_counter() - start
    tok.padding_side = "left"
    texts = [
        tok.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in prompts
    ]
    enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    model.eval()
    with torch.no_grad():
        out["sample_generate_s"] = _timed(
            lambda: model.generate(
                **enc, do_sample=True, temperature=1.0, max_new_tokens=96,
                pad_token_id=tok.pad_token_id,
            )
        )  # fmt: skip
    seq, attn, keep = _batch(tok, ids, completions)
    out["completion_tokens"] = float(sum(map(len, completions)) / len(completions))
    shared = rollout.MIN_SHARED
    for label, minimum in (("shared", shared), ("whole", 10**9)):
        rollout.MIN_SHARED = minimum
        with torch.no_grad():
            out[f"logps_{label}_nograd_s"] = _timed(
                lambda: rollout.completion_logps(model, seq, attn, keep)
            )
        model.train()

        def step() -> None:
            logps, _, _ = rollout.completion_logps(model, seq, attn, keep)
            logps.sum().backward()

        out[f"logps_{label}_grad_s"] = _timed(step)
        model.zero_grad()
    rollout.MIN_SHARED = shared
    return out


def iterations(
    sft: Path, rows: list[dict[str, Any]], algorithm: str, n: int, base: str
) -> list[float]:
    profile = RL_PROFILES["cpu"]
    with tempfile.TemporaryDirectory() as tmp:
        config = load_rl_config(
            {
                "model": {
                    "sft_checkpoint": str(sft),
                    "learning_rate": profile.learning_rate,
                    "base_weights": base,
                },
                "training": {
                    "output_dir": tmp,
                    "num_iterations": n,
                    "batch_size": profile.batch_size
                    if algorithm == "grpo"
                    else profile.ppo_batch_size,
                    "group_size": profile.group_size,
                    "kl_coef": profile.kl_coef,
                    "max_completion_length": profile.max_completion_length,
                    "save_interval": 10**6,
                    "report_to": [],
                },
            },
            algorithm=algorithm,
        )
        reward = RewardModel(Desk(), RewardWeights())
        if algorithm == "grpo":
            result = train_grpo(config, rows, reward)
            times = [h["step_time"] for h in result.history if "step_time" in h]
        else:
            result = train_ppo(config, rows, reward, progress=False)
            times = [h["seconds"] for h in result.history]
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sft", type=Path, required=True, help="an SFT strategist adapter")
    parser.add_argument("--prompts", type=Path, required=True, help="a run's rl_train.jsonl")
    parser.add_argument("--rows", type=int, default=16, help="completions per pass")
    parser.add_argument("--iterations", type=int, default=4, help="iterations per algorithm")
    parser.add_argument(
        "--base-weights",
        default="auto",
        choices=["auto", "float32", "bfloat16"],
        help="the frozen base's weights (auto: bfloat16 where the CPU multiplies it natively)",
    )
    parser.add_argument(
        "--only", choices=["grpo", "ppo"], help="time the iterations of one algorithm only"
    )
    args = parser.parse_args()
    use_all_cpus()
    lines = args.prompts.read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines if line.strip()]
    figures: dict[str, Any] = {"rows": args.rows, "base_weights": args.base_weights}
    figures.update(passes(args.sft, rows, args.rows, args.base_weights))
    figures["sample_speedup"] = figures["sample_generate_s"] / figures["sample_ours_s"]
    figures["logps_grad_speedup"] = figures["logps_whole_grad_s"] / figures["logps_shared_grad_s"]
    for algorithm in [args.only] if args.only else ["grpo", "ppo"]:
        times = iterations(args.sft, rows, algorithm, args.iterations, args.base_weights)
        later = times[1:] or times
        figures[f"{algorithm}_seconds_per_iteration"] = statistics.median(later)
        figures[f"{algorithm}_iteration_times"] = [round(t, 1) for t in times]
    print(
        json.dumps(
            {k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()}, indent=2
        )
    )


if __name__ == "__main__":
    main()
