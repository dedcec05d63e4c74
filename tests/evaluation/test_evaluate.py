"""The guide's step 3: evaluate_models end to end, the no-training-on-test guard, the
schema, the cache, and the CLI."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest

from stockagents.backtest.engine import run_backtest
from stockagents.backtest.policy import CoordinatorPolicy
from stockagents.cli.main import main
from stockagents.core.errors import AgentError, ConfigError, DataError
from stockagents.evaluation import metrics as m
from stockagents.evaluation.evaluate import DEFAULT_TEST_DAYS, EvaluationWindow, evaluate_models
from stockagents.evaluation.schema import EvaluationResults
from stockagents.orchestration import SystemCoordinator
from tests.helpers import make_bars, train_tiny_sft, write_price_dir

SCHEMA_FILE = Path(__file__).parents[2] / "docs" / "evaluation_results.schema.json"
SYMBOLS = ["AAPL", "AMZN"]
TEST_DAYS = 12


@pytest.fixture(scope="module")
def tiny_sft_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model set as the SFT run writes it: a tiny strategist trained by SFT on expert
    data (so its manifest records its training dates), the analysts expert."""
    root = tmp_path_factory.mktemp("tiny-sft-set")
    models = root / "models"
    final = train_tiny_sft(models / "strategist", "strategist", 32, 4)
    (models / "manifest.json").write_text(
        json.dumps({"agents": {"strategist": str(final.relative_to(models))}}), encoding="utf-8"
    )
    return models


