"""``stockagents monitor report``: ``monitor_report.md`` and ``monitor_report.png`` from the
journal alone (no model runs, no prices).

The markdown gives production and the journal's lag, each release's latest verdict with
its live metrics beside what its evaluation promised, the drift (PSI) behind it, the
verdict changes, alerts, actions and orders. The PNG has four panels: the paper book's
equity coloured by the release that held it, each release's rolling Sharpe with its
evaluation's interval as a band, calibration and valid output over time, and the largest
PSI over time against the watch line; verdict changes are marked on the first.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from stockagents.core.formatting import format_or_na
from stockagents.core.jsonio import write_json
from stockagents.monitoring.journal import Journal

__all__ = ["write_report"]

_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
_VERDICT_COLOURS = {"pending": "#999999", "healthy": "#2ca02c", "watch": "#ff7f0e",
                    "degraded": "#d62728"}  # fmt: skip


def _pct(value: float | None) -> str:
    return format_or_na(value, ".1%")


def _num(value: float | None, spec: str = ".2f") -> str:
    return format_or_na(value, spec)


def _changes(verdicts: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The verdicts that differ from the release's previous one."""
    last: dict[str, str] = {}
    out = []
    for v in verdicts:
        if last.get(v["release"]) != v["verdict"]:
            out.append(v)
            last[v["release"]] = v["verdict"]
    return out


def _promised(evaluation: Mapping[str, Any] | None) -> str:
    entry = (evaluation or {}).get("set") or {}
    interval = entry.get("sharpe_interval") or {}
    if not interval:
        return "no evaluation (forced)"
    metrics = (entry.get("metrics") or {}).get("with_costs") or {}
    return (
        f"Sharpe {_num(interval.get('sharpe'))} [{_num(interval.get('low'))}, "
        f"{_num(interval.get('high'))}], max DD {_pct(metrics.get('max_drawdown'))}"
    )


