from __future__ import annotations

import datetime as dt
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from stockagents.backtest.collect import collect_trajectories, forward_returns
from stockagents.backtest.experience import ExperienceLibrary
from stockagents.core.config import load_config
from stockagents.core.errors import DataError
from stockagents.data.sample import SamplePriceProvider
from tests.helpers import make_bars

REPO = Path(__file__).resolve().parents[2]


def test_forward_returns_from_next_open() -> None:
    bars = make_bars([10, 11, 12, 13, 14, 15])
    day = bars.index[1].date()
    fwd, bar = forward_returns(bars, day, [1, 2, 5])
    entry = bars["open"].iloc[2]
    assert bar == bars.index[1]
    assert fwd[1] == pytest.approx(bars["close"].iloc[2] / entry - 1)
    assert fwd[2] == pytest.approx(bars["close"].iloc[3] / entry - 1)
    assert fwd[5] is None  # past the end of the data
    last, _ = forward_returns(bars, bars.index[-1].date(), [1])
    assert last == {1: None}


def test_collection_rows(tmp_path: Path) -> None:
    summary = collect_trajectories(
        ["aapl", "TSLA", "GOOGL"],
        dt.date(2023, 8, 1),
        dt.date(2023, 12, 31),
        tmp_path / "run",
        backend="serial",
        progress=False,
    )
    assert summary.symbols == ["AAPL"]
    assert "did you mean GOOG?" in summary.skipped["GOOGL"]
    assert "TSLA" in summary.skipped
    days = SamplePriceProvider().prices("AAPL", dt.date(2023, 9, 21)).loc["2023-08-01":].index
    assert summary.planned == summary.inserted == len(days)
    frame = ExperienceLibrary(summary.db_path).frame(run_id="run")
    assert list(frame["as_of"]) == [d.date() for d in days]
    row = frame.iloc[0]
    assert set(row["agents"]) == {"news", "technical", "fundamental", "strategist"}
    technical = row["agents"]["technical"]
    messages = json.loads(technical["prompt"])
    assert [m["role"] for m in messages] == ["system", "user"]
    assert "AAPL at the close of 2023-08-01" in messages[1]["content"]
    assert "rsi_14=" in messages[1]["content"]
    assert json.loads(technical["payload"])["as_of"] == "2023-08-01"
    completion = json.loads(technical["output"])  # the expert answers in the model schema
    assert set(completion) == {"signal", "score", "confidence", "reasoning"}
    assert set(json.loads(row["agents"]["strategist"]["output"])) >= {"action", "position_size"}
    bars = SamplePriceProvider().prices("AAPL", dt.date(2023, 9, 21))
    i = bars.index.get_loc(pd.Timestamp("2023-08-01"))
    expected = bars["close"].iloc[i + 5] / bars["open"].iloc[i + 1] - 1
    assert row["fwd_ret_5"] == pytest.approx(expected)
    direction = {"BUY": 1, "SELL": -1, "HOLD": 0}[row["action"]]
    assert row["reward"] == pytest.approx(
        direction * row["horizon_return"] - abs(direction) * row["cost"]
    )
    assert (
        frame.iloc[-1]["fwd_ret_1"] != frame.iloc[-1]["fwd_ret_1"]
        or frame.iloc[-1]["fwd_ret_1"] is None
    )
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["counts"]["steps"] == len(days)
    assert len(manifest["data"]["sha256"]) == 64


