"""What both exporters start from: the model merged into one plain float32 transformers
model, its tokenizer, where it came from, the output path checked, and the chat prompt
the checks run; and greedy decoding over any ``step(tokens) -> logits``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stockagents.agents.runtime import read_manifest
from stockagents.core.errors import ExportError
from stockagents.core.manifests import ExportSource
from stockagents.core.registry import content_hash
from stockagents.llm.presets import PRESETS, resolve_model

__all__ = ["Prepared", "greedy", "load_merged", "prepare"]

CHECK_PROMPT = [
    {"role": "system", "content": "You are the technical analyst of a trading desk."},
    {"role": "user", "content": "AAPL up to the close of 2023-06-30: RSI 71.7, close above SMA50."},
]


def load_merged(model_path: str | Path) -> tuple[Any, Any, ExportSource]:
    """The model at ``model_path`` as one plain float32 transformers model (a LoRA adapter
    merged into its base), its tokenizer, and where it came from."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    text = str(model_path)
    path = Path(text).expanduser()
    if text in PRESETS:
        base, adapter = text, None
    elif not path.is_dir():
        raise ExportError(f"--model-path {text}: not a model directory or a preset")
    else:
        manifest = read_manifest(path)
        kind = (manifest.kind if manifest else None) or (
            "lora" if (path / "adapter_config.json").is_file() else "full"
        )
        if kind == "lora":
            base, adapter = (manifest.base_model if manifest else None) or "", path
            if not base:
                raise ExportError(f"{path}: the adapter's manifest does not name its base_model")
        elif kind == "full":
            base, adapter = str(path), None
        else:
            raise ExportError(f"{path}: a {kind} model cannot be exported (only lora and full)")
    model = AutoModelForCausalLM.from_pretrained(resolve_model(base), dtype=torch.float32)
    tokenizer_source = (
        adapter if adapter and (adapter / "tokenizer_config.json").is_file() else None
    )
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_source or resolve_model(base)))
    model.train(False)
    source = ExportSource(
        model_path=text,
        base_model=base,
        adapter=str(adapter) if adapter else None,
        hash=content_hash(path) if path.is_dir() else text,
    )
    return model, tokenizer, source


@dataclass(frozen=True)
class Prepared:
    model: Any
    tokenizer: Any
    source: ExportSource
    output: Path
    text: str
    ids: list[int]


def prepare(model_path: str | Path, output_path: str | Path, suffix: str) -> Prepared:
    """Check the output name, load and merge the model, and tokenize the check prompt."""
    output = Path(output_path)
    if output.suffix != suffix:
        raise ExportError(f"--output-path {output}: name a {suffix} file")
    model, tokenizer, source = load_merged(model_path)
    text = tokenizer.apply_chat_template(CHECK_PROMPT, add_generation_prompt=True, tokenize=False)
    ids = [int(i) for i in tokenizer(text, add_special_tokens=False)["input_ids"]]
    output.parent.mkdir(parents=True, exist_ok=True)
    return Prepared(model, tokenizer, source, output, text, ids)


def greedy(step: Callable[[list[int]], Any], ids: Sequence[int], tokens: int) -> list[int]:
    """``tokens`` greedy tokens after ``ids``; ``step`` gives the logits of every position."""
    out = list(ids)
    for _ in range(tokens):
        out.append(int(step(out)[-1].argmax()))
    return out[len(ids) :]
