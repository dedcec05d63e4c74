"""Collection and evaluation on a real Ray cluster (``ray start --head``, started here).

The module's fixture starts a one-node cluster of 2 CPUs in its own process group, with a
throwaway token (Ray 2.59+ authenticates by default), points ``RAY_ADDRESS`` at it, and
stops the group afterwards; the tests check that Ray stores the serial backend's rows,
that a worker killed mid-task is retried with no step lost or stored twice, and that an
evaluation whose analysts answer on Ray gives the serial results.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from stockagents.backtest import collect as collect_module
from stockagents.backtest.collect import collect_chunk, collect_trajectories
from stockagents.backtest.experience import ExperienceLibrary
from stockagents.cli.main import main
from stockagents.core.errors import ProviderUnavailableError
from stockagents.core.types import ExperienceStep
from stockagents.evaluation.evaluate import evaluate_models

SYMBOLS = ["AAPL", "NVDA"]
WINDOW = {"start": dt.date(2023, 6, 1), "end": dt.date(2023, 7, 31)}
#: Where a task that kills its worker leaves its mark (the cluster's environment).
MARKERS = "STOCKAGENTS_TEST_RAY_MARKERS"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _ours(marker: str) -> list[int]:
    """The processes (a worker runs in its own process group) whose command line names
    the cluster's own temp directory."""
    found = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True).stdout
    return [int(pid) for pid in found.split() if int(pid) != os.getpid()]


@pytest.fixture(scope="module")
def ray_cluster(_model_cache: None) -> Iterator[dict[str, str]]:
    """A Ray head on this machine (2 CPUs; the node address Ray picks, with loopback
    asked for), reached through ``RAY_ADDRESS`` with a throwaway token; stopped after."""
    if importlib.util.find_spec("ray") is None:  # not imported: ray reads RAY_AUTH_MODE once
        pytest.skip("Ray is the optional extra stockagents[ray]")
    root = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))  # short: Ray's socket paths
    token = root / "token"
    token.write_text(secrets.token_hex(32))
    (root / "markers").mkdir()
    port = _free_port()
    env = {
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN_PATH": str(token),
        MARKERS: str(root / "markers"),
    }
    ray = Path(sys.executable).parent / "ray"
    started = time.perf_counter()
    head = subprocess.Popen(
        [
            str(ray), "start", "--head", "--node-ip-address", "127.0.0.1",
            "--port", str(port), "--num-cpus", "2", "--disable-usage-stats",
            "--include-dashboard", "false", "--temp-dir", str(root / "r"),
        ],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: stopped by its id below
    )  # fmt: skip
    try:
        output, _ = head.communicate(timeout=180)
        assert head.returncode == 0, output[-2000:]
        saved = {k: os.environ.get(k) for k in [*env, "RAY_ADDRESS"]}
        os.environ.update(env, RAY_ADDRESS=f"127.0.0.1:{port}")
        try:
            seconds = time.perf_counter() - started
            yield {"address": os.environ["RAY_ADDRESS"], "started_s": f"{seconds:.1f}"}
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
    finally:
        _stop(head.pid, str(root / "r"))
        shutil.rmtree(root, ignore_errors=True)


