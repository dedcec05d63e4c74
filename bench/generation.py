"""Benchmark: generation on the default base model (smollm2-135m) on this machine.

Prints decoding throughput at batch 1 and batch 8: free text; under the answer schema
with the grammar mask alone (jump-forward off: the mask's own cost per step); and under
the schema as the agents run it (jump-forward on: forced tokens need no step). Then warm
``analyze_symbol`` latency with all four agents on the model (the three analysts in one
batch), and peak RSS. Targets on 2 cores: batch 8 at least 3x the throughput of batch 1;
the grammar mask costs under 20% per decoding step; warm analyze under 4 s; one copy of
the base weights (RSS under 1.5 GB).

Run: ``python bench/generation.py [--model smollm2-135m] [--tokens 64]``. The first run
converts the GGUF file into the cache (about 20 s). ``--models DIR`` also times warm
analyze on a trained model set (``training_runs/sft_run_*/models``): the adapters write
the teacher's short derivations instead of the base model's filler.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from stockagents.agents import TechnicalAgent
from stockagents.agents.prompting import answer_schema, render_prompt
from stockagents.data.factory import build_sources
from stockagents.features.observation import ObservationBuilder
from stockagents.llm.base import GenerationRequest, Sampling
from stockagents.llm.hf_backend import HFBackend
from stockagents.orchestration import SystemCoordinator


def _requests(n: int, constrained: bool) -> list[GenerationRequest]:
    builder = ObservationBuilder(build_sources())
    agent = TechnicalAgent()
    days = [dt.date(2023, 3, 1) + dt.timedelta(days=7 * i) for i in range(n)]
    out = []
    for day in days:
        payload = agent.input_payload(builder.build("AAPL", day))
        schema = answer_schema("technical") if constrained else None
        out.append(GenerationRequest(messages=render_prompt("technical", payload), schema=schema))
    return out


def _run(
    backend: HFBackend, requests: list[GenerationRequest], batch: int, tokens: int
) -> dict[str, float]:
    backend.batch_size = batch
    sampling = Sampling(max_new_tokens=tokens)
    new = steps = seconds = forced = 0.0
    for start in range(0, len(requests), batch):
        backend.generate(requests[start : start + batch], sampling)
        stats = backend.last_stats
        new += stats["new_tokens"]
        steps += stats["steps"] + 1  # the prefill is a forward pass too
        forced += stats["forced_tokens"]
        seconds += stats["seconds"]
    return {
        "tokens_per_s": new / seconds,
        "s_per_step": seconds / steps,
        "tokens": new,
        "forced": forced,
    }


def _warm_analyze(
    name: str, label: str, config: Any, models: Path, symbol: str, days: list[dt.date]
) -> set[int]:
    """Times ``analyze_symbol`` after one warm-up call; returns the backends it used."""
    with SystemCoordinator(config, models=models) as coordinator:
        used = {id(a.runtime.backend) for a in coordinator.analysts.values() if a.runtime}
        coordinator.analyze_symbol(symbol, as_of=days[0])  # warm
        latencies, invalid = [], 0
        for day in days:
            t0 = time.perf_counter()
            rec = coordinator.analyze_symbol(symbol, as_of=day)
            latencies.append(time.perf_counter() - t0)
            invalid += sum(not s.valid for s in rec.signals.values())
            invalid += not rec.decision.valid
    print(
        f"warm analyze_symbol, {name}, {label}: median {statistics.median(latencies):.2f} s, "
        f"max {max(latencies):.2f} s (target < 4 s); invalid outputs {invalid} of "
        f"{4 * len(days)}"
    )
    return used


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--quantize", default="auto", help="auto (int8 on CPU), int8, fp16 or none (float32)"
    )
    parser.add_argument("--models", type=Path, help="a trained model set to time as well")
    args = parser.parse_args()

    start = time.perf_counter()
    if args.quantize == "auto":
        backend = HFBackend.shared(args.model)
    else:
        backend = HFBackend(args.model, quantize=args.quantize)
    print(
        f"model {args.model} loaded in {time.perf_counter() - start:.1f} s "
        f"({backend.dtype}, quantize={backend.quantize})"
    )
    free = _requests(8, constrained=False)
    fixed = _requests(8, constrained=True)
    _run(backend, free[:2], 2, 8)  # warm-up
    results = {}
    modes = (("free", free, True), ("masked only", fixed, False), ("constrained", fixed, True))
    for name, requests, jump in modes:
        backend.jump_forward = jump
        for batch in (1, 8):
            runs = [_run(backend, requests, batch, args.tokens) for _ in range(args.repeats)]
            best = max(runs, key=lambda r: r["tokens_per_s"])
            results[(name, batch)] = best
            print(
                f"{name:12} batch {batch}: {best['tokens_per_s']:7.1f} tokens/s, "
                f"{1000 * best['s_per_step']:6.1f} ms per decoding step "
                f"({best['tokens']:.0f} tokens, {best['forced']:.0f} forced)"
            )
    backend.jump_forward = True
    speedup = results[("free", 8)]["tokens_per_s"] / results[("free", 1)]["tokens_per_s"]
    cost = results[("masked only", 8)]["s_per_step"] / results[("free", 8)]["s_per_step"] - 1
    net = results[("constrained", 1)]["tokens_per_s"] / results[("free", 1)]["tokens_per_s"]
    print(f"batch 8 / batch 1 throughput: {speedup:.2f}x (target >= 3)")
    print(f"grammar mask cost per decoding step at batch 8: {cost:+.1%} (target < 20%)")
    print(f"constrained with jump-forward vs free, tokens/s at batch 1: {net:.2f}x")

    fixtures = Path(__file__).resolve().parents[1] / "tests" / "fixtures"
    settings = {
        "offline default (no news or filings: technical + strategist on the model)": (
            None, "NVDA", [dt.date(2023, 5, 1) + dt.timedelta(days=7 * i) for i in range(5)]
        ),
        "with news and filings (three analysts batched + strategist)": (
            {"data": {"news": {"provider": "jsonl", "path": str(fixtures / "news_aapl.jsonl")},
                      "fundamentals": {"provider": "file",
                                       "path": str(fixtures / "fundamentals.json")}}},
            "AAPL", [dt.date(2023, 6, d) for d in (26, 27, 28, 29, 30)],
        ),
    }  # fmt: skip
    copies: set[int] = {id(backend)}
    with tempfile.TemporaryDirectory() as tmp:
        sets = {"base model": Path(tmp)}
        agents = {a: args.model for a in ("news", "technical", "fundamental", "strategist")}
        (sets["base model"] / "manifest.json").write_text(json.dumps({"agents": agents}))
        if args.models:
            sets[f"trained set {args.models}"] = args.models
        for name, models in sets.items():
            for label, (config, symbol, days) in settings.items():
                copies |= _warm_analyze(name, label, config, models, symbol, days)
    print(f"base-model copies in memory: {len(copies)}")
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {rss_mb:.0f} MB (target < 1536 MB)")


if __name__ == "__main__":
    main()
