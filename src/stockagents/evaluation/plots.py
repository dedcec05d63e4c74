"""``comparison_plots.png``: the evaluation at a glance, drawn from the results' numbers.

Six panels: equity curves with costs (buy-and-hold dashed; an inset zooms on the model
sets when buy-and-hold's range dwarfs theirs), drawdowns, each set's
Sharpe with its bootstrap interval and the criterion line, total return per symbol,
calibration of the directional answers (stated confidence against how often the
direction was right, the diagonal being perfect), and the share of valid model output
with the judge's scores per agent.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from stockagents.evaluation.metrics import drawdown_series
from stockagents.evaluation.schema import EvaluationResults

__all__ = ["plot_comparison"]

_BENCH_COLOUR = "#555555"


def _returns(equity: list[float | None]) -> np.ndarray:
    values = np.concatenate([[1.0], [np.nan if v is None else v for v in equity]])
    out: np.ndarray = values[1:] / values[:-1] - 1.0
    return out


def _zoom_sets(
    ax: Any,
    dates: list[dt.date],
    sets: list[tuple[str, list[float | None], str, str]],
    benchmark: list[float | None],
) -> None:
    """An inset of the model sets alone when buy-and-hold's range dwarfs theirs."""

    def span(values: list[float | None]) -> float:
        finite = [v for v in values if v is not None]
        return max(finite) - min(finite) if finite else 0.0

    ours = max((span(e) for _, e, _, _ in sets), default=0.0)
    total = max(ours, span(benchmark))
    if not sets or total == 0 or ours > total / 4:
        return
    inset = ax.inset_axes((0.5, 0.06, 0.47, 0.38))
    for _, equity, colour, style in sets:
        inset.plot(dates, equity, style, color=colour, linewidth=1.2)
    inset.axhline(1.0, color="grey", linewidth=0.6)
    inset.set_title("model sets, zoomed", fontsize=8)
    inset.tick_params(labelsize=7)
    inset.set_xticks([])
    inset.grid(alpha=0.3)


_Curve = tuple[str, list[float | None], str, str]  # name, equity, colour, line style


def _equity_panel(ax: Any, dates: list[dt.date], curves: list[_Curve]) -> None:
    """Panel 1: equity curves with costs, with the model sets' inset when needed."""
    for name, equity, colour, style in curves:
        ax.plot(dates, equity, style, color=colour, label=name, linewidth=1.6)
    ax.axhline(1.0, color="grey", linewidth=0.6)
    ax.set_title("Equity with costs (start = 1)")
    ax.legend(loc="upper left", fontsize=9)
    _zoom_sets(ax, dates, curves[:-1], curves[-1][1])


def _drawdown_panel(
    ax: Any, dates: list[dt.date], curves: list[_Curve], results: EvaluationResults
) -> None:
    """Panel 2: drawdowns, with the criterion line when it does not flatten the curves."""
    for name, equity, colour, style in curves:
        ax.plot(dates, 100 * drawdown_series(_returns(equity)), style, color=colour, label=name)
    limit = 100 * results.criteria["max_drawdown"]
    deepest = min(float(np.nanmin(ax.get_ylim())), 0.0)
    if deepest < -limit / 2:  # the criterion line only when it does not flatten the curves
        ax.axhline(
            -limit, color="red", linewidth=0.8, linestyle=":", label=f"criterion -{limit:.0f}%"
        )
    ax.set_title(f"Drawdown % (criterion: shallower than -{limit:.0f}%)")
    ax.legend(loc="lower left", fontsize=9)


def _sharpe_panel(
    ax: Any, results: EvaluationResults, names: list[str], colours: dict[str, str]
) -> None:
    """Panel 3: each Sharpe ratio with its bootstrap interval and the criterion line."""
    intervals = [s.sharpe_interval for s in results.sets] + [results.benchmark.sharpe_interval]
    for i, (name, ci) in enumerate(zip(names, intervals, strict=True)):
        colour = colours.get(name, _BENCH_COLOUR)
        if ci.sharpe is None:
            ax.text(i, 0, "n/a", ha="center", va="bottom", fontsize=9)
            continue
        low = ci.low if ci.low is not None else ci.sharpe
        high = ci.high if ci.high is not None else ci.sharpe
        ax.errorbar(i, ci.sharpe, yerr=[[ci.sharpe - low], [high - ci.sharpe]], fmt="o",
                    color=colour, capsize=6, markersize=8)  # fmt: skip
        ax.annotate(f"{ci.sharpe:.2f}", (i, ci.sharpe), textcoords="offset points",
                    xytext=(8, 0), fontsize=9)  # fmt: skip
    ax.axhline(results.criteria["min_sharpe"], color="red", linewidth=0.8, linestyle=":",
               label=f"criterion {results.criteria['min_sharpe']:g}")  # fmt: skip
    ax.axhline(0.0, color="grey", linewidth=0.6)
    ax.set_xticks(range(len(names)), names, rotation=15)
    ax.set_title(f"Sharpe with costs, {results.bootstrap['confidence']:.0%} bootstrap interval")
    ax.legend(loc="best", fontsize=9)