def _stop(pgid: int, marker: str) -> None:
    """Stop the head's process group (TERM, then KILL), then any of its workers left."""
    if _alive(pgid):
        os.killpg(pgid, signal.SIGTERM)  # a throwaway cluster: a short grace, then KILL
        deadline = time.monotonic() + 2
        while _alive(pgid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _alive(pgid):
            os.killpg(pgid, signal.SIGKILL)
    deadline = time.monotonic() + 15
    while _ours(marker) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in _ours(marker):
        os.kill(pid, signal.SIGKILL)


def _frame(db: Path) -> pd.DataFrame:
    return ExperienceLibrary(db).frame().drop(columns=["id", "run_id"])


@pytest.fixture(scope="module")
def serial_rows(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    out = tmp_path_factory.mktemp("serial") / "run"
    summary = collect_trajectories(SYMBOLS, output=out, backend="serial", progress=False, **WINDOW)
    return _frame(summary.db_path)


@pytest.mark.slow
def test_collect_on_ray_through_the_cli_stores_the_serial_rows(
    ray_cluster: dict[str, str], serial_rows: pd.DataFrame, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    code = main(
        [
            "collect", *SYMBOLS, "--start", "2023-06-01", "--end", "2023-07-31",
            "--backend", "ray", "--output", str(out),
        ]
    )  # fmt: skip
    assert code == 0
    pd.testing.assert_frame_equal(_frame(out / "experience_library.db"), serial_rows)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["backend"] == "ray"
    assert manifest["status"] == "complete"


def dying_chunk(
    config_json: str, run_id: str, symbol: str, days: list[str], models: str | None = None
) -> list[ExperienceStep]:
    """``collect_chunk``, except that the first task to get here (of the run) kills its
    own worker with SIGKILL once its steps are computed: they are never delivered."""
    steps = collect_chunk(config_json, run_id, symbol, days, models)
    marker = Path(os.environ[MARKERS]) / f"{run_id}.died"
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return steps
    os.write(fd, f"{os.getpid()} {symbol} {days[0]}".encode())
    os.close(fd)
    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("unreachable")


@pytest.mark.slow
def test_a_worker_killed_mid_task_is_retried_and_nothing_is_stored_twice(
    ray_cluster: dict[str, str],
    serial_rows: pd.DataFrame,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(collect_module, "collect_chunk", dying_chunk)
    run_id = f"killed-{os.getpid()}-{time.time_ns()}"
    summary = collect_trajectories(
        SYMBOLS, output=tmp_path / "run", backend="ray", run_id=run_id, progress=False, **WINDOW
    )
    marker = Path(os.environ[MARKERS]) / f"{run_id}.died"
    pid, symbol, day = marker.read_text().split()
    assert int(pid) != os.getpid()  # a Ray worker died, not this process
    assert summary.status == "complete"
    assert summary.inserted == summary.planned == len(serial_rows)
    rows = _frame(summary.db_path)
    assert not rows.duplicated(["symbol", "as_of"]).any()
    assert ((rows["symbol"] == symbol) & (rows["as_of"] == dt.date.fromisoformat(day))).any()
    pd.testing.assert_frame_equal(rows, serial_rows)


@pytest.fixture(scope="module")
def tiny_sets(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Two model sets as SFT and RL write them: tiny adapters for the three analysts
    (shared), the strategist expert in the first and a tiny adapter in the second."""
    from tests.helpers import make_tiny_adapter

    root = tmp_path_factory.mktemp("sets")
    adapters = root / "adapters"
    for seed, agent in enumerate(("news", "technical", "fundamental", "strategist")):
        make_tiny_adapter(adapters / agent, seed=seed, agent=agent)
    specs = []
    for name, strategist in (("sft", "expert"), ("rl", str(adapters / "strategist"))):
        directory = root / name
        directory.mkdir()
        agents = {a: str(adapters / a) for a in ("news", "technical", "fundamental")}
        agents["strategist"] = strategist
        (directory / "manifest.json").write_text(json.dumps({"agents": agents}), "utf-8")
        specs.append(f"{name}:{directory}")
    return specs


def _without_timings(results: dict[str, Any]) -> dict[str, Any]:
    results = dict(results, created=None)
    results["sets"] = [dict(s, seconds=None) for s in results["sets"]]
    return results


@pytest.mark.slow
def test_evaluation_with_analysts_on_ray_equals_serial(
    ray_cluster: dict[str, str], tiny_sets: list[str], tmp_path: Path
) -> None:
    specs = tiny_sets
    common: dict[str, Any] = {"symbols": SYMBOLS, "test_days": 6, "cache": False}
    serial = evaluate_models(
        ["baseline:expert", *specs], output_root=tmp_path / "serial", progress=False, **common
    )
    code = main(
        [
            "evaluate", "--models", "baseline:expert", *specs, "--test-symbols", *SYMBOLS,
            "--test-days", "6", "--no-cache", "--quiet", "--backend", "ray",
            "--output-root", str(tmp_path / "ray"),
        ]
    )  # fmt: skip
    assert code == 0
    (on_ray,) = (tmp_path / "ray").glob("eval_*")
    a = json.loads((serial / "evaluation_results.json").read_text())
    b = json.loads((on_ray / "evaluation_results.json").read_text())
    assert [s["name"] for s in b["sets"]] == ["baseline", "sft", "rl"]
    assert _without_timings(a) == _without_timings(b)  # every decision, metric and grade


@pytest.mark.slow
def test_on_ray_every_analyst_answer_comes_from_the_cluster(
    ray_cluster: dict[str, str], tiny_sets: list[str]
) -> None:
    """The backtest here asks the strategist only: the analysts' answers all come from
    Ray, and the set that shares them (rl) asks Ray for nothing."""
    from stockagents.backtest.on_ray import ray_session
    from stockagents.core.config import load_config
    from stockagents.data.factory import build_sources
    from stockagents.evaluation.model_sets import parse_model_sets
    from stockagents.evaluation.on_ray import RayAnalysts
    from stockagents.evaluation.runner import run_model_set

    app = load_config(None)
    sources = build_sources(app.data)
    prices = {s: sources.prices.prices(s, as_of="2023-09-21") for s in SYMBOLS}
    window = (dt.date(2023, 9, 15), dt.date(2023, 9, 21))  # 5 sessions
    shared: dict[Any, Any] = {}
    sft, rl = parse_model_sets(tiny_sets)
    with ray_session(2):
        prefill = RayAnalysts(2)
        first = run_model_set(sft, app, sources, prices, window, shared=shared, prefill=prefill)
        assert prefill.answers == len(shared) == 3 * len(first.steps) == 30
        run_model_set(rl, app, sources, prices, window, shared=shared, prefill=prefill)
    assert prefill.answers == len(shared) == 30


def test_without_ray_the_backends_say_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from stockagents.core import packages

    monkeypatch.setattr(packages, "is_installed", lambda package: package != "ray")
    with pytest.raises(ProviderUnavailableError, match=r"pip install 'stockagents\[ray\]'"):
        collect_trajectories(["AAPL"], None, None, tmp_path / "x", backend="ray", progress=False)
    assert not (tmp_path / "x").exists()
    with pytest.raises(ProviderUnavailableError, match=r"stockagents\[ray\]"):
        evaluate_models(["baseline:expert"], backend="ray", output_root=tmp_path / "e")
