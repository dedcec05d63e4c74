"""``evaluation_report.md``: the results written for a person, from ``EvaluationResults``.

Every number here is read from the results object (which the JSON holds too), so the
report and the JSON cannot disagree; this module only formats.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from stockagents.core.formatting import format_or_na as _f
from stockagents.evaluation.schema import (
    Comparison,
    EvaluationResults,
    PairedDifference,
    SetResult,
)

__all__ = ["comparison_table", "render_report"]

_COLUMNS = [
    ("sharpe", "Sharpe", ".2f"),
    ("max_drawdown", "max DD", ".1%"),
    ("win_rate", "win rate", ".0%"),
    ("profit_factor", "profit factor", ".2f"),
    ("total_return", "total return", "+.2%"),
    ("cagr", "CAGR", "+.1%"),
    ("sortino", "Sortino", ".2f"),
    ("calmar", "Calmar", ".2f"),
    ("trades", "trades", ".0f"),
    ("exposure", "exposure", ".0%"),
]


def _metric_rows(name: str, metrics: Mapping[str, Mapping[str, float | None]]) -> list[str]:
    rows = []
    for key, label in (("with_costs", "with costs"), ("without_costs", "no costs")):
        m = metrics[key]
        cells = [_f(m.get(k), p) for k, _, p in _COLUMNS]
        rows.append(f"| {name} | {label} | " + " | ".join(cells) + " |")
    return rows


def _header(first: str) -> list[str]:
    return [
        f"| {first} | costs | " + " | ".join(label for _, label, _ in _COLUMNS) + " |",
        "|---|---|" + "---:|" * len(_COLUMNS),
    ]


def _head(cells: list[str], text: int = 1) -> list[str]:
    """A table's header and alignment rows: the first ``text`` columns left, numbers right."""
    align = "|" + "---|" * text + "---:|" * (len(cells) - text)
    return ["| " + " | ".join(cells) + " |", align]


def _criteria(results: EvaluationResults) -> list[str]:
    names = list(results.sets[0].criteria) if results.sets else []
    lines = [
        "| model set | "
        + " | ".join(f"{n} ({results.sets[0].criteria[n].rule})" for n in names)
        + " | all |",
        "|---|" + "---|" * (len(names) + 1),
    ]
    for s in results.sets:
        cells = []
        for n in names:
            c = s.criteria[n]
            pattern = ".1%" if n in ("max_drawdown", "win_rate") else ".2f"
            cells.append(f"{'PASS' if c.passed else 'FAIL'} ({_f(c.value, pattern)})")
        lines.append(
            f"| {s.name} | "
            + " | ".join(cells)
            + f" | **{'PASS' if s.passed_criteria else 'FAIL'}** |"
        )
    return lines


def _uncertainty(results: EvaluationResults) -> list[str]:
    b = results.bootstrap
    lines = [
        f"Sharpe with costs and its {b['confidence']:.0%} interval from a moving-block bootstrap "
        f"of daily returns ({b['resamples']} resamples, blocks of {b['block']} days). A "
        "difference is paired: both sets are resampled on the same days.",
        "",
        *_head(
            [
                "model set",
                "Sharpe",
                "interval",
                "vs baseline",
                "interval",
                "p",
                "vs buy & hold",
                "interval",
                "p",
            ]
        ),
    ]
    for s in results.sets:
        ci = s.sharpe_interval
        vb = s.sharpe_vs_baseline
        vh = s.sharpe_vs_buy_and_hold
        base = (
            f"{_f(vb.difference, '+.2f')} | [{_f(vb.low)}, {_f(vb.high)}] | {_f(vb.p_value)}"
            if vb is not None
            else "(baseline) | | "
        )
        lines.append(
            f"| {s.name} | {_f(ci.sharpe)} | [{_f(ci.low)}, {_f(ci.high)}] | {base} | "
            f"{_f(vh.difference, '+.2f')} | [{_f(vh.low)}, {_f(vh.high)}] | {_f(vh.p_value)} |"
        )
    ci = results.benchmark.sharpe_interval
    lines.append(f"| buy & hold | {_f(ci.sharpe)} | [{_f(ci.low)}, {_f(ci.high)}] | | | | | | |")
    return lines


def _agents(s: SetResult) -> list[str]:
    lines = [
        f"**{s.name}**",
        "",
        *_head(
            [
                "agent",
                "model",
                "valid output",
                "directional",
                "hit rate",
                "IC",
                "rank IC",
                "Brier",
                "ECE",
                "judge evidence",
                "judge consistency",
            ],
            text=2,
        ),
    ]
    for agent, q in s.agents_quality.items():
        j = s.judge.get(agent)
        model = (
            "expert" + (" (set lacks it)" if agent in s.as_expert else "")
            if q.source == "expert"
            else f"`{q.source}`"
        )
        lines.append(
            f"| {agent} | {model} | {_f(q.valid_rate, '.0%')} | {q.directional} | "
            f"{_f(q.hit_rate, '.0%')} | {_f(q.ic, '+.3f')} | {_f(q.rank_ic, '+.3f')} | "
            f"{_f(q.brier, '.3f')} | {_f(q.ece, '.3f')} | "
            f"{_f(j.evidence if j else None, '.0%')} | "
            f"{_f(j.consistency if j else None, '.0%')} |"
        )
    worst = [
        (a, e)
        for a, j in s.judge.items()
        for e in j.examples
        if e["comment"] and "consistent and grounded" not in e["comment"]
    ]
    if worst:
        lines += ["", "Lowest-graded answers:", ""]
        lines += [f"- {a} {e['symbol']} {e['date']}: {e['comment']}" for a, e in worst[:6]]
    return lines


