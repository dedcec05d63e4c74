"""``stockagents export-onnx`` and ``export-gguf`` (the guide's
``scripts/convert_to_onnx.py`` and ``scripts/convert_to_gguf.py``)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from rich.console import Console

from stockagents.cli.edge import guarded

__all__ = ["main", "main_gguf"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stockagents export-onnx",
        description="Export a model (an adapter merged into its base, a full model or a "
        "preset) to ONNX and check it against the model with onnxruntime.",
    )
    parser.add_argument("--model-path", required=True, help="e.g. models/production/news")
    parser.add_argument(
        "--output-path", required=True, type=Path, help="e.g. models/export/news.onnx"
    )
    parser.add_argument("--tolerance", type=float, default=1e-4, help="Largest logit difference.")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the export; returns the exit code."""

    def run() -> None:
        args = _parser().parse_args(argv)
        logging.basicConfig(level=logging.WARNING)
        from stockagents.export.onnx import export_onnx

        manifest = export_onnx(args.model_path, args.output_path, tolerance=args.tolerance)
        check = manifest["check"]
        Console(soft_wrap=True).print(
            f"{args.output_path}: {manifest['bytes'] / 1e6:.1f} MB in {manifest['seconds']:.1f} s; "
            f"logits within {check['max_logit_difference']:.1e} of the model, "
            f"{check['greedy_tokens']} greedy tokens identical"
        )

    return guarded(run)


def _gguf_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stockagents export-gguf",
        description="Export a Llama-family model (an adapter merged into its base, a full "
        "model or a preset) to GGUF and check it by loading it back through transformers.",
    )
    parser.add_argument("--model-path", required=True, help="e.g. models/production/news")
    parser.add_argument(
        "--output-path", required=True, type=Path, help="e.g. models/export/news.gguf"
    )
    parser.add_argument("--outtype", choices=("f16", "q8_0"), default="f16", help="Matrix format.")
    return parser


def main_gguf(argv: list[str] | None = None) -> int:
    """Run the GGUF export; returns the exit code."""

    def run() -> None:
        args = _gguf_parser().parse_args(argv)
        logging.basicConfig(level=logging.WARNING)
        from stockagents.export.gguf import export_gguf

        manifest = export_gguf(args.model_path, args.output_path, outtype=args.outtype)
        check = manifest["check"]
        Console(soft_wrap=True).print(
            f"{args.output_path}: {manifest['bytes'] / 1e6:.1f} MB {args.outtype} in "
            f"{manifest['seconds']:.1f} s; loaded back by transformers: tokenizer identical, "
            f"{check['greedy_tokens']} greedy tokens identical, logits within "
            f"{check['max_logit_difference']:.1e}"
        )

    return guarded(run)
