"""Benchmark: the HTTP API under 8 concurrent clients on loopback.

Starts the app on a real uvicorn server (127.0.0.1, a free port), warms it up, then has
``--clients`` threads send ``--requests`` ``GET /analyze/{symbol}?as_of=...`` requests
(symbols and dates cycling over the sample) and prints requests per second and the p50
and p95 latency, for each model set given.

Run: ``python bench/api.py --models expert RUN/models [--requests 64 --clients 8]``.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import uvicorn

from stockagents.serving.app import create_app

SYMBOLS = ["AAPL", "AMZN", "NVDA", "META", "NFLX", "GOOG"]
DAYS = ["2023-06-26", "2023-06-27", "2023-06-28", "2023-06-29", "2023-06-30"]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bench(models: str, requests: int, clients: int) -> None:
    port = _port()
    chosen: str | Path | None = {"production": None, "expert": "expert"}.get(models, Path(models))
    app = create_app(models=chosen)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=600) as warm:
            warm.get("/analyze/AAPL", params={"as_of": DAYS[0]}).raise_for_status()
        jobs = [
            (SYMBOLS[i % len(SYMBOLS)], DAYS[(i // len(SYMBOLS)) % len(DAYS)])
            for i in range(requests)
        ]
        latencies: list[float] = []
        lock = threading.Lock()
        local = threading.local()

        def one(job: tuple[str, str]) -> None:
            if not hasattr(local, "client"):
                local.client = httpx.Client(base_url=base, timeout=600)
            started = time.perf_counter()
            local.client.get(f"/analyze/{job[0]}", params={"as_of": job[1]}).raise_for_status()
            with lock:
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=clients) as pool:
            list(pool.map(one, jobs))
        wall = time.perf_counter() - started
    finally:
        server.should_exit = True
        thread.join(timeout=30)
    cuts = statistics.quantiles(latencies, n=20)
    print(
        f"{models}: {requests} requests, {clients} clients: {requests / wall:.1f} req/s, "
        f"p50 {statistics.median(latencies) * 1000:.0f} ms, p95 {cuts[18] * 1000:.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["expert"])
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    for models in args.models:
        bench(models, args.requests, args.clients)


if __name__ == "__main__":
    main()
