"""``stockagents export-onnx`` and ``export-gguf`` (the guide's
``scripts/convert_to_onnx.py`` and ``scripts/convert_to_gguf.py``)."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from stockagents.cli.edge import guarded

__all__ = ["main", "main_gguf"]


def _parser(kind: str, description: str, suffix: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"stockagents export-{kind}", description=description)
    parser.add_argument("--model-path", required=True, help="e.g. models/production/news")
    parser.add_argument(
        "--output-path", required=True, type=Path, help=f"e.g. models/export/news.{suffix}"
    )
    return parser


def _run(
    argv: list[str] | None,
    parser: argparse.ArgumentParser,
    export: Callable[[argparse.Namespace], dict[str, Any]],
) -> int:
    def run() -> None:
        args = parser.parse_args(argv)
        logging.basicConfig(level=logging.WARNING)
        manifest = export(args)
        check = manifest["check"]
        Console(soft_wrap=True).print(
            f"{args.output_path}: {manifest['bytes'] / 1e6:.1f} MB in {manifest['seconds']:.1f} s; "
            f"checked against the model: {check['greedy_tokens']} greedy tokens identical, "
            f"logits within {check['max_logit_difference']:.1e}"
        )

    return guarded(run)


def main(argv: list[str] | None = None) -> int:
    """ONNX: merge, export, check with onnxruntime; returns the exit code."""
    parser = _parser(
        "onnx", "Export a model (an adapter merged into its base, a full model or a preset) "
        "to ONNX and check it against the model with onnxruntime.", "onnx",
    )  # fmt: skip
    parser.add_argument("--tolerance", type=float, default=1e-4, help="Largest logit difference.")

    def export(args: argparse.Namespace) -> dict[str, Any]:
        from stockagents.export.onnx import export_onnx

        return export_onnx(args.model_path, args.output_path, tolerance=args.tolerance)

    return _run(argv, parser, export)


def main_gguf(argv: list[str] | None = None) -> int:
    """GGUF: merge, write, check by loading back through transformers; the exit code."""
    parser = _parser(
        "gguf", "Export a Llama-family model (an adapter merged into its base, a full model "
        "or a preset) to GGUF and check it by loading it back through transformers.", "gguf",
    )  # fmt: skip
    parser.add_argument("--outtype", choices=("f16", "q8_0"), default="f16", help="Matrices.")

    def export(args: argparse.Namespace) -> dict[str, Any]:
        from stockagents.export.gguf import export_gguf

        return export_gguf(args.model_path, args.output_path, outtype=args.outtype)

    return _run(argv, parser, export)