@pytest.fixture(scope="module")
def evaluated(tiny_sft_set: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("eval")
    run = evaluate_models(
        ["baseline:expert", f"sft:{tiny_sft_set}"],
        symbols=[*SYMBOLS, "ZZZZ"], test_days=TEST_DAYS, output_root=root, progress=False,
    )  # fmt: skip
    results = json.loads((run / "evaluation_results.json").read_text(encoding="utf-8"))
    return {"run": run, "root": root, "results": results, "models": tiny_sft_set}


@pytest.mark.slow
def test_baseline_against_a_tiny_sft_set_writes_the_three_files(evaluated: dict[str, Any]) -> None:
    run: Path = evaluated["run"]
    assert run.parent == evaluated["root"]
    assert run.name.startswith("eval_")
    assert {p.name for p in run.iterdir()} >= {
        "evaluation_report.md", "comparison_plots.png", "evaluation_results.json",
    }  # fmt: skip
    assert (run / "comparison_plots.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    results = evaluated["results"]
    assert results["symbols"] == SYMBOLS
    assert "ZZZZ" in results["skipped_symbols"]  # skipped with a warning, not fatal
    assert results["window"]["days"] == TEST_DAYS
    assert len(results["dates"]) == TEST_DAYS
    baseline, sft = results["sets"]
    assert baseline["baseline"]
    assert not sft["baseline"]
    assert sft["as_expert"] == ["news", "technical", "fundamental"]  # the set lacks them
    assert sft["agents"]["strategist"].endswith("strategist/sft/final")
    assert sft["model_versions"]["strategist"].startswith("sft-strategist-")
    assert sum(sft["actions"].values()) == TEST_DAYS * len(SYMBOLS)
    assert sft["trained_on"]["strategist"]["end"] < results["window"]["start"]
    assert baseline["trained_on"] == {}
    assert sft["sharpe_vs_baseline"]["against"] == "baseline"
    assert baseline["sharpe_vs_baseline"] is None
    (comparison,) = results["comparisons"]  # the headline: the SFT set against the baseline
    assert (comparison["set"], comparison["against"]) == ("sft", "baseline")
    assert comparison["symbol_days"] == TEST_DAYS * len(SYMBOLS)
    assert comparison["days"] == TEST_DAYS
    assert 0.0 <= comparison["agreement"]["agreement"] <= 1.0
    assert comparison["sharpe"]["difference"] == sft["sharpe_vs_baseline"]["difference"]
    report = (run / "evaluation_report.md").read_text(encoding="utf-8")
    for text in ("run as expert because the set lacks them: news, technical, fundamental",
                 "## Paired comparisons", "| sft | baseline | 24 |",
                 "## Deployment criteria", "## Uncertainty", "### AAPL", "### AMZN",
                 "buy & hold", "comparison_plots.png"):  # fmt: skip
        assert text in report
    # the manifests of the models and the data ride along
    manifest = results["manifest"]
    assert manifest["models"]["sft"]["strategist"]["trained_on"]["end"] < results["window"]["start"]
    assert len(manifest["data"]["sha256"]) == 64


@pytest.mark.slow
def test_results_validate_against_the_published_schema(evaluated: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert schema == EvaluationResults.model_json_schema(), (
        "docs/evaluation_results.schema.json is stale: regenerate it from EvaluationResults"
    )
    jsonschema.validate(evaluated["results"], schema)
    broken = {**evaluated["results"], "sets": [{"name": "x"}]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def _returns(equity: list[float]) -> np.ndarray:
    values = np.concatenate([[1.0], equity])
    return values[1:] / values[:-1] - 1.0


def _close(a: float | None, b: float, rel: float = 1e-6) -> bool:
    if a is None:
        return math.isnan(b) or math.isinf(b)
    return a == pytest.approx(b, rel=rel, abs=1e-9)


@pytest.mark.slow
def test_report_numbers_equal_the_metrics_module_on_the_same_results(
    evaluated: dict[str, Any],
) -> None:
    results = evaluated["results"]
    start, end = results["window"]["start"], results["window"]["end"]
    # an independent run of the baseline through the backtester gives the same metrics
    with SystemCoordinator() as coordinator:
        prices = {s: coordinator.sources.prices.prices(s, as_of=end) for s in SYMBOLS}
        policy = CoordinatorPolicy(coordinator)
        import datetime as dt

        again = run_backtest(
            prices, policy, coordinator.config.backtest,
            dt.date.fromisoformat(start), dt.date.fromisoformat(end),
        )  # fmt: skip
    from stockagents.evaluation.backtest_report import backtest_metrics

    direct = backtest_metrics(again)
    baseline = results["sets"][0]["metrics"]["with_costs"]
    for key in ("sharpe", "total_return", "max_drawdown", "sortino", "trades", "exposure"):
        assert _close(baseline[key], direct[key]), key
    # each set's equity curve gives back its Sharpe, return and drawdown
    for entry in results["sets"]:
        r = _returns(entry["equity"])
        metrics = entry["metrics"]["with_costs"]
        assert _close(metrics["sharpe"], m.sharpe_ratio(r), rel=1e-4)
        assert _close(metrics["total_return"], m.total_return(r), rel=1e-4)
        assert _close(metrics["max_drawdown"], m.max_drawdown(r), rel=1e-4)
        interval = m.bootstrap_sharpe(
            r, **{k: results["bootstrap"][k] for k in ("resamples", "block", "confidence", "seed")}
        )
        assert _close(entry["sharpe_interval"]["low"], interval["low"], rel=1e-3)
    # and the report prints the JSON's numbers
    report = (evaluated["run"] / "evaluation_report.md").read_text(encoding="utf-8")
    for entry in results["sets"]:
        w = entry["metrics"]["with_costs"]
        sharpe = "n/a" if w["sharpe"] is None else f"{w['sharpe']:.2f}"
        row = f"| {entry['name']} | with costs | {sharpe} | {w['max_drawdown']:.1%} |"
        assert row in report
        for name, check in entry["criteria"].items():
            assert check["passed"] == _passes(name, check["value"], results["criteria"])


def _passes(name: str, value: float | None, criteria: dict[str, float]) -> bool:
    if value is None:
        return False
    return {
        "sharpe": value > criteria["min_sharpe"],
        "max_drawdown": abs(value) < criteria["max_drawdown"],
        "win_rate": value > criteria["min_win_rate"],
        "profit_factor": value > criteria["min_profit_factor"],
    }[name]


@pytest.mark.slow
def test_a_second_run_answers_from_the_cache(evaluated: dict[str, Any]) -> None:
    first = evaluated["results"]
    assert first["cache"]["misses"] > 0
    run = evaluate_models(
        ["baseline:expert", f"sft:{evaluated['models']}"],
        symbols=SYMBOLS, test_days=TEST_DAYS, output_root=evaluated["root"], progress=False,
    )  # fmt: skip
    second = json.loads((run / "evaluation_results.json").read_text(encoding="utf-8"))
    assert second["cache"]["misses"] == 0
    assert second["cache"]["hits"] == first["cache"]["misses"]
    for a, b in zip(first["sets"], second["sets"], strict=True):
        assert a["metrics"] == b["metrics"]
        assert a["actions"] == b["actions"]


@pytest.mark.slow
def test_training_dates_inside_the_test_window_are_refused(
    tiny_sft_set: Path, tmp_path: Path
) -> None:
    entry = json.loads((tiny_sft_set / "manifest.json").read_text(encoding="utf-8"))
    adapter = tiny_sft_set / entry["agents"]["strategist"]
    trained = json.loads((adapter / "manifest.json").read_text(encoding="utf-8"))["trained_on"]
    # two years of test days reach back into the train segment the strategist learned on
    with pytest.raises(
        ConfigError, match=r"sft/strategist trained on .* Use --test-days \d+ or fewer"
    ):
        evaluate_models([f"sft:{tiny_sft_set}"], symbols=SYMBOLS, test_days=500,
                        output_root=tmp_path, progress=False)  # fmt: skip
    assert not list(tmp_path.glob("eval_*"))  # refused before anything ran
    # so is a window given by dates that reach into the training dates
    start = dt.date.fromisoformat(trained["end"]) - dt.timedelta(days=30)
    with pytest.raises(ConfigError, match=r"sft/strategist trained on .* --test-start after"):
        evaluate_models([f"sft:{tiny_sft_set}"], symbols=SYMBOLS, test_start=start,
                        test_end=dt.date(2023, 9, 21), output_root=tmp_path, progress=False)  # fmt: skip
    # a window that starts within the label horizon after the last training date
    from stockagents.core.config import load_config
    from stockagents.data.factory import build_sources

    days = build_sources(load_config(None).data).prices.prices("AAPL", as_of="2023-09-21").index
    after = [d for d in days if d.date().isoformat() > trained["end"]]
    inside_horizon = len(after) - 5  # starts 5 bars after the last training date
    with pytest.raises(ConfigError, match="its labels saw prices to"):
        evaluate_models([f"sft:{tiny_sft_set}"], symbols=["AAPL"], test_days=inside_horizon,
                        output_root=tmp_path, progress=False)  # fmt: skip


def test_model_set_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(AgentError, match="is not a directory"):
        evaluate_models(["sft:/no/such/dir"], symbols=SYMBOLS, output_root=tmp_path)
    with pytest.raises(ConfigError, match="used twice"):
        evaluate_models(["a:expert", "a:expert"], symbols=SYMBOLS, output_root=tmp_path)
    with pytest.raises(ConfigError, match="--test-days must be at least 2"):
        evaluate_models(["expert"], symbols=SYMBOLS, test_days=1, output_root=tmp_path)
    day = dt.date(2023, 3, 1)
    with pytest.raises(ConfigError, match="not all three"):
        evaluate_models(["expert"], symbols=SYMBOLS, test_days=5, test_start=day,
                        test_end=day, output_root=tmp_path)  # fmt: skip
    with pytest.raises(ConfigError, match="--test-start 2023-03-01 is after --test-end"):
        evaluate_models(["expert"], symbols=SYMBOLS, test_start=day,
                        test_end=dt.date(2023, 2, 1), output_root=tmp_path)  # fmt: skip
    with pytest.raises(DataError, match=r"0 trading days .* fall inside; the window needs"):
        evaluate_models(["expert"], symbols=SYMBOLS, test_start=dt.date(2024, 1, 2),
                        output_root=tmp_path)  # fmt: skip
    with pytest.raises(DataError, match=r"need \d+ bars before the first decision: start on"):
        evaluate_models(["expert"], symbols=SYMBOLS, test_start=dt.date(2013, 1, 2),
                        test_end=dt.date(2013, 3, 1), output_root=tmp_path)  # fmt: skip


def test_a_test_window_by_days_or_dates() -> None:
    calendar = [dt.date(2023, 1, 1) + dt.timedelta(days=i) for i in range(100)]
    assert EvaluationWindow().pick(calendar) == calendar[-DEFAULT_TEST_DAYS:]
    assert EvaluationWindow(days=5).pick(calendar) == calendar[-5:]
    assert EvaluationWindow(days=5, end=calendar[49]).pick(calendar) == calendar[45:50]
    assert EvaluationWindow(start=calendar[90]).pick(calendar) == calendar[90:]
    assert EvaluationWindow(days=3, start=calendar[10]).pick(calendar) == calendar[10:13]
    assert EvaluationWindow(start=calendar[10], end=calendar[19]).pick(calendar) == calendar[10:20]


def test_every_symbol_over_a_window_given_by_dates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["evaluate", "--models", "expert", "--test-symbols", "all", "--test-start",
                 "2022-01-03", "--test-end", "2022-02-28", "--output-root", str(tmp_path),
                 "--quiet"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    (run,) = tmp_path.glob("eval_*")
    results = EvaluationResults.model_validate_json(
        (run / "evaluation_results.json").read_text(encoding="utf-8")
    )
    assert results.symbols == ["AAPL", "AMZN", "GOOG", "META", "NFLX", "NVDA"]
    assert (results.window["start"], results.window["end"]) == ("2022-01-03", "2022-02-28")
    assert results.window["days"] == 39  # January (20 sessions) and February (19) of 2022
    assert results.manifest.command["test_start"] == "2022-01-03"


def test_cli_runs_the_guide_command_on_the_baseline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    baseline = Path(__file__).parents[2] / "models" / "baseline"
    code = main(["evaluate", "--models", f"baseline:{baseline}", "--test-symbols", "AAPL",
                 "MSFT", "--test-days", "30", "--output-root", str(tmp_path), "--quiet"])  # fmt: skip
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "## Deployment criteria" in out.out
    assert "skipping MSFT" in out.err or "MSFT" in out.out
    (run,) = tmp_path.glob("eval_*")
    results = json.loads((run / "evaluation_results.json").read_text(encoding="utf-8"))
    assert [s["name"] for s in results["sets"]] == ["baseline"]
    assert results["sets"][0]["baseline"] is True


def test_cli_bad_input_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_keys: None
) -> None:
    assert main(["evaluate", "--models", "x:/nope", "--output-root", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("error: --models x:/nope")
    code = main(["evaluate", "--models", "expert", "--test-symbols", "ZZZZ", "--output-root",
                 str(tmp_path), "--quiet"])  # fmt: skip
    assert code == 1
    assert "none of ZZZZ has data" in capsys.readouterr().err
    assert main(["evaluate", "--models", "expert", "--judge", "anthropic", "--output-root",
                 str(tmp_path), "--test-symbols", "AAPL", "--quiet"]) == 1  # fmt: skip
    assert "needs ANTHROPIC_API_KEY" in capsys.readouterr().err


def _walk(n: int, seed: int, drift: float = 0.0005) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 100 * np.exp(np.cumsum(rng.normal(drift, 0.015, n)))


def test_the_baseline_is_the_rules_whatever_the_config_or_production_says(tmp_path: Path) -> None:
    config = {"agents": {"technical": {"model_path": str(tmp_path / "no-such-model")}}}
    run = evaluate_models(["baseline:expert"], symbols=["AAPL"], test_days=20, config=config,
                          output_root=tmp_path, progress=False)  # fmt: skip
    results = json.loads((run / "evaluation_results.json").read_text(encoding="utf-8"))
    assert set(results["sets"][0]["model_versions"].values()) == {"expert-3"}


def test_a_change_to_the_data_misses_the_cache_and_short_symbols_are_skipped(
    tmp_path: Path,
) -> None:
    from tests.helpers import make_bars, write_price_dir

    prices = tmp_path / "prices"
    write_price_dir(prices, {"AAA": make_bars(_walk(400, 1)), "BBB": make_bars(_walk(400, 2)),
                             "OLD": make_bars(_walk(330, 3))})  # fmt: skip
    config = {"data": {"prices": {"provider": "csv", "csv_dir": str(prices)}}}

    def run() -> dict[str, Any]:
        out = evaluate_models(["expert"], symbols=["AAA", "BBB", "OLD"], test_days=60,
                              config=config, output_root=tmp_path / "evals", progress=False)  # fmt: skip
        return json.loads((out / "evaluation_results.json").read_text(encoding="utf-8"))

    first = run()
    assert first["symbols"] == ["AAA", "BBB"]
    assert "OLD" in first["skipped_symbols"]  # its data ends before the test window
    assert first["cache"] == {"enabled": True, "hits": 0, "misses": 120}
    changed = make_bars(_walk(400, 1))
    changed.iloc[-10:, :4] *= 1.2  # AAA's last ten bars move
    write_price_dir(prices, {"AAA": changed})
    second = run()
    assert second["cache"]["misses"] == 10  # exactly the days whose inputs changed
    assert second["cache"]["hits"] == 110


def test_a_set_compared_with_its_twin_differs_by_nothing(tmp_path: Path) -> None:
    """Every set against the baseline, and each set against the one before it; two sets
    that decide alike agree on every symbol-day, with zero-width differences."""
    run = evaluate_models(
        ["baseline:expert", "twin:expert", "third:expert"],
        symbols=SYMBOLS, test_days=TEST_DAYS, output_root=tmp_path, progress=False,
    )  # fmt: skip
    results = EvaluationResults.model_validate_json(
        (run / "evaluation_results.json").read_text(encoding="utf-8")
    )
    pairs = [(c.set, c.against) for c in results.comparisons]
    assert pairs == [("twin", "baseline"), ("third", "baseline"), ("third", "twin")]
    for c in results.comparisons:
        assert (c.agreement.agreement, c.agreement.low, c.agreement.high) == (1.0, 1.0, 1.0)
        assert c.mean_daily_return.difference == 0.0
        assert (c.mean_daily_return.low, c.mean_daily_return.high) == (0.0, 0.0)
        assert c.mean_daily_return.p_value == 1.0
        assert c.symbol_days == TEST_DAYS * len(SYMBOLS)


def test_dates_after_the_sample_on_a_csv_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """docs/EVALUATION.md, "Beyond the sample's end": another price source, a window by
    dates, every symbol it holds."""
    frames = {
        s: make_bars(_walk(340, seed), start="2023-01-02") for s, seed in (("AAA", 1), ("BBB", 2))
    }
    write_price_dir(tmp_path / "prices_2024", frames)
    config = tmp_path / "my_data.yaml"
    config.write_text(
        f"data:\n  prices:\n    provider: csv\n    csv_dir: {tmp_path / 'prices_2024'}\n",
        encoding="utf-8",
    )
    code = main(["evaluate", "--models", "expert", "--config", str(config), "--test-symbols",
                 "all", "--test-start", "2024-01-02", "--test-end", "2024-03-28",
                 "--output-root", str(tmp_path / "out"), "--quiet"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    (run,) = (tmp_path / "out").glob("eval_*")
    results = EvaluationResults.model_validate_json(
        (run / "evaluation_results.json").read_text(encoding="utf-8")
    )
    assert results.symbols == ["AAA", "BBB"]
    assert results.window["start"] == "2024-01-02"
    assert results.window["end"] == "2024-03-28"


def test_sets_that_share_analysts_ask_them_once(tmp_path: Path) -> None:
    """The RL set's analysts are the SFT set's: the second set reuses their answers."""
    from stockagents.core.config import load_config
    from stockagents.data.factory import build_sources
    from stockagents.evaluation.model_sets import parse_model_sets
    from stockagents.evaluation.runner import run_model_set
    from tests.helpers import make_tiny_adapter

    adapters = tmp_path / "adapters"
    for seed, agent in enumerate(("news", "technical", "fundamental", "strategist")):
        make_tiny_adapter(adapters / agent, seed=seed, agent=agent)
    first, second = tmp_path / "sft", tmp_path / "rl"
    for root, strategist in ((first, "expert"), (second, str(adapters / "strategist"))):
        root.mkdir()
        agents = {a: str(adapters / a) for a in ("news", "technical", "fundamental")}
        agents["strategist"] = strategist
        (root / "manifest.json").write_text(json.dumps({"agents": agents}), encoding="utf-8")
    app = load_config(None)
    sources = build_sources(app.data)
    prices = {s: sources.prices.prices(s, as_of="2023-09-21") for s in SYMBOLS}
    window = (dt.date(2023, 9, 11), dt.date(2023, 9, 21))  # 9 sessions
    shared: dict[Any, Any] = {}
    sets = parse_model_sets([f"sft:{first}", f"rl:{second}"])
    one = run_model_set(sets[0], app, sources, prices, window, shared=shared)
    asked = len(shared)
    assert asked == 3 * len(one.steps)  # three model analysts per step
    two = run_model_set(sets[1], app, sources, prices, window, shared=shared)
    assert len(shared) == asked  # nothing new was asked
    for a, b in zip(one.steps, two.steps, strict=True):
        assert a.recommendation.signals == b.recommendation.signals
