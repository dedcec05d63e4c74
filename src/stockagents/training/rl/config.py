"""The typed config of a strategist RL run (GRPO or PPO): one pydantic model per section.

``load_rl_config(path, algorithm=..., overrides=...)`` reads ``config/rl/<algo>_config.yaml``,
applies dotted overrides (``training.num_iterations``) and validates once; problems become
one ``ConfigError`` line each, naming the file, the field and what is expected. The keys of
TRAINING_GUIDE.md's "Custom RL Config" all work (``model.sft_checkpoint``,
``model.lora_rank``, ``model.lora_alpha``, ``model.learning_rate``, ``training.output_dir``,
``num_iterations``, ``batch_size``, ``save_interval``, ``kl_coef``, ``vf_coef``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stockagents.core.config import format_validation_error, read_source
from stockagents.core.errors import ConfigError
from stockagents.core.symbols import SymbolList
from stockagents.training.rl.rewards import RewardWeights
from stockagents.training.sft.config import DEFAULT_TARGET_MODULES

__all__ = ["RLConfig", "load_rl_config"]

ALGORITHMS = ("grpo", "ppo")
Algorithm = Literal["grpo", "ppo"]
Reporter = Literal["tensorboard", "wandb"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class RLModelSection(_Section):
    sft_checkpoint: Path | None = Field(
        default=Path("models/strategist/sft/final"),
        description="the strategist's SFT adapter directory (its 'final/'); null starts a "
        "fresh LoRA on base_model",
    )
    base_model: str = Field(
        default="smollm2-135m",
        description="the base model when sft_checkpoint is null (a preset, directory or hub id)",
    )
    lora_rank: int = Field(
        default=16, ge=1, le=1024, description="a positive integer (a fresh LoRA only)"
    )
    lora_alpha: int = Field(default=32, ge=1, description="a positive integer (a fresh LoRA only)")
    lora_layers: int | None = Field(
        default=10, ge=1, description="a fresh LoRA adapts the top N layers; null for all"
    )
    target_modules: list[str] = Field(
        default=list(DEFAULT_TARGET_MODULES),
        min_length=1,
        description="modules a fresh LoRA adapts, such as [q_proj, v_proj]",
    )
    learning_rate: float = Field(default=1e-5, gt=0, lt=1, description="a number such as 1e-5")
    base_weights: Literal["auto", "float32", "bfloat16"] = Field(
        default="auto",
        description="the frozen base's weights when training on a CPU: bfloat16 (stored and "
        "multiplied in bfloat16, about 1.4x faster a step where the CPU has native bfloat16), "
        "float32, or auto (bfloat16 on such a CPU for a model of 10M parameters or more)",
    )


class RLTrainingSection(_Section):
    output_dir: Path = Field(
        default=Path("models/strategist/rl"),
        description="a directory for checkpoints and final/",
    )
    num_iterations: int = Field(default=100, ge=1, description="a positive integer of updates")
    batch_size: int = Field(default=8, ge=1, description="prompts per iteration")
    group_size: int = Field(
        default=4, ge=2, description="completions per prompt (GRPO's group; at least 2)"
    )
    save_interval: int = Field(default=20, ge=1, description="iterations between checkpoints")
    kl_coef: float = Field(default=0.05, ge=0, description="the KL penalty against the SFT start")
    vf_coef: float = Field(default=0.1, ge=0, description="PPO's value-loss weight")
    clip_range: float = Field(default=0.2, gt=0, lt=1, description="the ratio clip, such as 0.2")
    ppo_epochs: int = Field(default=2, ge=1, description="PPO passes over each rollout")
    gae_lambda: float = Field(default=0.95, ge=0, le=1, description="GAE's lambda")
    temperature: float = Field(default=1.0, gt=0, description="sampling temperature")
    top_p: float = Field(
        default=1.0, gt=0, le=1, description="nucleus sampling: the probability mass kept"
    )
    max_completion_length: int = Field(default=96, ge=8, description="tokens a completion may have")
    max_grad_norm: float = Field(default=1.0, gt=0, description="gradient clipping norm")
    mask_tied_groups: bool = Field(
        default=True,
        description="GRPO: leave groups whose rewards all tie out of the loss (no signal)",
    )
    use_vllm: bool = Field(
        default=False,
        description="GRPO: generate the rollouts with vLLM (TRL's use_vllm; needs CUDA and vllm)",
    )
    vllm_mode: Literal["colocate", "server"] = Field(
        default="colocate",
        description="vLLM in the training process (colocate) or a `trl vllm-serve` server",
    )
    validation_examples: int = Field(
        default=60, ge=0, description="validation prompts scored before and after (0: none)"
    )
    seed: int = Field(default=42, description="an integer")
    report_to: list[Reporter] = Field(
        default=["tensorboard", "wandb"],
        description="a list of 'tensorboard' and 'wandb' (wandb is offline without a key)",
    )
    resume_from_checkpoint: str | None = Field(
        default="auto", description="'auto' (the latest checkpoint-N), a checkpoint, or null"
    )


class RLDataSection(_Section):
    experience_library: str | None = Field(  # a string: a Path would fold a URL's '//'
        default=None,
        description="an experience_library.db or a database URL (postgresql+psycopg://...); "
        "null collects one with the expert agents into output_dir",
    )
    run_id: str | None = Field(default=None, description="the library's run to read (null: all)")
    app_config: Path | None = Field(
        default=None,
        description="the stockagents config the trajectories were collected with (null: defaults)",
    )
    symbols: SymbolList = Field(
        default=["AAPL", "MSFT", "GOOGL", "AMZN", "TSLA"],
        description="symbols to collect when experience_library is null",
    )
    num_trajectories: int = Field(
        default=500, ge=1, description="steps to collect when experience_library is null"
    )
    max_examples: int | None = Field(
        default=None, ge=1, description="use at most this many train prompts (null: all)"
    )


class RLRewardsSection(_Section):
    validity: float = Field(default=1.0, ge=0, description="weight of the invalid-output penalty")
    return_: float = Field(
        default=1.0, ge=0, alias="return", description="weight of the volatility-scaled return"
    )
    oversize: float = Field(default=0.5, ge=0, description="weight of the oversizing penalty")
    calibration: float = Field(default=0.25, ge=0, description="weight of the calibration term")
    return_clip: float = Field(default=3.0, gt=0, description="clip of the return term")

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False
    )

    def weights(self) -> RewardWeights:
        return RewardWeights(
            validity=self.validity,
            ret=self.return_,
            oversize=self.oversize,
            calibration=self.calibration,
            return_clip=self.return_clip,
        )


class RLConfig(_Section):
    algorithm: Algorithm = Field(default="grpo", description="'grpo' or 'ppo'")
    model: RLModelSection = RLModelSection()
    training: RLTrainingSection = RLTrainingSection()
    data: RLDataSection = RLDataSection()
    rewards: RLRewardsSection = RLRewardsSection()


def load_rl_config(
    source: str | Path | dict[str, Any] | None,
    algorithm: str | None = None,
    overrides: dict[str, Any] | None = None,
) -> RLConfig:
    """Validate an RL config from a YAML path, a dict or None (the defaults).

    ``algorithm`` is the one the caller runs; a different ``algorithm:`` in the file is
    an error. ``overrides`` maps dotted keys to values (None values are skipped).
    """
    data, origin = read_source(source, overrides, "rl config")
    if algorithm is not None:
        if algorithm not in ALGORITHMS:
            raise ConfigError(f"unknown algorithm {algorithm!r}; use grpo or ppo")
        given = data.get("algorithm")
        if given is not None and given != algorithm:
            raise ConfigError(
                f"{origin}: algorithm: the file is for {given!r} but this script runs "
                f"{algorithm!r}; use config/rl/{algorithm}_config.yaml"
            )
        data["algorithm"] = algorithm
    try:
        return RLConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, RLConfig, origin)) from None
