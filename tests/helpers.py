"""Helpers shared by tests: synthetic bars, price directories and tiny adapters."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO = Path(__file__).parents[1]


def make_bars(closes: list[float] | np.ndarray, start: str = "2020-01-01") -> pd.DataFrame:
    """Consistent OHLCV bars around a close path, on business days."""
    close = np.asarray(closes, dtype=float)
    index = pd.bdate_range(start, periods=len(close), name="date")
    open_ = np.concatenate([[close[0]], close[:-1]])
    high = np.maximum(open_, close) * 1.005
    low = np.minimum(open_, close) * 0.995
    volume = np.full(len(close), 1_000_000.0)
    return pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": volume}, index=index
    )


def write_price_dir(directory: Path, frames: dict[str, pd.DataFrame]) -> Path:
    """Write ``frames`` as ``SYMBOL.csv`` files (the csv provider's layout)."""
    directory.mkdir(parents=True, exist_ok=True)
    for symbol, frame in frames.items():
        frame.reset_index().assign(date=lambda f: f["date"].dt.strftime("%Y-%m-%d")).to_csv(
            directory / f"{symbol}.csv", index=False
        )
    return directory


def make_tiny_adapter(path: Path, seed: int, agent: str = "news") -> Path:
    """A LoRA adapter on the tiny preset with random (non-zero) weights, plus a manifest."""
    import json

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from stockagents.llm.presets import resolve_model

    base = AutoModelForCausalLM.from_pretrained(resolve_model("tiny"))
    torch.manual_seed(seed)
    config = LoraConfig(
        r=4, lora_alpha=16, target_modules=["q_proj", "v_proj"], init_lora_weights=False
    )
    model = get_peft_model(base, config)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_" in name:
                param.normal_(0.0, 0.5)
    model.save_pretrained(path)
    (path / "manifest.json").write_text(
        json.dumps(
            {"kind": "lora", "base_model": "tiny", "agent": agent, "version": f"test-{seed}"}
        )
    )
    return path


def train_tiny_sft(
    root: Path, agent: str, examples: int, max_steps: int, rank: int = 4, **training: Any
) -> Path:
    """An SFT adapter on the tiny preset, trained on ``examples`` expert-teacher examples
    (drawn from the train segment, so its manifest records real training dates)."""
    from stockagents.training.sft import load_sft_config, train_agent
    from stockagents.training.synthetic.generate import generate_dataset
    from stockagents.training.synthetic.teachers import make_teacher

    root.mkdir(parents=True, exist_ok=True)
    data = root / f"{agent}_train.jsonl"
    generate_dataset(agent, examples, data, make_teacher("expert"), seed=0, progress=False)
    config = load_sft_config(
        {
            "model": {"base_model": "tiny", "lora_rank": rank, "lora_alpha": 2 * rank},
            "training": {
                "output_dir": str(root / "sft"),
                "max_steps": max_steps,
                "save_steps": max_steps,
                "report_to": [],
                "validation_fraction": 0.0,
                **training,
            },
            "data": {"dataset_path": str(data)},
        },
        agent=agent,
    )
    return train_agent(config).final_dir


def launch_two_processes(
    script_text: str, args: list[str], tmp_path: Path, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """``accelerate launch --num_processes 2`` of a script (its text, written to
    ``tmp_path``) with ``args``, on CPU, one torch thread a process; the finished process."""
    script = tmp_path / "launched.py"
    script.write_text(textwrap.dedent(script_text), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO}", "OMP_NUM_THREADS": "1"}
    launch = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
        "--main_process_port", "0", str(script), *args,
    ]  # fmt: skip
    return subprocess.run(
        launch, env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout
    )
