"""Benchmark: warm ``analyze_symbol`` latency with the expert agents, and the time to
compute indicators for the whole offline sample.

Run: ``python bench/analyze.py [--repeats 200]``. Prints figures; asserts nothing.
Target: warm analyze under 50 ms.
"""

from __future__ import annotations

import argparse
import statistics
import time

import pandas as pd

from stockagents.data.sample import SAMPLE_SYMBOLS, SamplePriceProvider, load_sample_table
from stockagents.features.indicators import compute_indicators
from stockagents.orchestration import SystemCoordinator


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:8.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()

    start = time.perf_counter()
    load_sample_table()
    load_s = time.perf_counter() - start
    provider = SamplePriceProvider()
    frames = {s: provider.prices(s, as_of=provider.date_range(s)[1]) for s in SAMPLE_SYMBOLS}
    bars = sum(len(f) for f in frames.values())

    runs = []
    for _ in range(20):
        start = time.perf_counter()
        for frame in frames.values():
            compute_indicators(frame)
        runs.append(time.perf_counter() - start)
    indicators_s = statistics.median(runs)

    with SystemCoordinator() as coordinator:
        start = time.perf_counter()
        coordinator.analyze_symbol("AAPL", as_of="2023-06-30")
        cold_s = time.perf_counter() - start
        dates = pd.bdate_range("2019-01-01", "2023-09-01")
        for symbol in SAMPLE_SYMBOLS:  # warm every symbol's indicator cache
            coordinator.analyze_symbol(symbol, as_of="2023-06-30")
        latencies = []
        for i in range(args.repeats):
            symbol = SAMPLE_SYMBOLS[i % len(SAMPLE_SYMBOLS)]
            day = dates[(i * 37) % len(dates)].date()
            start = time.perf_counter()
            coordinator.analyze_symbol(symbol, as_of=day)
            latencies.append(time.perf_counter() - start)
    latencies.sort()
    p50 = statistics.median(latencies)
    p95 = latencies[int(0.95 * (len(latencies) - 1))]

    print(f"sample load (6 symbols, {bars} bars)        {_ms(load_s)}")
    print(f"indicators, whole sample ({len(frames)} symbols)      {_ms(indicators_s)}")
    print(f"indicators, per symbol                      {_ms(indicators_s / len(frames))}")
    print(f"analyze_symbol cold (first call, AAPL)      {_ms(cold_s)}")
    print(f"analyze_symbol warm p50 ({args.repeats} calls)       {_ms(p50)}")
    print(f"analyze_symbol warm p95                     {_ms(p95)}")
    print(
        f"target warm < 50 ms: {'met' if p50 < 0.050 else 'NOT met'} "
        f"(p50/target = {p50 / 0.050:.3f})"
    )


if __name__ == "__main__":
    main()
