"""The production loop on the real sample: replay, outcomes, report, idempotent days, a
run killed mid-day, a bad model that degrades and is rolled back exactly once, alerts to a
webhook on loopback, and the CLI."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stockagents.cli.main import main
from stockagents.core.config import AppConfig, load_config
from stockagents.core.registry import production_manifest
from stockagents.deployment import ModelDeployer
from stockagents.monitoring import Monitor
from stockagents.monitoring.report import write_report
from tests.fake_api import FakeServer, openai_completion
from tests.loopback import WebhookReceiver

REPO = Path(__file__).parents[2]
WATCH = ["AAPL", "AMZN"]


def _config(tmp_path: Path, **monitor: Any) -> AppConfig:
    rules = {
        "min_decisions": 6,
        "min_directional": 4,
        "window_days": 20,
        **monitor.pop("rules", {}),
    }
    return load_config(
        {"monitor": {"journal": str(tmp_path / "journal.db"), "watchlist": WATCH,
                     "report_dir": str(tmp_path / "reports"), "rules": rules, **monitor}}
    )  # fmt: skip


@pytest.fixture(scope="module")
def days() -> list[dt.date]:
    with Monitor(load_config({"monitor": {"watchlist": WATCH, "journal": "sqlite://"}})) as m:
        return m.calendar()


def test_a_replay_fills_the_journal_outcomes_book_and_report(
    tmp_path: Path, days: list[dt.date]
) -> None:
    start, end = days[-30], days[-1]
    with Monitor(_config(tmp_path)) as monitor:
        results = monitor.replay(start, end)
        journal = monitor.journal
        decisions = journal.decisions()
        assert [r.day for r in results] == days[-30:]
        assert len(decisions) == 60  # two symbols, thirty days, one decision each
        assert {d["release"] for d in decisions} == {"expert"}
        assert all(d["valid"] and d["prompt_hashes"]["strategist"] for d in decisions)
        assert all(set(d["model_hashes"]) >= {"strategist", "technical"} for d in decisions)
        # outcomes: exactly those whose exit bar (horizon + 1 bars on) is in the data by `end`
        done = [d for d in decisions if d["outcome_day"] is not None]
        horizon = decisions[0]["horizon_days"]
        assert {d["day"] for d in done} == set(days[-30 : -(horizon + 1)])
        assert all(d["outcome_day"] <= end for d in done)
        assert all(d["net_return"] == 0.0 for d in done if d["action"] == "HOLD")
        book = journal.book()
        assert book[0]["day"] == start
        assert book[-1]["day"] == end
        assert book[0]["equity"] == pytest.approx(100_000.0)
        verdicts = journal.verdicts("expert")
        assert verdicts[0]["verdict"] == "pending"
        assert verdicts[-1]["day"] == end
        assert verdicts[-1]["verdict"] in ("healthy", "watch", "degraded")
        assert verdicts[-1]["metrics"]["realised"] == len(
            [d for d in decisions if d["outcome_day"] is not None and d["day"] >= days[-20]]
        )
        filled = [o for o in journal.orders() if o["status"] == "filled"]
        assert all(o["filled_price"] > 0 and o["broker"] == "simulated" for o in filled)
        files = write_report(journal, monitor.status(), tmp_path / "report", 0.25)
    text = files["markdown"].read_text(encoding="utf-8")
    assert "| expert | **" in text
    assert "## Drift" in text
    assert "## Verdict changes" in text
    assert files["plot"].stat().st_size > 20_000
    status = json.loads(files["status"].read_text(encoding="utf-8"))
    assert status["last_day"] == end.isoformat()
    assert status["days"] == 30


def test_the_same_day_twice_adds_nothing(tmp_path: Path, days: list[dt.date]) -> None:
    with Monitor(_config(tmp_path)) as monitor:
        first = monitor.run(days[-5])
        again = monitor.run(days[-5])
        assert first.written
        assert first.decisions == 2
        assert not again.written
        assert len(monitor.journal.decisions()) == 2
        assert len(monitor.journal.days()) == 1
        monitor.update(days[-1])
        monitor.update(days[-1])  # outcomes and verdicts are replaced, not added
        assert len(monitor.journal.verdicts()) == 1


def test_a_run_on_a_day_without_bars_is_one_clear_error(tmp_path: Path) -> None:
    with Monitor(_config(tmp_path)) as monitor:
        with pytest.raises(Exception, match="no watched symbol has a bar on 2023-09-02"):
            monitor.run(dt.date(2023, 9, 2))  # a Saturday
        assert monitor.journal.days() == []


_KILLER = """
import datetime as dt, os, signal, sys
from stockagents.core.config import load_config
from stockagents.monitoring import Monitor
config = load_config({"monitor": {"journal": sys.argv[1], "watchlist": ["AAPL", "AMZN"]}})
def die(day):
    os.kill(os.getpid(), signal.SIGKILL)
