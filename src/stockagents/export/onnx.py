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

from stockagents.core.errors import ExportError
from stockagents.core.manifests import ExportCheck, OnnxManifest, write_manifest
from stockagents.core.packages import REQUIREMENTS_INSTALL, require_packages
from stockagents.export.source import greedy, prepare

__all__ = ["export_onnx"]

logger = logging.getLogger(__name__)


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


def _write_onnx(graph: Any, ids: list[int], output: Path) -> None:
    """Trace ``graph`` on the prompt ``ids`` into ``output`` (batch and sequence dynamic)."""
    import torch

    example = torch.tensor([ids])
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


def _check(graph: Any, output: Path, ids: list[int], tolerance: float, check_tokens: int) -> float:
    """Check the file against the model on ``ids``; returns the largest logit difference."""
    import numpy as np
    import onnxruntime as ort  # type: ignore[import-untyped]
    import torch

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
    torch_tokens = greedy(torch_step, ids, check_tokens)
    onnx_tokens = greedy(onnx_step, ids, check_tokens)
    if difference > tolerance or torch_tokens != onnx_tokens:
        output.unlink(missing_ok=True)
        verdict = "match" if torch_tokens == onnx_tokens else "differ"
        raise ExportError(
            f"the ONNX file does not answer as the model: logits differ by up to "
            f"{difference:.2e} (allowed {tolerance:.0e}), greedy tokens {verdict}"
        )
    return difference


def export_onnx(
    model_path: str | Path,
    output_path: str | Path,
    *,
    tolerance: float = 1e-4,
    check_tokens: int = 8,
) -> OnnxManifest:
    """Export and check (see the module docstring); returns the manifest."""
    require_packages(
        "numpy", "onnxruntime", "torch", needed_by="ONNX export", install=REQUIREMENTS_INSTALL
    )
    started = time.perf_counter()
    job = prepare(model_path, output_path, ".onnx")
    tokenizer, source, output, ids = job.tokenizer, job.source, job.output, job.ids
    graph = _Logits(job.model)
    _write_onnx(graph, ids, output)
    difference = _check(graph, output, ids, tolerance, check_tokens)
    tokenizer.save_pretrained(str(output.with_name(f"{output.stem}_tokenizer")))
    manifest = OnnxManifest(
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        source=source,
        file=output.name,
        bytes=output.stat().st_size,
        inputs=["input_ids", "attention_mask"],
        outputs=["logits"],
        opset=17,
        check=ExportCheck(
            prompt_tokens=len(ids),
            max_logit_difference=difference,
            tolerance=tolerance,
            greedy_tokens=check_tokens,
            greedy_identical=True,
        ),
        seconds=round(time.perf_counter() - started, 2),
    )
    write_manifest(output.with_name(output.name + ".json"), manifest)
    logger.info("exported %s to %s (max logit difference %.2e)", model_path, output, difference)
    return manifest