def test_process_pool_matches_serial(tmp_path: Path) -> None:
    kwargs = {"start": dt.date(2023, 6, 1), "end": dt.date(2023, 7, 31), "progress": False}
    serial = collect_trajectories(
        ["AAPL", "NVDA"], output=tmp_path / "s", backend="serial", **kwargs
    )
    pooled = collect_trajectories(
        ["AAPL", "NVDA"], output=tmp_path / "p", backend="process", workers=2, **kwargs
    )
    assert serial.inserted == pooled.inserted > 0
    drop = ["id", "run_id"]
    a = ExperienceLibrary(serial.db_path).frame().drop(columns=drop)
    b = ExperienceLibrary(pooled.db_path).frame().drop(columns=drop)
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize(("asked", "expected"), [(None, "3"), ("1", "1")])
def test_pool_workers_take_a_share_of_the_cpus(
    monkeypatch: pytest.MonkeyPatch, asked: str | None, expected: str
) -> None:
    """Each worker sizes torch to its share (two workers on every core ran 6x slower than
    one process), unless OMP_NUM_THREADS already says how many."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from stockagents.backtest.collect import _start_worker

    if asked is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", asked)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        1, mp_context=context, initializer=_start_worker, initargs=(os.getpid(), 3)
    ) as pool:
        assert pool.submit(os.getenv, "OMP_NUM_THREADS").result(timeout=60) == expected


def test_nothing_to_collect_is_clear(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nothing to collect.*available symbols: AAPL"):
        collect_trajectories(["MSFT"], None, None, tmp_path / "x", progress=False)


def test_every_and_max_days(tmp_path: Path) -> None:
    summary = collect_trajectories(
        ["NVDA"],
        dt.date(2023, 1, 1),
        None,
        tmp_path / "r",
        every=5,
        max_days=7,
        backend="serial",
        progress=False,
    )
    frame = ExperienceLibrary(summary.db_path).frame()
    assert len(frame) == 7
    days = SamplePriceProvider().prices("NVDA", dt.date(2023, 9, 21)).loc["2023-01-01":].index
    assert list(frame["as_of"]) == [d.date() for d in days[::5][:7]]


def test_rerun_inserts_nothing_twice(tmp_path: Path) -> None:
    kwargs = {"start": dt.date(2023, 9, 1), "end": None, "backend": "serial", "progress": False}
    first = collect_trajectories(["AAPL"], output=tmp_path / "r", **kwargs)
    again = collect_trajectories(["AAPL"], output=tmp_path / "r", **kwargs)
    assert again.inserted == 0
    assert again.already_present == first.inserted


@pytest.mark.slow
def test_killed_collection_resumes_with_every_row_once(tmp_path: Path) -> None:
    output = tmp_path / "killed"
    args = [
        sys.executable,
        str(REPO / "training" / "rl" / "backtester.py"),
        "--symbols",
        "AAPL",
        "AMZN",
        "GOOG",
        "META",
        "NFLX",
        "NVDA",
        "--start-date",
        "2018-01-01",
        "--end-date",
        "2019-12-31",
        "--backend",
        "serial",
        "--output",
        str(output),
    ]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = output / "experience_library.db"
    deadline = time.monotonic() + 60
    stored = 0
    while time.monotonic() < deadline and proc.poll() is None:
        if db.exists():
            try:
                with sqlite3.connect(db, timeout=1) as conn:
                    stored = conn.execute("SELECT COUNT(*) FROM steps").fetchone()[0]
            except sqlite3.OperationalError:
                stored = 0
            if stored >= 50:
                break
        time.sleep(0.02)
    assert proc.poll() is None, "collection finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with sqlite3.connect(db) as conn:
        before = conn.execute("SELECT COUNT(*) FROM steps").fetchone()[0]
        first_rows = conn.execute(
            "SELECT id, symbol, as_of FROM steps ORDER BY id LIMIT 20"
        ).fetchall()
    planned_total = sum(
        len(SamplePriceProvider().prices(s, dt.date(2019, 12, 31)).loc["2018-01-01":])
        for s in ("AAPL", "AMZN", "GOOG", "META", "NFLX", "NVDA")
    )
    assert 0 < before < planned_total
    summary = collect_trajectories(
        ["AAPL", "AMZN", "GOOG", "META", "NFLX", "NVDA"],
        dt.date(2018, 1, 1),
        dt.date(2019, 12, 31),
        output,
        backend="process",
        workers=2,
        progress=False,
    )
    assert summary.already_present == before
    assert summary.inserted == planned_total - before
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM steps").fetchone()[0] == planned_total
        dupes = conn.execute(
            "SELECT COUNT(*) FROM (SELECT symbol, as_of FROM steps GROUP BY run_id, symbol, as_of "
            "HAVING COUNT(*) > 1)"
        ).fetchone()[0]
        assert dupes == 0
        assert (
            conn.execute("SELECT id, symbol, as_of FROM steps ORDER BY id LIMIT 20").fetchall()
            == first_rows
        )
    assert json.loads((output / "manifest.json").read_text())["status"] == "complete"


def test_resume_with_other_settings_is_refused(tmp_path: Path) -> None:
    kwargs = {"start": dt.date(2023, 9, 1), "end": None, "backend": "serial", "progress": False}
    collect_trajectories(["AAPL"], output=tmp_path / "r", **kwargs)
    changed = load_config({"agents": {"strategist": {"buy_threshold": 0.3}}})
    with pytest.raises(DataError, match=r"other settings \(config_sha256 differ\)"):
        collect_trajectories(["AAPL"], output=tmp_path / "r", config=changed, **kwargs)
    with pytest.raises(DataError, match="symbols differ"):
        collect_trajectories(["AAPL", "NVDA"], output=tmp_path / "r", **kwargs)
    assert ExperienceLibrary(tmp_path / "r" / "experience_library.db").count() > 0


def test_steps_carry_their_segment(tmp_path: Path) -> None:
    summary = collect_trajectories(
        ["NFLX"], dt.date(2022, 10, 3), None, tmp_path / "seg", backend="serial", progress=False
    )
    frame = ExperienceLibrary(summary.db_path).frame()
    splits = json.loads((tmp_path / "seg" / "manifest.json").read_text())["splits"]
    test_start = dt.date.fromisoformat(splits["test"]["start"])
    assert set(frame.loc[frame["as_of"] >= test_start, "segment"]) == {"test"}
    assert set(frame["segment"].dropna()) == {"train", "validation", "test"}
    embargo = frame[frame["segment"].isna()]
    assert len(embargo) == 40  # two 20-day embargoes inside the range
    counts = json.loads((tmp_path / "seg" / "manifest.json").read_text())["counts"]
    assert counts["by_segment"]["test"] == 90


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"every": 0}, "every must be at least 1"),
        ({"max_days": 0}, "max_days must be at least 1"),
        ({"workers": 0}, "workers must be at least 1"),
    ],
)
def test_bad_arguments_write_nothing(tmp_path: Path, kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(DataError, match=message):
        collect_trajectories(["AAPL"], None, None, tmp_path / "x", progress=False, **kwargs)
    assert not (tmp_path / "x").exists()


def test_malformed_file_is_skipped_not_fatal(tmp_path: Path) -> None:
    prices = tmp_path / "prices"
    prices.mkdir()
    make_bars([100 + i for i in range(80)]).reset_index().to_csv(prices / "GOOD.csv", index=False)
    (prices / "BAD.csv").write_text("date,open,high,low,close,volume\nnotadate,1,2,0.5,1,10\n")
    config = load_config({"data": {"prices": {"provider": "csv", "csv_dir": str(prices)}}})
    summary = collect_trajectories(
        ["GOOD", "BAD"],
        None,
        None,
        tmp_path / "run",
        config=config,
        backend="serial",
        progress=False,
    )
    assert summary.symbols == ["GOOD"]
    assert "BAD.csv" in summary.skipped["BAD"]
    assert "unreadable date" in summary.skipped["BAD"]
    assert summary.inserted == 80 - 29


_COLLECTOR = """
import datetime as dt, sys
from pathlib import Path
from stockagents.backtest.collect import collect_trajectories