_COMPARISON_COLUMNS = [
    "set", "against", "symbol-days", "Sharpe", "detectable", "mean daily return",
    "hit rate", "IC", "agreement",
]  # fmt: skip


def _difference_cell(d: PairedDifference, pattern: str) -> str:
    return (
        f"{_f(d.difference, pattern)} [{_f(d.low, pattern)}, {_f(d.high, pattern)}] "
        f"p={_f(d.p_value)} ±{_f(d.half_width, pattern.lstrip('+'))}"
    )


def comparison_table(comparisons: Sequence[Comparison]) -> list[str]:
    """The paired comparisons as a Markdown table (the report's headline, the complete
    run's summary)."""
    lines = _head(_COMPARISON_COLUMNS, text=2)
    for c in comparisons:
        agree = c.agreement
        lines.append(
            f"| {c.set} | {c.against} | {c.symbol_days} | {_difference_cell(c.sharpe, '+.2f')} | "
            f"{_f(c.sharpe.detectable)} | {_difference_cell(c.mean_daily_return, '+.3%')} | "
            f"{_difference_cell(c.hit_rate, '+.1%')} | {_difference_cell(c.ic, '+.3f')} | "
            f"{_f(agree.agreement, '.1%')} [{_f(agree.low, '.1%')}, {_f(agree.high, '.1%')}] |"
        )
    return lines


def _comparisons(results: EvaluationResults) -> list[str]:
    """The headline: paired differences, each with its interval, p-value and half-width,
    and the smallest difference the window detects."""
    if not results.comparisons:
        return []
    b = results.bootstrap
    return [
        "## Paired comparisons",
        "",
        f"Set minus the set it is compared with, on the symbol-days both decided: difference "
        f"[{b['confidence']:.0%} interval] p-value ±half-width, from a moving-block bootstrap "
        f"of days ({b['resamples']} resamples, blocks of {b['block']} days, all symbols of a "
        "day together). *Detectable*: the smallest Sharpe difference this window finds "
        "with 80% probability.",
        "",
        *comparison_table(results.comparisons),
        "",
    ]


def render_report(results: EvaluationResults) -> str:
    """The Markdown report."""
    w = results.window
    lines = [
        f"# Evaluation on the test segment: {w['start']} to {w['end']}",
        "",
        f"{w['days']} trading days; symbols {', '.join(results.symbols)}; every model set runs "
        "through the same coordinator and backtester (decisions after the close, fills at the "
        f"next open, {results.costs['commission_bps']:g} bps commission + "
        f"{results.costs['slippage_bps']:g} bps slippage per fill). Buy-and-hold (equal weight) "
        "is the benchmark. Created " + results.created + ".",
        "",
    ]
    if results.skipped_symbols:
        lines += [
            "Skipped: " + "; ".join(f"{s} ({why})" for s, why in results.skipped_symbols.items()),
            "",
        ]
    lines += _comparisons(results)
    lines += ["## Model sets", ""]
    for s in results.sets:
        expert = (
            f"; run as expert because the set lacks them: {', '.join(s.as_expert)}"
            if s.as_expert
            else ""
        )
        kind = "baseline (the expert agents)" if s.baseline else f"`{s.path}`"
        windows = [f"{a} {w['start']} to {w['end']}" for a, w in s.trained_on.items() if w]
        if windows:
            kind += "; trained on " + ", ".join(windows)
        lines.append(
            f"- **{s.name}**: {kind}{expert}. Decisions: {s.actions['BUY']} BUY, "
            f"{s.actions['SELL']} SELL, {s.actions['HOLD']} HOLD; {s.seconds:.0f} s."
        )
    for warning in results.warnings:
        lines.append(f"- warning: {warning}")
    lines += ["", "## Portfolio (all symbols, one book)", "", *_header("model set")]
    for s in results.sets:
        lines += _metric_rows(s.name, s.metrics)
    lines += _metric_rows("buy & hold", results.benchmark.metrics)
    lines += ["", "## Deployment criteria (with costs)", "", *_criteria(results)]
    lines += ["", "## Uncertainty", "", *_uncertainty(results)]
    lines += [
        "",
        "## Per symbol",
        "",
        "Each symbol alone in its own book, replaying the portfolio run's decisions.",
        "",
    ]
    for symbol in results.symbols:
        lines += [f"### {symbol}", "", *_header("model set")]
        for s in results.sets:
            lines += _metric_rows(s.name, s.per_symbol[symbol])
        lines += _metric_rows("buy & hold", results.benchmark.per_symbol[symbol])
        lines.append("")
    judge = results.judge
    lines += [
        "## Agents",
        "",
        f"Signal quality against the {results.forward_horizon_days}-day forward return "
        "(hit rate and calibration over answers with a direction; the strategist's BUY/SELL "
        f"count as +/- its confidence). Judge: {judge['kind']}"
        + (f", {judge['samples']} answers per agent" if judge.get("samples") else ", every answer")
        + ".",
        "",
    ]
    for s in results.sets:
        lines += [*_agents(s), ""]
    lines += ["![comparison plots](comparison_plots.png)", ""]
    return "\n".join(lines)
