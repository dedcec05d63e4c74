"""The summary of a complete run (``summary.json``, ``summary.md``), read back from its
files: stage times, SFT agreement, the test-segment table (days x symbols), the paired
comparisons, and the deployment.

Paths in a run's manifest are relative to the run directory, so a summary can be made
of a run that was moved; nothing here trains, evaluates or deploys.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from stockagents.core.errors import ConfigError
from stockagents.core.formatting import format_or_na as _f
from stockagents.core.manifests import CompleteRunManifest, StageRecord, load_manifest
from stockagents.evaluation.report import comparison_table
from stockagents.evaluation.schema import Comparison

__all__ = ["STAGES", "render_summary", "summarize"]

STAGES = ("data", "sft", "trajectories", "rl", "evaluation", "deployment")
_KEYS = ("sharpe", "total_return", "max_drawdown", "win_rate", "profit_factor", "trades")


def summarize(run: Path) -> dict[str, Any]:
    """What a finished (or partly finished) run did, from its files."""
    manifest = load_manifest(run / "manifest.json", CompleteRunManifest, ConfigError)
    stages = manifest.stages
    missing = StageRecord()  # a stage an older run does not list
    summary: dict[str, Any] = {
        "run": str(run),
        "options": manifest.options,
        "stages": {
            name: (
                stages[name].model_dump(include={"status", "seconds", "error"})
                if name in stages
                else dict.fromkeys(("status", "seconds", "error"))
            )
            for name in STAGES
        },
        "seconds": sum(s.seconds for s in stages.values()),
        "sets": {},
    }
    outputs = {name: (stages.get(name) or missing).outputs for name in STAGES}
    deployment = outputs["deployment"]
    if outputs["evaluation"].get("dir"):
        directory = run / outputs["evaluation"]["dir"]
        results = json.loads((directory / "evaluation_results.json").read_text(encoding="utf-8"))
        summary["evaluation"] = {
            "dir": str(directory),
            "window": results["window"],
            "symbols": results["symbols"],
        }
        summary["comparisons"] = results.get("comparisons", [])
        verdicts = deployment.get("verdicts") or {}
        for entry in results["sets"]:
            m = entry["metrics"]["with_costs"]
            # the deployment's verdict (with --min-sharpe) where there is one
            passed = verdicts.get(entry["name"], {}).get("passed", entry["passed_criteria"])
            summary["sets"][entry["name"]] = {key: m.get(key) for key in _KEYS} | {"passed": passed}
        b = results["benchmark"]["metrics"]["with_costs"]
        summary["sets"]["buy & hold"] = {k: b.get(k) for k in _KEYS[:3]} | {"passed": None}
    summary["deployment"] = deployment
    summary["sft"] = outputs["sft"]
    summary["rl"] = outputs["rl"]
    summary["rl_symbols"] = outputs["trajectories"].get("symbols") or []
    return summary


def _symbols(run: list[str], summary: dict[str, Any]) -> str:
    """The run's symbols, and those RL and the evaluation used where they differ (a
    profile with ``test_symbols: all`` widens both to every symbol with prices)."""
    text = f"symbols {', '.join(run)}"
    wide = {
        "RL": summary.get("rl_symbols") or [],
        "evaluation": (summary.get("evaluation") or {}).get("symbols") or [],
    }
    wide = {stage: symbols for stage, symbols in wide.items() if symbols and symbols != run}
    if not wide:
        return text
    if len({tuple(symbols) for symbols in wide.values()}) == 1:
        stages, symbols = " and ".join(wide), next(iter(wide.values()))
        return f"{text} (SFT); {stages} on {', '.join(symbols)}"
    return f"{text} (SFT); " + "; ".join(f"{k} on {', '.join(v)}" for k, v in wide.items())


def render_summary(summary: dict[str, Any]) -> str:
    """The summary as markdown (``summary.md``)."""
    o = summary["options"]
    lines = [
        f"# Complete run {Path(summary['run']).name}",
        "",
        f"profile {o.get('profile')}, {str(o.get('algorithm', 'grpo')).upper()}; "
        f"{o.get('sft_examples')} SFT examples per agent, {o.get('rl_trajectories')} "
        f"trajectories, {o.get('rl_iterations')} RL iterations, {o.get('test_days')} test "
        f"days; {_symbols(o.get('symbols') or [], summary)}; "
        f"{summary['seconds'] / 60:.1f} min in all",
        "",
        "| stage | status | time |",
        "|---|---|---:|",
    ]
    for name, s in summary["stages"].items():
        status = s["status"] or "pending"
        if s.get("error"):
            status += f": {s['error']}"
        lines.append(f"| {name} | {status} | {(s['seconds'] or 0) / 60:.1f} min |")
    if summary["sft"].get("agents"):
        lines += ["", "| SFT agent | steps | held-out agreement | valid |", "|---|---:|---:|---:|"]
        for agent, a in summary["sft"]["agents"].items():
            lines.append(
                f"| {agent} | {a['steps']} | {_f(a['agreement'], '.0%')} "
                f"| {_f(a['valid_rate'], '.0%')} |"
            )
    gains = (summary.get("rl") or {}).get("validation_gain") or {}
    if gains:
        lines += ["", "RL validation reward, paired prompt by prompt (95% interval, p-value):", ""]
        for name, g in gains.items():
            lines.append(
                f"- {name}: {g['difference']:+.4f} [{g['low']:+.4f}, {g['high']:+.4f}], "
                f"p {_f(g['p_value'], '.3f')}, on {g['prompts']:.0f} prompts"
            )
    if summary["sets"]:
        window = summary["evaluation"]["window"]
        lines += [
            "",
            f"Test segment {window['start']} to {window['end']} ({window['days']} days x "
            f"{len(summary['evaluation'].get('symbols') or [])} symbols), costs charged:",
            "",
            "| set | Sharpe | return | max DD | win rate | profit factor | trades | criteria |",
            "|---|---:|---:|---:|---:|---:|---:|---|",
        ]
        for name, m in summary["sets"].items():
            verdict = {True: "PASS", False: "FAIL", None: ""}[m["passed"]]
            lines.append(
                f"| {name} | {_f(m['sharpe'])} | {_f(m['total_return'], '+.2%')} "
                f"| {_f(m['max_drawdown'], '+.2%')} | {_f(m.get('win_rate'), '.0%')} "
                f"| {_f(m.get('profit_factor'))} | {_f(m.get('trades'), '.0f')} | {verdict} |"
            )
        if summary.get("comparisons"):
            comparisons = [Comparison.model_validate(c) for c in summary["comparisons"]]
            lines += [
                "",
                "Paired comparisons (difference [95% interval] p-value ±half-width; "
                "detectable: the smallest Sharpe difference this window finds):",
                "",
                *comparison_table(comparisons),
            ]
        lines += ["", f"Report: {summary['evaluation']['dir']}/evaluation_report.md"]
    d = summary["deployment"]
    if d:
        lines.append("")
        if d.get("deployed"):
            lines.append(f"Deployed: **{d['deployed']}** to {d['production']}.")
        else:
            lines.append(f"Not deployed: {d.get('reason')}.")
        for name, v in (d.get("verdicts") or {}).items():
            if v.get("failed"):
                lines.append(f"- {name} fails {'; '.join(v['failed'])}")
            if v.get("refused"):
                lines.append(f"- {name} was refused by the deployer: {v['refused']}")
    lines.append("")
    return "\n".join(lines)
