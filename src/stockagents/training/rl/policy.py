"""The policy RL trains: the strategist's SFT adapter made trainable again, or a fresh LoRA.

``load_policy(config)`` loads the base model in float32 with its tokenizer and returns a
peft model whose ``default`` adapter trains. Started from an SFT checkpoint, the adapter
keeps that checkpoint's rank and layers (``lora_rank``/``lora_alpha`` apply to a fresh
LoRA only) and a frozen copy named ``ref`` is the reference the KL penalty pulls toward:
the SFT start, not the bare base. ``save_adapter`` writes only the trained adapter, with
the tokenizer and a ``manifest.json`` the agents' runtime loads.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stockagents.agents.prompting import prompt_version
from stockagents.core.errors import ConfigError
from stockagents.core.manifests import ModelManifest, find_manifest, write_manifest
from stockagents.core.packages import TORCH_INSTALL, require_packages
from stockagents.llm.presets import resolve_model
from stockagents.training.rl.config import RLConfig
from stockagents.training.sft.data import file_sha256
from stockagents.training.sft.trainer import top_layers

__all__ = [
    "REF_ADAPTER",
    "Policy",
    "checkpoint_base",
    "load_policy",
    "require_training_stack",
    "save_adapter",
]

logger = logging.getLogger(__name__)

REF_ADAPTER = "ref"


@dataclass
class Policy:
    """A trainable policy and where it came from."""

    model: Any
    tokenizer: Any
    base_model: str
    start: str  # the SFT checkpoint's version, or "fresh-lora"


def require_training_stack() -> None:
    """Fail, with the install command, unless the RL training packages are installed."""
    require_packages(
        "torch", "transformers", "peft", "trl", "datasets",
        needed_by="RL training", install=TORCH_INSTALL,
    )  # fmt: skip


def checkpoint_base(path: Path) -> tuple[str, str]:
    """(base model, version) an SFT checkpoint names; a clear error when it is not one."""
    if not (path / "adapter_config.json").is_file():
        raise ConfigError(
            f"model.sft_checkpoint: {path} is not an adapter directory (no adapter_config.json); "
            "train the strategist first: python training/sft/train_strategist_agent.py "
            "--config config/sft/strategist_agent.yaml (or set model.sft_checkpoint)"
        )
    manifest = find_manifest(path / "manifest.json", ModelManifest, ConfigError) or ModelManifest()
    if manifest.agent not in (None, "strategist"):
        raise ConfigError(
            f"model.sft_checkpoint: {path} is the {manifest.agent} agent's adapter; "
            "RL trains the strategist"
        )
    base = manifest.base_model
    if not base:
        adapter = json.loads((path / "adapter_config.json").read_text(encoding="utf-8"))
        base = adapter.get("base_model_name_or_path")
    if not base:
        raise ConfigError(f"model.sft_checkpoint: {path} does not name its base model")
    version = manifest.version or f"lora:{path.name}"
    return str(base), version


def load_policy(config: RLConfig, with_reference: bool = True) -> Policy:
    """The trainable policy (see the module docstring)."""
    require_training_stack()
    import torch
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    checkpoint = config.model.sft_checkpoint
    if checkpoint is not None:
        checkpoint = Path(checkpoint).expanduser()
        base, start = checkpoint_base(checkpoint)
    else:
        base, start = config.model.base_model, "fresh-lora"
    path = resolve_model(base)
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model: Any = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    if checkpoint is not None:
        model = PeftModel.from_pretrained(model, str(checkpoint), is_trainable=True)
        if with_reference:
            model.add_adapter(REF_ADAPTER, model.peft_config["default"])
            for name, param in model.named_parameters():
                if ".default." in name:
                    ref = model.get_parameter(name.replace(".default.", f".{REF_ADAPTER}."))
                    ref.data.copy_(param.data)
                    ref.requires_grad_(False)
            model.set_adapter("default")
    else:
        lora = LoraConfig(
            r=config.model.lora_rank,
            lora_alpha=config.model.lora_alpha,
            lora_dropout=0.0,
            target_modules=list(config.model.target_modules),
            layers_to_transform=top_layers(model, config.model.lora_layers),
            task_type="CAUSAL_LM",
        )
        model = get_peft_model(model, lora)
    for module in model.modules():  # RL samples and scores the same policy: no dropout
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    for name, param in model.named_parameters():  # only the default adapter trains
        param.requires_grad_(".default." in name and "lora_" in name)
    from stockagents.llm.hf_backend import bfloat16_base

    if bfloat16_base(model, config.model.base_weights):
        logger.info("sampling and training on bfloat16 base weights")
    if not any(p.requires_grad for p in model.parameters()):
        raise ConfigError("the policy has no trainable LoRA weights; check the SFT checkpoint")
    return Policy(model=model, tokenizer=tokenizer, base_model=base, start=start)


def save_adapter(
    policy: Policy, target: Path, manifest: ModelManifest, algorithm: str
) -> ModelManifest:
    """Write the trained adapter (without the reference copy), the tokenizer and a
    manifest to ``target``, built aside and renamed into place. ``manifest`` says how it
    was trained; the kind, base model, agent, prompt and version are filled in here."""
    staging = target.with_name(f".{target.name}-tmp")
    shutil.rmtree(staging, ignore_errors=True)
    policy.model.save_pretrained(str(staging), selected_adapters=["default"])
    policy.tokenizer.save_pretrained(str(staging))
    weights = staging / "adapter_model.safetensors"
    digest = file_sha256(weights)[:8] if weights.is_file() else "unknown"
    manifest = manifest.model_copy(
        update={
            "kind": "lora",
            "base_model": policy.base_model,
            "agent": "strategist",
            "prompt_version": prompt_version("strategist"),
            "version": f"rl-{algorithm}-strategist-{digest}",
        }
    )
    write_manifest(staging / "manifest.json", manifest)
    old = target.with_name(f".{target.name}-old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    staging.rename(target)
    shutil.rmtree(old, ignore_errors=True)
    return manifest