def _markdown(journal: Journal, status: Mapping[str, Any], psi_watch: float) -> str:
    releases = journal.releases()
    verdicts = journal.verdicts()
    latest: dict[str, Mapping[str, Any]] = {row["release"]: row for row in verdicts}
    days = journal.days()
    lines = [
        "# Production monitor",
        "",
        f"- Journal: `{status['journal']}`; {len(days)} days journaled"
        + (f", {days[0]['day']} to {days[-1]['day']}" if days else ""),
        f"- Production: **{status['production']}** ({status.get('deployment') or 'no deployment'})",
        f"- Journal lag: {status.get('lag_days')} trading days behind the data "
        f"({status.get('latest_data')})",
        "",
        "## Releases",
        "",
        "| release | verdict | decisions | realised | Sharpe [95%] | return | max DD | hit rate "
        "| IC | Brier | ECE | valid | latency p50/p95 ms | evaluation promised |",
        "|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for key, v in latest.items():
        m = v["metrics"]
        lines.append(
            f"| {key} | **{v['verdict']}** | {m['decisions']} | {m['realised']} | "
            f"{_num(m['sharpe'])} [{_num(m['sharpe_low'])}, {_num(m['sharpe_high'])}] | "
            f"{_pct(m['total_return'])} | {_pct(m['max_drawdown'])} | {_pct(m['hit_rate'])} | "
            f"{_num(m['ic'], '.3f')} | {_num(m['brier'], '.3f')} | {_num(m['ece'], '.3f')} | "
            f"{_pct(m['valid_share'])} | {_num(m['latency_p50_ms'], '.0f')}/"
            f"{_num(m['latency_p95_ms'], '.0f')} | "
            f"{_promised((releases.get(key) or {}).get('evaluation'))} |"
        )
    lines += ["", "Why each verdict:", ""]
    lines += [f"- {key} ({v['day']}): {'; '.join(v['reasons'])}" for key, v in latest.items()]
    lines += ["", "## Drift (population stability index against the reference)", ""]
    lines += ["Each PSI with its limit: the larger of `psi_watch` and what windows of the "
              "reference itself reach.", ""]  # fmt: skip
    for key, v in latest.items():
        psi = v["metrics"].get("psi") or {}
        limits = v["metrics"].get("psi_limits") or {}
        shown = ", ".join(
            f"{name} {_num(value)} ({_num(max(psi_watch, limits.get(name, 0.0)))})"
            for name, value in sorted(psi.items())
        )
        lines.append(f"- {key}: {shown or 'no reference'}")
    lines += [
        "",
        "## Verdict changes",
        "",
        "| day | release | verdict | why |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {c['day']} | {c['release']} | {c['verdict']} | {c['reasons'][0]} |"
        for c in _changes(verdicts)
    ]
    lines += ["", "## Alerts", ""]
    lines += [f"- {a['day']}: {a['message']} (webhook: {a['delivery']})" for a in journal.alerts()]
    lines += ["", "## Actions", ""]
    lines += [
        f"- {a['day']}: {a['action']} of {a['release']}: {a['outcome']} {a['detail']}".rstrip()
        for a in journal.actions()
    ] or ["- none"]
    orders = Counter(o["status"] for o in journal.orders())
    lines += ["", "## Orders", ""]
    lines.append(
        "- " + (", ".join(f"{n} {status}" for status, n in sorted(orders.items())) or "none")
    )
    lines += ["", "![monitor](monitor_report.png)", ""]
    return "\n".join(lines)


def _plot(journal: Journal, path: Path, psi_watch: float) -> None:
    book = journal.book()
    verdicts = journal.verdicts()
    releases = list(journal.releases())
    colour = {key: _COLOURS[i % len(_COLOURS)] for i, key in enumerate(releases)}
    figure = Figure(figsize=(12, 9), layout="constrained")
    axes = figure.subplots(2, 2)
    ax = axes[0][0]
    for key in releases:
        days = [b["day"] for b in book]
        values = [b["equity"] if b["release"] == key else None for b in book]
        ax.plot(days, [float("nan") if v is None else v for v in values], color=colour[key],
                label=key)  # fmt: skip
    for v in _changes(verdicts):
        ax.axvline(v["day"], color=_VERDICT_COLOURS[v["verdict"]], alpha=0.5, linestyle=":")
    ax.set_title("paper book equity by release (dotted: verdict changes)")
    ax.legend(fontsize=8)
    by_release: dict[str, list[Mapping[str, Any]]] = {}
    for v in verdicts:
        by_release.setdefault(v["release"], []).append(v)
    evaluations = journal.releases()
    ax = axes[0][1]
    for key, rows in by_release.items():
        days = [r["day"] for r in rows]
        ax.plot(days, [r["metrics"].get("sharpe") or float("nan") for r in rows],
                color=colour.get(key), label=key)  # fmt: skip
        entry = ((evaluations.get(key) or {}).get("evaluation") or {}).get("set") or {}
        interval = entry.get("sharpe_interval") or {}
        if interval.get("low") is not None and interval.get("high") is not None:
            ax.axhspan(interval["low"], interval["high"], color=colour.get(key), alpha=0.12)
    ax.set_title("rolling Sharpe (band: the evaluation's 95% interval)")
    ax.legend(fontsize=8)
    ax = axes[1][0]
    for key, rows in by_release.items():
        days = [r["day"] for r in rows]
        ax.plot(days, [_nan(r["metrics"].get("brier")) for r in rows], color=colour.get(key),
                label=f"{key} Brier")  # fmt: skip
        ax.plot(days, [_nan(r["metrics"].get("valid_share")) for r in rows],
                color=colour.get(key), linestyle="--", label=f"{key} valid share")  # fmt: skip
    ax.set_title("calibration (Brier) and valid output")
    ax.legend(fontsize=8)
    ax = axes[1][1]
    for key, rows in by_release.items():
        days = [r["day"] for r in rows]
        ax.plot(days, [_worst_drift(r["metrics"], psi_watch) for r in rows],
                color=colour.get(key), label=key)  # fmt: skip
    ax.axhline(1.0, color=_VERDICT_COLOURS["watch"], linestyle=":", label="watch")
    ax.set_title("drift: largest PSI over its limit")
    ax.legend(fontsize=8)
    for row in axes:
        for a in row:
            a.tick_params(axis="x", labelrotation=30, labelsize=8)
    figure.savefig(path, dpi=100)


def _worst_drift(metrics: Mapping[str, Any], psi_watch: float) -> float:
    """The largest PSI as a multiple of its limit (1: the watch line)."""
    limits = metrics.get("psi_limits") or {}
    ratios = [
        value / max(psi_watch, limits.get(name, 0.0))
        for name, value in (metrics.get("psi") or {}).items()
        if value is not None
    ]
    return max(ratios, default=float("nan"))


def _nan(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def write_report(
    journal: Journal, status: Mapping[str, Any], out_dir: Path, psi_watch: float
) -> dict[str, Path]:
    """Write the report's markdown, PNG and JSON (the status) into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    png = out_dir / "monitor_report.png"
    _plot(journal, png, psi_watch)
    md = out_dir / "monitor_report.md"
    tmp = md.with_name(md.name + ".tmp")
    tmp.write_text(_markdown(journal, status, psi_watch), encoding="utf-8")
    tmp.replace(md)
    stamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    data = write_json(out_dir / "monitor_status.json", {"created": stamp, **status})
    return {"markdown": md, "plot": png, "status": data}
