"""The run profiles: how big an SFT, RL or complete run is, by name (``--profile``).

Each kind of run has the same three profiles: ``tiny`` (the random tiny model, for tests
and smoke runs; its sizes are ceilings, larger requests are cut with a warning), ``cpu``
(the default, sized for 2 cores) and ``gpu`` (the guide's Llama 3.1 8B in 4-bit, on
CUDA). A complete run takes its own sizes from ``COMPLETE_PROFILES`` and the rest from
the SFT and RL profiles of the same name. This module only holds the numbers: the runs
that use them are ``sft.py``, ``rl.py`` and ``complete.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = [
    "COMPLETE_PROFILES",
    "RL_PROFILES",
    "SFT_PROFILES",
    "CompleteProfile",
    "RLProfile",
    "SFTProfile",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SFTProfile:
    """How big a run is: model, data and training sizes."""

    base_model: str
    num_examples: int
    heldout: int
    max_steps: int
    batch_size: int
    learning_rate: float
    lora_rank: int
    max_seq_length: int
    lora_layers: int | None = None
    load_in_4bit: bool = False
    bf16: bool = False
    report_to: tuple[str, ...] = ("tensorboard", "wandb")
    #: Steps for agents that need another number than ``max_steps``.
    agent_steps: Mapping[str, int] = field(default_factory=dict)
    #: A smoke profile: its sizes are ceilings, larger requests are cut (with a warning).
    cap: bool = False

    def steps_for(self, agent: str) -> int:
        """Optimizer steps for ``agent``."""
        return self.agent_steps.get(agent, self.max_steps)


# cpu: measured on 2 cores (docs/TRAINING.md): news and fundamental pass their targets
# at 40 steps, technical needs about 60 and the strategist about 80 (62% at 40, 98% at 80).
SFT_PROFILES = {
    "tiny": SFTProfile("tiny", 48, 16, 6, 8, 3e-3, 8, 512, report_to=("tensorboard",), cap=True),
    "cpu": SFTProfile(
        "smollm2-135m", 600, 60, 60, 8, 2e-3, 16, 512, lora_layers=10,
        agent_steps={"news": 40, "fundamental": 40, "strategist": 80},
    ),
    "gpu": SFTProfile(
        "unsloth/llama-3.1-8b-bnb-4bit", 1000, 100, 500, 4, 2e-4, 16, 2048,
        load_in_4bit=True, bf16=True,
    ),
}  # fmt: skip


@dataclass(frozen=True)
class RLProfile:
    """How big an RL run is."""

    batch_size: int
    group_size: int
    learning_rate: float
    kl_coef: float
    max_completion_length: int
    temperature: float = 1.0
    validation_examples: int = 60
    ppo_batch_size: int = 8  # PPO samples one completion per prompt
    report_to: tuple[str, ...] = ("tensorboard", "wandb")
    #: A smoke profile's ceilings: larger requests are cut to these (with a warning).
    max_trajectories: int | None = None
    max_iterations: int | None = None

    def capped(self, name: str, value: int, ceiling: int | None) -> int:
        """``value``, or the profile's ``ceiling`` for it when that is lower."""
        if ceiling is not None and value > ceiling:
            logger.warning("this profile caps %s at %d (asked %d)", name, ceiling, value)
            return ceiling
        return value


RL_PROFILES = {
    "tiny": RLProfile(4, 2, 1e-3, 0.05, 48, temperature=1.0, validation_examples=8,
                      report_to=("tensorboard",), max_trajectories=60, max_iterations=4),
    "cpu": RLProfile(4, 4, 5e-5, 0.05, 96, validation_examples=300),
    "gpu": RLProfile(16, 8, 1e-5, 0.05, 128, validation_examples=300),
}  # fmt: skip


@dataclass(frozen=True)
class CompleteProfile:
    """A run's default sizes; the SFT and RL profiles of the same name do the rest."""

    sft_examples: int
    rl_trajectories: int
    rl_iterations: int
    test_days: int
    compare_base: bool
    rl_backtest: bool
    #: A smoke profile: its sizes are ceilings, larger requests are cut.
    cap: bool = False
    #: The symbols RL collects (and validates) on and the evaluation tests: "all" (every
    #: symbol with prices) or None (the run's).
    test_symbols: str | None = None
    #: The RL learning rate when it is not the RL profile's (a run of few iterations).
    rl_learning_rate: float | None = None


# cpu: the SFT profile's steps per agent, 10 GRPO iterations instead of the guide's 100 (at
# 2e-4 instead of 5e-5: chosen on the validation reward, where 5e-5 left the strategist
# where SFT put it, +0.0010 [-0.0034, +0.0055], and 2e-4 gained +0.0064 [+0.0025,
# +0.0104] on the same 300 prompts; the guide's 100 iterations keep 5e-5), no
# evaluation of the untrained base model, and an evaluation of every symbol with prices
# (the sample's six) over the last 250 trading days. Measured on 2 cores, alone
# (docs/EVALUATION.md): 67.3 min, of which SFT 18.9, RL 10.1 and evaluation 38.0, over
# the hour it is meant for.
# A run's date splits grow their test segment to hold the window, so training and
# validation dates stay out of it.
COMPLETE_PROFILES = {
    "tiny": CompleteProfile(24, 48, 3, 60, compare_base=False, rl_backtest=False, cap=True),
    "cpu": CompleteProfile(600, 300, 10, 250, compare_base=False, rl_backtest=False,
                           test_symbols="all", rl_learning_rate=2e-4),
    "gpu": CompleteProfile(1000, 500, 100, 500, compare_base=True, rl_backtest=True,
                           test_symbols="all"),
}  # fmt: skip
