"""Supervised fine-tuning of the agents: LoRA adapters trained with TRL's SFTTrainer.

``config`` (the typed YAML), ``data`` (the JSONL contract and the validation split) and
``trainer`` (``train_agent``: checkpoints, ``final/`` and its manifest). Importing this
package loads neither torch nor trl.
"""

from __future__ import annotations

from stockagents.training.sft.config import SFTConfig, load_sft_config
from stockagents.training.sft.data import SFTExample, read_sft_jsonl, split_validation
from stockagents.training.sft.trainer import SFTResult, latest_checkpoint, train_agent

__all__ = [
    "SFTConfig",
    "SFTExample",
    "SFTResult",
    "latest_checkpoint",
    "load_sft_config",
    "read_sft_jsonl",
    "split_validation",
    "train_agent",
]