with Monitor(config, before_write=die) as monitor:
    monitor.run(dt.date.fromisoformat(sys.argv[2]))
"""


def test_a_run_killed_mid_day_leaves_no_partial_day_and_a_rerun_completes_it(
    tmp_path: Path, days: list[dt.date]
) -> None:
    journal = tmp_path / "journal.db"
    config = _config(tmp_path)
    with Monitor(config) as monitor:
        monitor.run(days[-3])  # a day already journaled survives the kill
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_KILLER), str(journal), days[-2].isoformat()],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == -9, proc.stderr[-500:]
    with Monitor(config) as monitor:
        assert [d["day"] for d in monitor.journal.days()] == [days[-3]]
        assert {d["day"] for d in monitor.journal.decisions()} == {days[-3]}
        assert monitor.run(days[-2]).written
        assert [d["day"] for d in monitor.journal.days()] == [days[-3], days[-2]]
        assert len(monitor.journal.decisions()) == 4


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver.running([503]) as hook:  # the first alert is retried
        yield hook


def _bad_strategist(root: Path, server: FakeServer) -> Path:
    """An API strategist whose server answers the deployment's verification well and then
    only prose: every decision after it falls back, invalid."""
    calls = {"n": 0}

    def respond(path: str, body: dict[str, Any]) -> dict[str, Any]:
        calls["n"] += 1
        reply = openai_completion(body)
        good = {"reasoning": "fine", "action": "HOLD", "position_size": 0.0, "confidence": 0.5,
                "stop_loss_pct": None, "take_profit_pct": None, "horizon_days": 5}  # fmt: skip
        text = json.dumps(good) if calls["n"] == 1 else "I would rather not say."
        reply["choices"][0]["message"]["content"] = text
        return reply

    server.respond = respond
    root.mkdir(parents=True)
    (root / "manifest.json").write_text(
        json.dumps({"kind": "openai", "model": "stale", "base_url": server.openai_url,
                    "agent": "strategist", "version": "stale-1"}),
        encoding="utf-8",
    )  # fmt: skip
    return root


def test_a_bad_model_deployed_mid_replay_degrades_and_is_rolled_back_once(
    tmp_path: Path,
    days: list[dt.date],
    server: FakeServer,
    receiver: WebhookReceiver,
    models_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    config = _config(tmp_path, on_degraded="rollback", webhook_url=receiver.url)
    deployer = ModelDeployer(models_dir, config=config)
    deployer.deploy({"strategist": "expert"}, force=True)  # release A: the rules
    good = production_manifest(models_dir)
    assert good is not None
    with Monitor(config) as monitor:
        good_key = monitor.release().key
        monitor.replay(days[-40], days[-31])
        deployer.deploy({"strategist": _bad_strategist(tmp_path / "bad", server)}, force=True)
        bad_key = monitor.release().key
        assert bad_key != good_key
        monitor.replay(days[-30], days[-1])
        journal = monitor.journal
        bad = journal.verdicts(bad_key)
        assert any(v["verdict"] == "degraded" for v in bad)
        first = next(v for v in bad if v["verdict"] == "degraded")
        assert any("valid output 0%" in r for r in first["reasons"])
        actions = journal.actions()
        assert len(actions) == 1  # once, however many days it stays degraded
        assert actions[0]["release"] == bad_key
        assert actions[0]["outcome"] == "done"
        assert monitor.release().key == good_key  # production is the previous release again
        after = [d for d in journal.decisions() if d["day"] > first["day"]]
        assert after
        assert {d["release"] for d in after} == {good_key}
        assert all(d["valid"] for d in after)
        records = ModelDeployer(models_dir, config=config).status()["records"]
        assert [r["action"] for r in records].count("rollback") == 1
        alerts = [a for a in journal.alerts() if a["release"] == bad_key]
        assert [a["verdict"] for a in alerts][-1] == "degraded"
        assert alerts[-1]["delivery"].startswith("delivered (200)")
    posted = [p for p in receiver.bodies if p["release"] == bad_key and p["verdict"] == "degraded"]
    assert posted
    assert posted[0]["kind"] == "stockagents.monitor.verdict"
    assert posted[0]["metrics"]["valid_share"] == 0.0


def test_the_cli_runs_updates_replays_reports_and_errors_in_one_line(
    tmp_path: Path, days: list[dt.date], capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "monitor:\n  watchlist: [AAPL]\n  rules: {min_decisions: 3, min_directional: 2}\n",
        encoding="utf-8",
    )
    journal = str(tmp_path / "j.db")
    common = ["--config", str(config), "--journal", journal]
    day = days[-12].isoformat()
    assert main(["monitor", "run", "--as-of", day, *common]) == 0
    assert main(["monitor", "run", "--as-of", day, *common]) == 0
    assert "journaled already" in capsys.readouterr().out
    start, end = days[-11].isoformat(), days[-1].isoformat()
    assert main(["monitor", "replay", "--start", start, "--end", end, *common]) == 0
    assert "11 days replayed" in capsys.readouterr().out
    assert main(["monitor", "update", "--as-of", end, "--json", *common]) == 0
    judged = json.loads(capsys.readouterr().out)
    assert judged[0]["release"] == "expert"
    assert judged[0]["verdict"] != "pending"
    out = tmp_path / "report"
    assert main(["monitor", "report", "--out", str(out), *common]) == 0
    assert (out / "monitor_report.md").is_file()
    assert (out / "monitor_report.png").is_file()
    assert "monitor_report.png" in capsys.readouterr().out
    assert main(["monitor", "status", "--json", *common]) == 0
    assert json.loads(capsys.readouterr().out)["days"] == 12
    capsys.readouterr()
    assert main(["monitor", "run", "--as-of", "2023-13-01", *common]) == 1
    assert main(["monitor", "replay", "--start", end, "--end", start, *common]) == 1
    config.write_text("monitor:\n  watchlist: [ZZZZ]\n", encoding="utf-8")
    assert main(["monitor", "run", *common]) == 1
    empty = ["--config", str(config), "--journal", str(tmp_path / "empty.db")]
    config.write_text("monitor:\n  broker: paper\n", encoding="utf-8")
    assert main(["monitor", "status", *empty]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4
    assert all(line.startswith("error: ") for line in err)
    assert "YYYY-MM-DD" in err[0]
    assert "is before" in err[1]
    assert "ZZZZ" in err[2]
    assert "monitor.broker" in err[3]


def test_a_new_verdict_holds_only_once_found_on_consecutive_days(
    tmp_path: Path, days: list[dt.date]
) -> None:
    from stockagents.monitoring.health import Health

    findings = ["healthy", "watch", "healthy", "watch", "watch", "degraded", "watch", "watch"]
    with Monitor(_config(tmp_path)) as monitor:
        for day, finding in zip(days[-8:], findings, strict=True):
            monitor._record(Health("r1", day, finding, [f"found {finding}"], {}))  # type: ignore[arg-type]
        held = [v["verdict"] for v in monitor.journal.verdicts("r1")]
        alerts = [(a["previous"], a["verdict"]) for a in monitor.journal.alerts()]
    assert held == ["healthy", "healthy", "healthy", "healthy", "watch", "watch", "watch", "watch"]
    assert alerts == [(None, "healthy"), ("healthy", "watch")]  # one noisy day alerts nobody
