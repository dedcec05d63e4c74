"""Benchmark: SFT training throughput, ours against a plain TRL ``SFTTrainer``.

Both train the same LoRA (rank 16 on every attention and MLP projection) on the same
generated dataset of short agent-like prompts (about 250 prompt tokens, 40 completion
tokens) on the same base model. "Plain TRL" is ``SFTConfig()`` with its defaults except
``output_dir`` and ``max_steps`` (batch 8, gradient checkpointing on, bf16 on); when its
default bf16 refuses to run on this CPU, that is reported and it runs with its defaults
and bf16 off. Ours is ``train_agent`` with the shipped CPU defaults (batch 8, float32, no
gradient checkpointing, length-grouped batches, LM head on completion tokens only), no
validation and no checkpoints inside the measured steps.

Throughput is real (non-padding) tokens per second over the steps after the first
``--warmup`` steps, timed between step ends by the same callback for both.

Run: ``python bench/sft.py [--model smollm2-135m|tiny] [--steps 12]``. The first run on
smollm2-135m converts the GGUF file into the cache (about 20 s).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from transformers import AutoTokenizer, TrainerCallback

from stockagents.llm.presets import resolve_model
from stockagents.training.sft import load_sft_config, train_agent
from stockagents.training.sft.config import DEFAULT_TARGET_MODULES

BATCH = 8  # SFTConfig's default per-device batch; ours uses the same
_SYSTEM = (
    "You are a technical analyst. Read the indicators and answer with one JSON object: "
    "signal (bullish, neutral or bearish), score in [-1, 1], confidence in [0, 1] and a "
    "short reasoning."
)
_KEYS = ["close", "sma_20", "sma_50", "sma_200", "ema_12", "ema_26", "rsi_14", "macd",
         "macd_signal", "macd_hist", "bb_upper", "bb_lower", "atr_14", "adx_14", "obv",
         "stoch_k", "stoch_d", "cci_20", "willr_14", "roc_10", "mfi_14", "vwap",
         "ret_1d", "ret_5d", "ret_20d", "vol_20d", "volume_z"]  # fmt: skip


def _example(rng: random.Random, rows: int) -> dict[str, Any]:
    symbol = rng.choice(["AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META", "TSLA"])
    facts = [f"symbol={symbol} as_of=2023-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"]
    for _ in range(rows):
        facts.append(" ".join(f"{k}={rng.uniform(-200, 200):.2f}" for k in rng.sample(_KEYS, 4)))
    label = rng.choice(["bullish", "neutral", "bearish"])
    answer = {
        "signal": label,
        "score": round(rng.uniform(-1, 1), 2),
        "confidence": round(rng.uniform(0, 1), 2),
        "reasoning": "RSI and MACD agree; price above SMA50 and SMA200.",
    }
    return {
        "prompt": [
            {"role": "system", "content": _SYSTEM},
            {"role": "user", "content": "\n".join(facts)},
        ],
        "completion": [{"role": "assistant", "content": json.dumps(answer)}],
        "agent": "technical",
        "label": label,
    }


def make_dataset(path: Path, model_dir: str, count: int, seed: int = 0) -> dict[str, float]:
    """Write ``count`` examples; returns mean prompt and completion token counts."""
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    rng = random.Random(seed)

    def prompt_len(rows: int) -> int:
        prompt = _example(random.Random(seed), rows)["prompt"]
        return len(_ids(tokenizer.apply_chat_template(prompt, add_generation_prompt=True)))

    one, per_row = prompt_len(1), max(1, prompt_len(2) - prompt_len(1))
    rows = max(1, 1 + round((250 - one) / per_row))
    examples = [_example(rng, rows) for _ in range(count)]
    prompt_tokens, full_tokens = [], []
    for e in examples:
        p = tokenizer.apply_chat_template(e["prompt"], add_generation_prompt=True)
        f = tokenizer.apply_chat_template(e["prompt"] + e["completion"])
        prompt_tokens.append(len(_ids(p)))
        full_tokens.append(len(_ids(f)))
    path.write_text("".join(json.dumps(e) + "\n" for e in examples), encoding="utf-8")
    n = len(examples)
    return {
        "prompt_tokens": sum(prompt_tokens) / n,
        "completion_tokens": (sum(full_tokens) - sum(prompt_tokens)) / n,
        "tokens": sum(full_tokens) / n,
    }


def _ids(encoded: Any) -> list[int]:
    if hasattr(encoded, "keys"):
        encoded = encoded["input_ids"]
    return list(encoded)


class StepClock(TrainerCallback):
    """Wall time at each step end."""

    def __init__(self) -> None:
        self.ends: list[float] = []

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.ends.append(time.perf_counter())


def _throughput(clock: StepClock, warmup: int, tokens_per_step: float) -> dict[str, float]:
    ends = clock.ends
    measured = len(ends) - 1 - warmup
    if measured < 1:
        raise SystemExit("too few steps to measure: raise --steps")
    seconds = ends[-1] - ends[warmup]
    return {
        "steps_measured": measured,
        "seconds_per_step": seconds / measured,
        "tokens_per_second": tokens_per_step * measured / seconds,
    }


def run_ours(data: Path, model: str, out: Path, steps: int, warmup: int, tokens: float) -> Any:
    config = load_sft_config(
        {
            "model": {"base_model": model},
            "training": {
                "output_dir": str(out),
                "batch_size": BATCH,
                "max_steps": steps,
                "save_steps": steps,
                "logging_steps": 1,
                "validation_fraction": 0.0,
                "report_to": [],
                "resume_from_checkpoint": None,
            },
            "data": {"dataset_path": str(data)},
        },
        agent="technical",
    )
    clock = StepClock()
    train_agent(config, callbacks=[clock])
    return _throughput(clock, warmup, tokens * BATCH)


def run_plain_trl(data: Path, model: str, out: Path, steps: int, warmup: int, tokens: float) -> Any:
    from datasets import load_dataset  # type: ignore[import-untyped]
    from peft import LoraConfig
    from trl.trainer.sft_config import SFTConfig
    from trl.trainer.sft_trainer import SFTTrainer

    note = "SFTConfig() defaults (bf16 on)"
    try:
        args = SFTConfig(output_dir=str(out), max_steps=steps)
    except ValueError as exc:
        note = f"default bf16 refused on this CPU ({exc}); ran its defaults with bf16=False"
        args = SFTConfig(output_dir=str(out), max_steps=steps, bf16=False)
    dataset = load_dataset("json", data_files=str(data), split="train")
    dataset = dataset.select_columns(["prompt", "completion"])
    lora = LoraConfig(
        r=16,
        lora_alpha=32,
        lora_dropout=0.05,
        target_modules=list(DEFAULT_TARGET_MODULES),
        task_type="CAUSAL_LM",
    )
    clock = StepClock()
    trainer = SFTTrainer(
        model=resolve_model(model),
        args=args,
        train_dataset=dataset,
        peft_config=lora,
        callbacks=[clock],
    )
    trainer.train()
    figures: dict[str, Any] = dict(
        _throughput(clock, warmup, tokens * args.per_device_train_batch_size)
    )
    figures["note"] = note
    figures["batch_size"] = args.per_device_train_batch_size
    figures["gradient_checkpointing"] = args.gradient_checkpointing
    figures["bf16"] = args.bf16
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m", help="smollm2-135m (default) or tiny")
    parser.add_argument("--steps", type=int, default=12, help="optimizer steps per trainer")
    parser.add_argument("--warmup", type=int, default=2, help="first steps left out of timing")
    parser.add_argument("--examples", type=int, default=256)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    opts = parser.parse_args()
    os.environ.setdefault("WANDB_MODE", "offline")
    model_dir = resolve_model(opts.model)
    with tempfile.TemporaryDirectory(prefix="sft-bench-") as tmp:
        root = Path(tmp)
        data = root / "technical_train.jsonl"
        shape = make_dataset(data, model_dir, opts.examples)
        print(
            f"model {opts.model}: {opts.examples} examples, {shape['prompt_tokens']:.0f} prompt "
            f"+ {shape['completion_tokens']:.0f} completion tokens on average; "
            f"{opts.steps} steps of batch {BATCH}, first {opts.warmup} untimed"
        )
        plain = run_plain_trl(data, opts.model, root / "plain", opts.steps, opts.warmup,
                              shape["tokens"])  # fmt: skip
        ours = run_ours(data, opts.model, root / "ours", opts.steps, opts.warmup, shape["tokens"])
    ratio = ours["tokens_per_second"] / plain["tokens_per_second"]
    figures = {"model": opts.model, "data": shape, "plain_trl": plain, "ours": ours,
               "speedup": ratio}  # fmt: skip
    if opts.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"plain TRL: {plain['note']}")
    print(
        f"  {plain['tokens_per_second']:8.0f} tokens/s  {plain['seconds_per_step']:.2f} s/step "
        f"(gradient checkpointing {plain['gradient_checkpointing']}, bf16 {plain['bf16']})"
    )
    print(
        f"ours:      {ours['tokens_per_second']:8.0f} tokens/s  "
        f"{ours['seconds_per_step']:.2f} s/step"
    )
    print(f"ratio ours / plain TRL: {ratio:.2f}x")


if __name__ == "__main__":
    main()
