"""Benchmark: llama.cpp (``llama-cpp-python``) against our hf backend for one exported agent.

The model (default: the ``smollm2-135m`` preset, which every untrained agent runs; or a
LoRA adapter or full model directory, merged) is exported to GGUF in f16 and q8_0. The
same strategist prompts (the price sample, with the technical rules' signal) are answered
greedily, one at a time, with the same ``--tokens`` limit:

- by ``HFBackend`` in float32 (the merged model exactly) and as the agents run it
  (``quantize="auto"``: int8 on this CPU), adapter on the base as the agents load it;
- by llama.cpp in-process from each GGUF file, prompted with the same token ids.

Two modes: free text, and under the strategist's answer schema (our backend: its grammar
with jump-forward; llama.cpp: the grammar llama.cpp builds from the schema as its server
does, bounded numbers enumerated as our openai backend sends them). Tokens/s is the new
tokens over the wall time of the calls, prefill included, after one warm-up call. The
free answers are compared with float32 hf's, token for token (both texts as our backend
returns them, stripped, read by the model's tokenizer).

Run: ``python bench/llamacpp.py [--model-path smollm2-135m] [--prompts 8] [--tokens 96]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from stockagents.agents import StrategistAgent, TechnicalAgent
from stockagents.agents.prompting import answer_schema, parse_answer, render_prompt
from stockagents.agents.runtime import read_manifest
from stockagents.core.errors import ExportError
from stockagents.data.factory import DataSources
from stockagents.data.fundamentals import NoFundamentalsProvider
from stockagents.data.news import NoNewsProvider
from stockagents.data.sample import SamplePriceProvider
from stockagents.export.gguf import export_gguf
from stockagents.features.observation import ObservationBuilder
from stockagents.llm.base import ChatMessage, GenerationRequest, Sampling
from stockagents.llm.hf_backend import HFBackend
from stockagents.llm.openai_backend import enumerated_schema

SYMBOLS = ("AAPL", "AMZN", "NVDA", "GOOG")


def _prompts(n: int) -> list[list[ChatMessage]]:
    builder = ObservationBuilder(
        DataSources(SamplePriceProvider(), NoNewsProvider(), NoFundamentalsProvider())
    )
    technical, strategist = TechnicalAgent(), StrategistAgent()
    out = []
    for i in range(n):
        observation = builder.build(
            SYMBOLS[i % len(SYMBOLS)], dt.date(2023, 3, 1) + dt.timedelta(days=7 * i)
        )
        signals = {"technical": technical.expert_signal(observation)}
        out.append(render_prompt("strategist", strategist.input_payload(observation, signals)))
    return out


def _hf(model_path: str, quantize: str) -> tuple[HFBackend, str | None]:
    """Our backend for ``model_path`` as an agent loads it: an adapter on its base."""
    path = Path(model_path)
    manifest = read_manifest(path) if path.is_dir() else None
    if path.is_dir() and (path / "adapter_config.json").is_file():
        base = (manifest.base_model if manifest else None) or ""
        backend = HFBackend(base, quantize=quantize, batch_size=1)
        backend.add_adapter("agent", path)
        return backend, "agent"
    return HFBackend(model_path, quantize=quantize, batch_size=1), None


def _run_hf(
    backend: HFBackend, adapter: str | None, prompts: list[list[ChatMessage]], schema: Any,
    tokens: int,
) -> tuple[float, list[str], int]:  # fmt: skip
    sampling = Sampling(max_new_tokens=tokens)
    requests = [GenerationRequest(messages=m, schema=schema, adapter=adapter) for m in prompts]
    backend.generate(requests[:1], sampling)  # warm-up
    new = seconds = 0.0
    texts, cut = [], 0
    for request in requests:
        texts.extend(backend.generate([request], sampling))
        new += backend.last_stats["new_tokens"]
        cut += backend.last_stats["new_tokens"] >= tokens
        seconds += backend.last_stats["seconds"]
    return new / seconds, texts, cut


def _run_llama(
    llm: Any, prompt_ids: list[list[int]], grammar: Any, tokens: int
) -> tuple[float, list[str], int]:
    def call(ids: list[int]) -> Any:
        return llm.create_completion(
            ids, max_tokens=tokens, temperature=0.0, grammar=grammar, logprobs=None
        )

    call(prompt_ids[0])  # warm-up
    new, seconds, texts, cut = 0, 0.0, [], 0
    for ids in prompt_ids:
        start = time.perf_counter()
        reply = call(ids)
        seconds += time.perf_counter() - start
        new += reply["usage"]["completion_tokens"]
        texts.append(reply["choices"][0]["text"].strip())  # as our backend gives it
        cut += reply["choices"][0]["finish_reason"] == "length"
    return new / seconds, texts, cut


def _same_prefix(a: list[int], b: list[int]) -> int:
    return next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model-path", default="smollm2-135m")
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=96)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    import llama_cpp

    prompts = _prompts(args.prompts)
    schema = answer_schema("strategist")
    rows: list[tuple[str, str, float, float, str, str]] = []
    reference: list[list[int]] = []
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for outtype in ("f16", "q8_0"):
            files[outtype] = Path(tmp) / f"agent-{outtype}.gguf"
            try:
                manifest = export_gguf(args.model_path, files[outtype], outtype=outtype)
            except ExportError as exc:  # the exporter's own check refused the file
                raise SystemExit(f"export {outtype} refused: {exc}") from None
            check = manifest.check
            agreement = (
                f", top tokens agree at {check.top1_agreement:.1%} of the positions"
                if check.top1_agreement is not None
                else ""
            )
            print(
                f"exported {outtype}: {manifest.bytes / 1e6:.1f} MB in {manifest.seconds:.1f} s "
                f"(largest first-step logit difference through transformers "
                f"{check.max_logit_difference:.2e}; greedy identical: {check.greedy_identical}"
                f"{agreement})"
            )
        tokenizer = None
        for quantize in ("none", "auto"):
            backend, adapter = _hf(args.model_path, quantize)
            tokenizer = backend.tokenizer
            free, texts, _ = _run_hf(backend, adapter, prompts, None, args.tokens)
            fixed, answers, cut = _run_hf(backend, adapter, prompts, schema, args.tokens)
            valid = sum(parse_answer("strategist", t)[0] is not None for t in answers)
            if quantize == "none":
                reference = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
            weights = "float32" if quantize == "none" else f"auto: {backend.quantize}"
            label = f"hf backend ({weights})"
            rows.append(("hf backend", weights, free,
                         fixed, "reference" if quantize == "none" else "-",
                         f"{valid}/{len(prompts)} ({cut} cut off)"))  # fmt: skip
            print(f"{label}: {free:.1f} tokens/s free, {fixed:.1f} constrained")
            backend.close()
        assert tokenizer is not None
        ids = [
            [int(i) for i in tokenizer(
                tokenizer.apply_chat_template(m, add_generation_prompt=True, tokenize=False),
                add_special_tokens=False,
            )["input_ids"]]
            for m in prompts
        ]  # fmt: skip
        grammar = llama_cpp.llama_grammar.LlamaGrammar.from_json_schema(
            json.dumps(enumerated_schema(schema)), verbose=False
        )
        for outtype, path in files.items():
            llm = llama_cpp.Llama(
                model_path=str(path), n_ctx=2048, n_threads=args.threads, seed=0, verbose=False
            )
            free, texts, _ = _run_llama(llm, ids, None, args.tokens)
            fixed, answers, cut = _run_llama(llm, ids, grammar, args.tokens)
            out_ids = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
            llm.close()
            valid = sum(parse_answer("strategist", t)[0] is not None for t in answers)
            same = sum(a == b for a, b in zip(out_ids, reference, strict=True))
            prefix = statistics.median(
                _same_prefix(a, b) for a, b in zip(out_ids, reference, strict=True)
            )
            equal = f"{same}/{len(prompts)}"
            if same < len(prompts):
                equal += f" (median common prefix {prefix:g} tokens)"
            engine = f"llama.cpp {llama_cpp.__version__}"
            valid_text = f"{valid}/{len(prompts)} ({cut} cut off)"
            rows.append((engine, outtype, free, fixed, equal, valid_text))
            print(f"llama.cpp {outtype}: {free:.1f} tokens/s free, {fixed:.1f} constrained")
    print()
    print(
        f"{args.model_path}, {len(prompts)} strategist prompts, greedy, at most {args.tokens} "
        f"new tokens, batch 1, {args.threads} threads"
    )
    print()
    print("| engine | weights | free tokens/s | constrained tokens/s "
          "| free answer = hf float32's | constrained valid |")  # fmt: skip
    print("|---|---|---:|---:|---|---:|")
    for engine, weights, free, fixed, equal, answered in rows:
        print(f"| {engine} | {weights} | {free:.1f} | {fixed:.1f} | {equal} | {answered} |")


if __name__ == "__main__":
    main()
