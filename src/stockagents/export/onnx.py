"""Export a model (an agent's LoRA adapter merged into its base, a full model or a
preset) to ONNX, and prove the file answers as the model does.

``export_onnx(model_path, output_path)`` writes:

- ``output_path`` (``*.onnx``): ``input_ids`` and ``attention_mask`` (batch and sequence
  dynamic) in, ``logits`` out, float32, opset 17, through torch's TorchScript exporter;
- ``<stem>_tokenizer/``: the tokenizer the model reads;
- ``<output_path>.json``: a manifest with the source, its content hash, and the check.

The check runs the same prompt through torch and through onnxruntime: the largest logit
difference must be under ``tolerance`` (1e-4), and ``check_tokens`` greedy tokens must be
identical. A file that fails the check is removed, and the error says by how much it
failed.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import warnings
from pathlib import Path
from typing import Any

from stockagents.agents.runtime import read_manifest
from stockagents.core.errors import ExportError, ProviderUnavailableError
from stockagents.core.jsonio import write_json
from stockagents.core.registry import content_hash
from stockagents.llm.presets import PRESETS, resolve_model

__all__ = ["CHECK_PROMPT", "export_onnx", "load_merged"]

logger = logging.getLogger(__name__)

CHECK_PROMPT = [
    {"role": "system", "content": "You are the technical analyst of a trading desk."},
    {"role": "user", "content": "AAPL up to the close of 2023-06-30: RSI 71.7, close above SMA50."},
]


def load_merged(model_path: str | Path) -> tuple[Any, Any, dict[str, Any]]:
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
        kind = manifest.get("kind") or (
            "lora" if (path / "adapter_config.json").is_file() else "full"
        )
        if kind == "lora":
            base, adapter = str(manifest.get("base_model") or ""), path
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
    source = {
        "model_path": text,
        "base_model": base,
        "adapter": str(adapter) if adapter else None,
        "hash": content_hash(path) if path.is_dir() else text,
    }
    return model, tokenizer, source


class _Logits:
    """``(input_ids, attention_mask) -> logits``, the graph the file holds."""

    def __new__(cls, model: Any) -> Any:
        import torch

        class Wrapper(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model = model

            def forward(self, input_ids: Any, attention_mask: Any) -> Any:
                return self.model(
                    input_ids=input_ids, attention_mask=attention_mask, use_cache=False
                ).logits

        return Wrapper().eval()


def _greedy(step: Any, ids: list[int], tokens: int) -> list[int]:
    out = list(ids)
    for _ in range(tokens):
        out.append(int(step(out)[-1].argmax()))
    return out[len(ids) :]


def export_onnx(
    model_path: str | Path,
    output_path: str | Path,
    *,
    tolerance: float = 1e-4,
    check_tokens: int = 8,
) -> dict[str, Any]:
    """Export and check (see the module docstring); returns the manifest."""
    try:
        import numpy as np
        import onnxruntime as ort  # type: ignore[import-untyped]
        import torch
    except ImportError as exc:
        raise ProviderUnavailableError(
            f"ONNX export needs {exc.name}: pip install -r requirements.txt"
        ) from None
    output = Path(output_path)
    if output.suffix != ".onnx":
        raise ExportError(f"--output-path {output}: name an .onnx file")
    started = time.perf_counter()
    model, tokenizer, source = load_merged(model_path)
    graph = _Logits(model)
    text = tokenizer.apply_chat_template(CHECK_PROMPT, add_generation_prompt=True, tokenize=False)
    ids = [int(i) for i in tokenizer(text, add_special_tokens=False)["input_ids"]]
    example = torch.tensor([ids])
    output.parent.mkdir(parents=True, exist_ok=True)
    axes = {"batch": 0, "sequence": 1}
    dynamic = {
        name: {v: k for k, v in axes.items()} for name in ("input_ids", "attention_mask", "logits")
    }
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on Python control flow
        torch.onnx.export(
            graph, (example, torch.ones_like(example)), str(output), dynamo=False,
            input_names=["input_ids", "attention_mask"], output_names=["logits"],
            dynamic_axes=dynamic, opset_version=17,
        )  # fmt: skip
    session = ort.InferenceSession(str(output), providers=["CPUExecutionProvider"])

    def onnx_step(tokens: list[int]) -> Any:
        feed = {"input_ids": np.array([tokens], dtype=np.int64),
                "attention_mask": np.ones((1, len(tokens)), dtype=np.int64)}  # fmt: skip
        return session.run(["logits"], feed)[0][0]

    def torch_step(tokens: list[int]) -> Any:
        with torch.no_grad():
            t = torch.tensor([tokens])
            return graph(t, torch.ones_like(t))[0].numpy()

    difference = float(np.abs(onnx_step(ids) - torch_step(ids)).max())
    torch_tokens = _greedy(torch_step, ids, check_tokens)
    onnx_tokens = _greedy(onnx_step, ids, check_tokens)
    if difference > tolerance or torch_tokens != onnx_tokens:
        output.unlink(missing_ok=True)
        greedy = "match" if torch_tokens == onnx_tokens else "differ"
        raise ExportError(
            f"the ONNX file does not answer as the model: logits differ by up to "
            f"{difference:.2e} (allowed {tolerance:.0e}), greedy tokens {greedy}"
        )
    tokenizer.save_pretrained(str(output.with_name(f"{output.stem}_tokenizer")))
    manifest = {
        "kind": "onnx",
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "source": source,
        "file": output.name,
        "bytes": output.stat().st_size,
        "inputs": ["input_ids", "attention_mask"],
        "outputs": ["logits"],
        "opset": 17,
        "check": {
            "prompt_tokens": len(ids),
            "max_logit_difference": difference,
            "tolerance": tolerance,
            "greedy_tokens": check_tokens,
            "greedy_identical": True,
        },
        "seconds": round(time.perf_counter() - started, 2),
    }
    write_json(output.with_name(output.name + ".json"), manifest)
    logger.info("exported %s to %s (max logit difference %.2e)", model_path, output, difference)
    return manifest