if __name__ == "__main__":  # the pool's workers are spawned: they import this file
    collect_trajectories(
        ["AAPL", "AMZN", "GOOG", "META", "NFLX", "NVDA"], dt.date(2018, 1, 1),
        dt.date(2019, 12, 31), Path(sys.argv[1]), backend="process", workers=2, progress=False,
    )
"""


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (Linux: from /proc)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    """Running, not a zombie (an orphan's zombie waits for a reaper that may not come)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
def test_workers_die_with_a_killed_collector(tmp_path: Path) -> None:
    """SIGKILL of the collecting process takes its pool workers and the resource tracker
    with it at once: none holds the caller's pipes open."""
    script = tmp_path / "collector.py"
    script.write_text(_COLLECTOR, encoding="utf-8")
    db = tmp_path / "out" / "experience_library.db"
    proc = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "out")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    children: list[int] = []
    try:
        deadline = time.monotonic() + 120
        stored = 0
        while time.monotonic() < deadline and proc.poll() is None and stored == 0:
            if db.exists():
                try:
                    with sqlite3.connect(db, timeout=1) as conn:
                        stored = conn.execute("SELECT COUNT(*) FROM steps").fetchone()[0]
                except sqlite3.OperationalError:
                    stored = 0
            time.sleep(0.05)
        assert proc.poll() is None, "the collection ended before it could be killed"
        children = _children(proc.pid)
        assert len(children) >= 3, children  # two workers and the resource tracker
        os.kill(proc.pid, signal.SIGKILL)
        started = time.monotonic()
        proc.communicate(timeout=20)  # EOF: no process left holds stdout or stderr
        while any(_alive(pid) for pid in children) and time.monotonic() - started < 10:
            time.sleep(0.05)
        assert not [pid for pid in children if _alive(pid)]
        assert time.monotonic() - started < 10
    finally:
        for pid in [proc.pid, *children]:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        proc.wait()
