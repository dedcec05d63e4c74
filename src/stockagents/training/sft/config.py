"""The typed config of an SFT run: one pydantic model per YAML section.

``load_sft_config(path, agent=..., overrides=...)`` reads ``config/sft/<agent>.yaml``,
applies command-line overrides (dotted keys such as ``training.max_steps``) and validates
once; errors become one ``ConfigError`` line per problem naming the file, the field, the
value and what is expected. The keys of TRAINING_GUIDE.md's "Custom Training Config" all
work. Defaults are for a CPU: float32, no gradient checkpointing, no 4-bit, no Unsloth.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from stockagents.core.config import format_validation_error, read_source
from stockagents.core.errors import ConfigError

__all__ = [
    "AGENTS",
    "DEFAULT_TARGET_MODULES",
    "DataSection",
    "ModelSection",
    "SFTConfig",
    "TrainingSection",
    "load_sft_config",
]

AGENTS = ("news", "technical", "fundamental", "strategist")
#: Every attention and MLP projection of Llama-style models (SmolLM2, the tiny preset).
DEFAULT_TARGET_MODULES = (
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
)

Agent = Literal["news", "technical", "fundamental", "strategist"]
Reporter = Literal["tensorboard", "wandb"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ModelSection(_Section):
    base_model: str = Field(
        default="smollm2-135m",
        description="a preset ('tiny', 'smollm2-135m'), a local model directory or a hub id",
    )
    max_seq_length: int = Field(
        default=1024, ge=32, le=131072, description="an integer of tokens; longer examples are cut"
    )
    lora_rank: int = Field(default=16, ge=1, le=1024, description="a positive integer such as 16")
    lora_alpha: int = Field(default=32, ge=1, description="a positive integer such as 32")
    lora_dropout: float = Field(default=0.05, ge=0, lt=1, description="a number in [0, 1)")
    target_modules: list[str] = Field(
        default=list(DEFAULT_TARGET_MODULES),
        min_length=1,
        description="module names to adapt, such as [q_proj, v_proj]",
    )
    lora_layers: int | None = Field(
        default=None,
        ge=1,
        description="adapt only the top N layers (backpropagation stops below them: "
        "about 1.8x faster per step on a CPU with the top 10 of 30); null for all",
    )
    load_in_4bit: bool = Field(
        default=False, description="true or false (CUDA with bitsandbytes only; else ignored)"
    )
    use_unsloth: bool = Field(
        default=False, description="true or false (CUDA with unsloth installed; else ignored)"
    )
    gradient_checkpointing: bool = Field(
        default=False, description="true to save memory at about 25% more time per step"
    )
    base_weights: Literal["auto", "float32", "bfloat16"] = Field(
        default="auto",
        description="the frozen base's weights when training on a CPU: bfloat16 (stored and "
        "multiplied in bfloat16, about 1.4x faster a step where the CPU has native bfloat16), "
        "float32, or auto (bfloat16 on such a CPU for a model of 10M parameters or more)",
    )


class TrainingSection(_Section):
    output_dir: Path | None = Field(
        default=None,
        description="a directory for checkpoints and final/ (default models/<agent>/sft)",
    )
    batch_size: int = Field(default=8, ge=1, description="a positive integer: examples per step")
    gradient_accumulation_steps: int = Field(default=1, ge=1, description="a positive integer")
    max_steps: int = Field(default=300, ge=1, description="a positive integer of optimizer steps")
    learning_rate: float = Field(default=2e-4, gt=0, lt=1, description="a number such as 2e-4")
    warmup_steps: int = Field(default=10, ge=0, description="a non-negative integer of steps")
    save_steps: int = Field(default=50, ge=1, description="a positive integer of steps")
    eval_steps: int | None = Field(
        default=None, ge=1, description="a positive integer of steps (default: save_steps)"
    )
    logging_steps: int = Field(default=10, ge=1, description="a positive integer of steps")
    save_total_limit: int | None = Field(
        default=3, ge=1, description="how many checkpoints to keep (null: all)"
    )
    early_stopping_patience: int | None = Field(
        default=3,
        ge=1,
        description="evaluations without a better eval_loss before stopping (null: never stop)",
    )
    validation_fraction: float = Field(
        default=0.1, ge=0, lt=1, description="a fraction in [0, 1) held out when no validation_path"
    )
    seed: int = Field(default=42, description="an integer")
    bf16: bool = Field(default=False, description="true or false (CUDA only; ignored on CPU)")
    fp16: bool = Field(default=False, description="true or false (CUDA only; ignored on CPU)")
    group_by_length: bool = Field(
        default=True, description="true to batch examples of similar length (less padding)"
    )
    report_to: list[Reporter] = Field(
        default=["tensorboard", "wandb"],
        description="a list of 'tensorboard' and 'wandb' (wandb is offline without WANDB_API_KEY)",
    )
    resume_from_checkpoint: str | None = Field(
        default="auto",
        description="'auto' (the latest checkpoint-N in output_dir, if any), a checkpoint "
        "directory, or null to start afresh",
    )

    @model_validator(mode="after")
    def _consistent(self) -> TrainingSection:
        if self.bf16 and self.fp16:
            raise ValueError("bf16 and fp16 are both true: set at most one of them")
        eval_steps = self.eval_steps or self.save_steps
        if self.save_steps % eval_steps:
            raise ValueError(
                f"save_steps ({self.save_steps}) must be a multiple of eval_steps ({eval_steps}) "
                "so the best checkpoint can be kept; change one of them"
            )
        return self


class DataSection(_Section):
    dataset_path: Path = Field(description="a JSONL file of prompt/completion examples")
    validation_path: Path | None = Field(
        default=None, description="a JSONL file of held-out examples (default: split the data)"
    )


class SFTConfig(_Section):
    agent: Agent | None = Field(
        default=None, description="one of 'news', 'technical', 'fundamental', 'strategist'"
    )
    model: ModelSection = ModelSection()
    training: TrainingSection = TrainingSection()
    data: DataSection

    @property
    def agent_name(self) -> str:
        if self.agent is None:  # load_sft_config always sets it
            raise ConfigError("the SFT config names no agent: set 'agent:' or pass --agent")
        return self.agent

    @property
    def output_dir(self) -> Path:
        return self.training.output_dir or Path("models") / self.agent_name / "sft"

    @property
    def eval_steps(self) -> int:
        return self.training.eval_steps or self.training.save_steps


def load_sft_config(
    source: str | Path | dict[str, Any],
    agent: str | None = None,
    overrides: dict[str, Any] | None = None,
) -> SFTConfig:
    """Validate an SFT config from a YAML path or a dict.

    ``agent`` is the agent the caller trains (a training script's own); a different
    ``agent:`` in the file is an error. ``overrides`` maps dotted keys to values (None
    values are skipped).
    """
    data, origin = read_source(source, overrides, "sft config")
    if agent is not None:
        if agent not in AGENTS:
            raise ConfigError(f"unknown agent {agent!r}; use one of {', '.join(AGENTS)}")
        given = data.get("agent")
        if given is not None and given != agent:
            raise ConfigError(
                f"{origin}: agent: the file is for {given!r} but this run trains {agent!r}; "
                "use that agent's config or remove the agent key"
            )
        data["agent"] = agent
    try:
        config = SFTConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, SFTConfig, origin)) from None
    if config.agent is None:
        raise ConfigError(
            f"{origin}: agent: missing; set agent: to one of {', '.join(AGENTS)} or pass --agent"
        )
    return config