def _per_symbol_panel(
    ax: Any, results: EvaluationResults, names: list[str], colours: dict[str, str]
) -> None:
    """Panel 4: total return per symbol, each set and buy-and-hold side by side."""
    symbols = results.symbols
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        per = (
            results.benchmark.per_symbol
            if name == "buy & hold"
            else next(s for s in results.sets if s.name == name).per_symbol
        )
        values = [100 * (per[sym]["with_costs"].get("total_return") or 0.0) for sym in symbols]
        ax.bar(np.arange(len(symbols)) + i * width - 0.4 + width / 2, values, width,
               color=colours.get(name, _BENCH_COLOUR), label=name)  # fmt: skip
    ax.axhline(0.0, color="grey", linewidth=0.6)
    ax.set_xticks(range(len(symbols)), symbols)
    ax.set_title("Total return % per symbol (alone, with costs)")
    ax.legend(loc="best", fontsize=9)


def _calibration_panel(ax: Any, results: EvaluationResults, colours: dict[str, str]) -> None:
    """Panel 5: stated confidence against how often the direction was right."""
    ax.plot([0, 1], [0, 1], color="grey", linewidth=0.8, linestyle=":", label="perfect")
    for s in results.sets:
        bins = max((len(q.calibration) for q in s.agents_quality.values()), default=0)
        n, conf, hits = np.zeros(bins), np.zeros(bins), np.zeros(bins)
        for quality in s.agents_quality.values():
            for b, cell in enumerate(quality.calibration):
                if cell.n and cell.confidence is not None and cell.hit_rate is not None:
                    n[b] += cell.n
                    conf[b] += cell.n * cell.confidence
                    hits[b] += cell.n * cell.hit_rate
        used = n > 0
        if used.any():
            ax.plot(conf[used] / n[used], hits[used] / n[used], "o-", color=colours[s.name],
                    label=f"{s.name} ({int(n.sum())} calls)")  # fmt: skip
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("stated confidence")
    ax.set_ylabel(f"direction right ({results.forward_horizon_days}-day return)")
    ax.set_title("Calibration of directional answers (all agents)")
    ax.legend(loc="best", fontsize=9)


def _quality_panel(ax: Any, results: EvaluationResults, colours: dict[str, str]) -> None:
    """Panel 6: the share of valid model output and the judge's consistency, per agent."""
    agents = ["news", "technical", "fundamental", "strategist"]
    width = 0.8 / max(1, len(results.sets))
    for i, s in enumerate(results.sets):
        valid = [100 * (s.agents_quality[a].valid_rate or 0.0) for a in agents]
        judged = [100 * (s.judge[a].consistency or 0.0) if a in s.judge else np.nan for a in agents]
        xs = np.arange(len(agents)) + i * width - 0.4 + width / 2
        ax.bar(xs, valid, width, color=colours[s.name], alpha=0.45, label=f"{s.name}: valid output")
        ax.plot(xs, judged, "D", color=colours[s.name], label=f"{s.name}: judge consistency")
    ax.set_xticks(range(len(agents)), agents)
    ax.set_ylim(0, 130)
    ax.set_yticks(range(0, 101, 20))
    ax.set_title(f"Valid output % (bars) and judge ({results.judge['kind']}) consistency %")
    ax.legend(loc="upper center", fontsize=7, ncol=len(results.sets))


def plot_comparison(results: EvaluationResults, path: Path) -> Path:
    """Draw the six panels and save them as PNG at ``path``."""
    fig = Figure(figsize=(17, 10.5))
    axes = fig.subplots(2, 3)
    dates = [dt.date.fromisoformat(d) for d in results.dates]
    colours = {s.name: f"C{i}" for i, s in enumerate(results.sets)}
    curves: list[_Curve] = [(s.name, s.equity, colours[s.name], "-") for s in results.sets]
    curves.append(("buy & hold", results.benchmark.equity, _BENCH_COLOUR, "--"))
    names = [s.name for s in results.sets] + ["buy & hold"]
    _equity_panel(axes[0, 0], dates, curves)
    _drawdown_panel(axes[0, 1], dates, curves, results)
    _sharpe_panel(axes[0, 2], results, names, colours)
    _per_symbol_panel(axes[1, 0], results, names, colours)
    _calibration_panel(axes[1, 1], results, colours)
    _quality_panel(axes[1, 2], results, colours)
    for ax in axes.flat:
        ax.grid(alpha=0.3)
    for ax in axes[0, :2]:
        ax.tick_params(axis="x", rotation=20)
    first, last = results.window["start"], results.window["end"]
    fig.suptitle(
        f"Test segment {first} to {last} ({results.window['days']} trading days), "
        f"{', '.join(results.symbols)}; costs {results.costs['commission_bps']:g}+"
        f"{results.costs['slippage_bps']:g} bps",
        fontsize=13,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path
