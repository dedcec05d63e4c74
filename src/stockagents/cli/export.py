"""``stockagents export-onnx`` and ``export-gguf`` (the guide's
``scripts/convert_to_onnx.py`` and ``scripts/convert_to_gguf.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console

from stockagents.core.manifests import ExportManifest

__all__ = ["export_gguf", "export_onnx"]

ModelPathOption = Annotated[str, typer.Option("--model-path", help="e.g. models/production/news")]


def _report(output_path: Path, manifest: ExportManifest) -> None:
    check = manifest.check
    Console(soft_wrap=True).print(
        f"{output_path}: {manifest.bytes / 1e6:.1f} MB in {manifest.seconds:.1f} s; "
        f"checked against the model: {check.greedy_tokens} greedy tokens identical, "
        f"logits within {check.max_logit_difference:.1e}"
    )


def export_onnx(
    model_path: ModelPathOption,
    output_path: Annotated[
        Path, typer.Option("--output-path", help="e.g. models/export/news.onnx")
    ],
    tolerance: Annotated[
        float, typer.Option("--tolerance", help="Largest logit difference.")
    ] = 1e-4,
) -> None:
    """Export a model (an adapter merged into its base, a full model or a preset) to ONNX
    and check it against the model with onnxruntime."""
    from stockagents.export.onnx import export_onnx as export

    _report(output_path, export(model_path, output_path, tolerance=tolerance))


def export_gguf(
    model_path: ModelPathOption,
    output_path: Annotated[
        Path, typer.Option("--output-path", help="e.g. models/export/news.gguf")
    ],
    outtype: Annotated[Literal["f16", "q8_0"], typer.Option("--outtype", help="Matrices.")] = "f16",
) -> None:
    """Export a Llama-family model (an adapter merged into its base, a full model or a
    preset) to GGUF and check it by loading it back through transformers."""
    from stockagents.export.gguf import export_gguf as export

    _report(output_path, export(model_path, output_path, outtype=outtype))
