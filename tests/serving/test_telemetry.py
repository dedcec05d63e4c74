"""``/metrics`` in Prometheus' text format and ``/monitor`` as JSON, read from the journal."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from stockagents.core.config import load_config
from stockagents.monitoring import Monitor
from stockagents.serving.app import create_app


def _families(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def test_metrics_parse_and_count_requests_decisions_and_the_journal(tmp_path: Path) -> None:
    journal = tmp_path / "journal.db"
    config = {"monitor": {"journal": str(journal), "watchlist": ["AAPL"],
                          "rules": {"min_decisions": 3, "min_directional": 1}}}  # fmt: skip
    app = create_app(config, models="expert", api_key="")
    with TestClient(app) as client:
        empty = client.get("/monitor").json()
        assert empty["days"] == 0
        assert empty["releases"] == []
        assert not journal.exists()
        assert client.get("/analyze/AAPL", params={"as_of": "2023-09-01"}).status_code == 200
        assert client.post("/analyze", json={"symbols": ["AAPL", "AMZN"]}).status_code == 200
        assert client.get("/analyze/NOPE").status_code == 404
        with Monitor(load_config(config)) as monitor:
            calendar = monitor.calendar()
            monitor.replay(calendar[-12], calendar[-3])
        response = client.get("/metrics")
        status = client.get("/monitor").json()
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    metrics = _families(response.text)
    requests = metrics["stockagents_http_requests_total"]
    assert (
        requests[(("method", "GET"), ("route", "/analyze/{symbol:path}"), ("status", "200"))] == 1
    )
    assert (
        requests[(("method", "GET"), ("route", "/analyze/{symbol:path}"), ("status", "404"))] == 1
    )
    assert sum(metrics["stockagents_decisions_total"].values()) == 3
    assert metrics["stockagents_answers_total"][(("valid", "true"),)] == 12  # 3 x 4 agents
    assert metrics["stockagents_http_request_duration_seconds_count"][(("route", "/analyze"),)] == 1
    assert metrics["stockagents_monitor_days"][()] == 10
    assert metrics["stockagents_monitor_journal_lag_days"][()] == 2
    verdict = status["releases"][0]["verdict"]
    assert (
        metrics["stockagents_monitor_verdict"][(("release", "expert"), ("verdict", verdict))] == 1
    )
    level = metrics["stockagents_monitor_verdict_level"][(("release", "expert"),)]
    assert level == ["pending", "healthy", "watch", "degraded"].index(verdict)
    assert metrics["stockagents_monitor_valid_share"][(("release", "expert"),)] == 1.0
    assert status["last_day"] == calendar[-3].isoformat()
    assert status["lag_days"] == 2
    assert dt.date.fromisoformat(status["latest_data"]) == calendar[-1]
