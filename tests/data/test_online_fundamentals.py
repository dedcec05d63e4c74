"""SEC EDGAR, Finnhub and yfinance fundamentals: normalisation and filing dates."""

from __future__ import annotations

import copy
import datetime as dt
import importlib.util
from pathlib import Path

import pandas as pd
import pytest

from stockagents.core.config import DataConfig
from stockagents.core.errors import DataError, ProviderUnavailableError
from stockagents.core.settings import Settings
from stockagents.core.types import FundamentalsSnapshot
from stockagents.data.factory import DataSources, build_sources
from stockagents.data.news import NoNewsProvider
from stockagents.data.online.edgar import (
    EdgarFundamentalsProvider,
    parse_company_facts,
    parse_company_tickers,
)
from stockagents.data.online.finnhub import estimated_filing_date, parse_finnhub_metrics
from stockagents.data.online.yfinance_fundamentals import (
    YFinanceFundamentalsProvider,
    snapshots_from_yfinance,
)
from stockagents.data.sample import SamplePriceProvider
from stockagents.orchestration import SystemCoordinator
from tests.fake_data_api import COMPANY_FACTS, EDGAR_AGENT, FINNHUB_KEY, DataApi, DataReply

FY22 = FundamentalsSnapshot(
    symbol="AAPL",
    period_end=dt.date(2022, 9, 24),
    filing_date=dt.date(2022, 10, 28),
    period="annual",
    revenue=394_328e6,
    gross_profit=170_782e6,
    operating_income=119_437e6,
    net_income=99_803e6,
    eps=6.11,
    shares_outstanding=15_908_118_000,
    total_equity=50_672e6,
    total_debt=98_959e6,
    free_cash_flow=122_151e6 - 10_708e6,
)
Q3_23 = FundamentalsSnapshot(
    symbol="AAPL",
    period_end=dt.date(2023, 7, 1),
    filing_date=dt.date(2023, 8, 4),
    period="quarterly",
    revenue=81_797e6,  # the quarter, not the nine months
    gross_profit=36_413e6,
    operating_income=22_998e6,
    net_income=19_881e6,
    eps=1.26,
    shares_outstanding=15_634_232_000,
    total_equity=60_274e6,
    total_debt=98_071e6,
    free_cash_flow=None,  # a third quarter's cash flows are year-to-date only
)


def _settings(**values: str) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def _config(api: DataApi, tmp_path: Path, provider: str) -> DataConfig:
    http = {"cache_dir": str(tmp_path / "cache"), "max_retries": 0}
    return DataConfig.model_validate(
        {
            "fundamentals": {
                "provider": provider,
                "edgar": {
                    "base_url": f"{api.url}/sec",
                    "tickers_url": f"{api.url}/sec/files/company_tickers.json",
                    **http,
                },
                "finnhub": {"base_url": f"{api.url}/finnhub", **http},
            }
        }
    )


def _edgar(api: DataApi, tmp_path: Path) -> EdgarFundamentalsProvider:
    provider = build_sources(
        _config(api, tmp_path, "edgar"), _settings(SEC_USER_AGENT=EDGAR_AGENT)
    ).fundamentals
    assert isinstance(provider, EdgarFundamentalsProvider)
    return provider


def test_edgar_company_facts_become_snapshots(data_api: DataApi, tmp_path: Path) -> None:
    provider = _edgar(data_api, tmp_path)
    assert provider.filings("aapl", as_of=dt.date(2023, 12, 1)) == [FY22, Q3_23]
    assert [r.path for r in data_api.requests] == [
        "/sec/files/company_tickers.json",
        "/sec/api/xbrl/companyfacts/CIK0000320193.json",
    ]
    assert data_api.requests[1].headers["user-agent"] == EDGAR_AGENT


def test_edgar_filing_date_is_the_point_in_time(data_api: DataApi, tmp_path: Path) -> None:
    provider = _edgar(data_api, tmp_path)
    # Filed Friday 2023-08-04: visible from the next session on (Monday), never on the
    # filing day itself; the weekend sees what Friday's close saw.
    assert provider.filings("AAPL", as_of=dt.date(2023, 8, 4)) == [FY22]
    assert provider.filings("AAPL", as_of=dt.date(2023, 8, 5)) == [FY22]
    assert provider.filings("AAPL", as_of=dt.date(2023, 8, 7)) == [FY22, Q3_23]
    assert provider.filings("AAPL", as_of=dt.date(2022, 10, 28)) == []
    # Period end 2023-07-01 is long past by August 4th, yet nothing leaked before filing.
    assert len(data_api.to("/sec/api/xbrl/companyfacts/CIK0000320193.json")) == 1  # cached


def test_edgar_unknown_ticker(data_api: DataApi, tmp_path: Path) -> None:
    provider = _edgar(data_api, tmp_path)
    with pytest.raises(DataError, match=r"^edgar: ZZZZ is not in the SEC's company_tickers"):
        provider.filings("ZZZZ", as_of=dt.date(2023, 1, 1))
    assert provider.cik("BRK.B") == 1067983


def test_edgar_without_user_agent(data_api: DataApi, tmp_path: Path) -> None:
    provider = build_sources(_config(data_api, tmp_path, "edgar"), _settings()).fundamentals
    assert provider.unavailable_reason is not None
    assert provider.unavailable_reason.startswith("edgar: SEC_USER_AGENT is not set")
    assert data_api.requests == []


def test_edgar_403_says_the_fix(data_api: DataApi, tmp_path: Path) -> None:
    provider = build_sources(
        _config(data_api, tmp_path, "edgar"), _settings(SEC_USER_AGENT="anonymous")
    ).fundamentals
    with pytest.raises(DataError) as caught:
        provider.filings("AAPL", as_of=dt.date(2023, 1, 1))
    assert str(caught.value) == (
        f"edgar: HTTP 403 (access refused) from {data_api.url}/sec/files/company_tickers.json; "
        "set SEC_USER_AGENT to 'Name email' (the SEC refuses undeclared clients)"
    )


def test_edgar_malformed_and_empty(data_api: DataApi, tmp_path: Path) -> None:
    provider = _edgar(data_api, tmp_path)
    path = "/sec/api/xbrl/companyfacts/CIK0000320193.json"
    data_api.plan(path, DataReply(raw=b'{"cik": 320193, "facts": {'))
    with pytest.raises(DataError, match="is not valid JSON"):
        provider.filings("AAPL", as_of=dt.date(2023, 12, 1))
    data_api.plan(path, DataReply(body={"cik": 320193, "entityName": "Apple Inc.", "facts": {}}))
    assert provider.filings("AAPL", as_of=dt.date(2023, 12, 1)) == []


def test_finnhub_basic_financials_use_estimated_dates(data_api: DataApi, tmp_path: Path) -> None:
    provider = build_sources(
        _config(data_api, tmp_path, "finnhub"), _settings(FINNHUB_API_KEY=FINNHUB_KEY)
    ).fundamentals
    snapshots = provider.filings("AAPL", as_of=dt.date(2024, 1, 1))
    assert [(s.period, s.period_end, s.filing_date, s.eps) for s in snapshots] == [
        ("annual", dt.date(2022, 9, 24), dt.date(2022, 12, 23), 6.11),  # + 90 days
        ("quarterly", dt.date(2023, 7, 1), dt.date(2023, 8, 15), 1.26),  # + 45 days
    ]
    assert provider.filings("AAPL", as_of=dt.date(2023, 8, 15)) == snapshots[:1]
    (request,) = data_api.to("/finnhub/stock/metric")
    assert request.query == {"symbol": "AAPL", "metric": "all"}
    assert provider.filings("MSFT", as_of=dt.date(2024, 1, 1)) == []  # Finnhub's "{}"


def test_finnhub_fiscal_q4_gets_the_annual_lag() -> None:
    data = {
        "series": {
            "annual": {"eps": [{"period": "2022-09-24", "v": 6.11}]},
            "quarterly": {
                "eps": [
                    {"period": "2022-09-24", "v": 1.29},  # fiscal Q4: in the 10-K
                    {"period": "2022-12-31", "v": 1.88},
                ]
            },
        }
    }
    snapshots = parse_finnhub_metrics("AAPL", data)
    assert [(s.period, s.period_end, s.filing_date) for s in snapshots] == [
        ("annual", dt.date(2022, 9, 24), dt.date(2022, 12, 23)),
        ("quarterly", dt.date(2022, 9, 24), dt.date(2022, 12, 23)),  # + 90, not + 45
        ("quarterly", dt.date(2022, 12, 31), dt.date(2023, 2, 14)),  # + 45
    ]
    # Within a week of the fiscal year end (52/53-week years) counts too.
    assert estimated_filing_date(
        dt.date(2022, 9, 30), "quarterly", [dt.date(2022, 9, 24)]
    ) == dt.date(2022, 12, 29)


def test_yfinance_fiscal_q4_gets_the_annual_lag() -> None:
    frames = _yahoo_statements()
    q4 = pd.DataFrame({pd.Timestamp("2022-09-30"): [90_146e6]}, index=["Total Revenue"])
    frames["quarterly_income_stmt"] = pd.concat([frames["quarterly_income_stmt"], q4], axis=1)
    snapshots = snapshots_from_yfinance("AAPL", frames)
    (fourth,) = [s for s in snapshots if s.period == "quarterly" and s.revenue == 90_146e6]
    assert fourth.filing_date == dt.date(2022, 12, 29)  # the 10-K's lag, not 2022-11-14


def _yahoo_statements() -> dict[str, pd.DataFrame]:
    """Frames shaped like yfinance's: line items as rows, period ends as columns."""
    q_ends = [pd.Timestamp("2023-07-01"), pd.Timestamp("2023-04-01")]
    income = pd.DataFrame(
        {
            q_ends[0]: [81_797e6, 36_413e6, 22_998e6, 19_881e6, 1.26],
            q_ends[1]: [94_836e6, 41_976e6, 28_318e6, 24_160e6, float("nan")],
        },
        index=["Total Revenue", "Gross Profit", "Operating Income", "Net Income", "Diluted EPS"],
    )
    balance = pd.DataFrame(
        {q_ends[0]: [60_274e6, 109_280e6, 15_697e6]},
        index=["Stockholders Equity", "Total Debt", "Ordinary Shares Number"],
    )
    cash = pd.DataFrame({q_ends[0]: [24_275e6]}, index=["Free Cash Flow"])
    annual = pd.DataFrame(
        {pd.Timestamp("2022-09-30"): [394_328e6, 99_803e6]},
        index=["Total Revenue", "Net Income"],
    )
    return {
        "income_stmt": annual,
        "balance_sheet": pd.DataFrame(),
        "cashflow": pd.DataFrame(),
        "quarterly_income_stmt": income,
        "quarterly_balance_sheet": balance,
        "quarterly_cashflow": cash,
    }


def test_yfinance_statements_are_normalised() -> None:
    snapshots = snapshots_from_yfinance("aapl", _yahoo_statements())
    assert snapshots == [
        FundamentalsSnapshot(
            symbol="AAPL",
            period_end=dt.date(2022, 9, 30),
            filing_date=dt.date(2022, 12, 29),
            period="annual",
            revenue=394_328e6,
            net_income=99_803e6,
        ),
        FundamentalsSnapshot(
            symbol="AAPL",
            period_end=dt.date(2023, 4, 1),
            filing_date=dt.date(2023, 5, 16),
            period="quarterly",
            revenue=94_836e6,
            gross_profit=41_976e6,
            operating_income=28_318e6,
            net_income=24_160e6,
            eps=None,  # NaN in the frame
        ),
        FundamentalsSnapshot(
            symbol="AAPL",
            period_end=dt.date(2023, 7, 1),
            filing_date=dt.date(2023, 8, 15),
            period="quarterly",
            revenue=81_797e6,
            gross_profit=36_413e6,
            operating_income=22_998e6,
            net_income=19_881e6,
            eps=1.26,
            shares_outstanding=15_697e6,
            total_equity=60_274e6,
            total_debt=109_280e6,
            free_cash_flow=24_275e6,
        ),
    ]


def test_yfinance_provider_filters_and_reports_failures() -> None:
    calls: list[str] = []

    def fetch(symbol: str) -> dict[str, pd.DataFrame]:
        calls.append(symbol)
        return _yahoo_statements()

    provider = YFinanceFundamentalsProvider(fetch=fetch)
    assert provider.unavailable_reason is None
    assert [s.period_end for s in provider.filings("AAPL", as_of=dt.date(2023, 8, 15))] == [
        dt.date(2022, 9, 30),
        dt.date(2023, 4, 1),
    ]
    provider.filings("AAPL", as_of=dt.date(2024, 1, 1))
    assert calls == ["AAPL"]

    def fail(symbol: str) -> dict[str, pd.DataFrame]:
        raise ConnectionError("connection refused")

    with pytest.raises(DataError, match=r"^yfinance: fundamentals of AAPL failed \(connection"):
        YFinanceFundamentalsProvider(fetch=fail).filings("AAPL", as_of=dt.date(2024, 1, 1))


@pytest.mark.skipif(importlib.util.find_spec("yfinance") is not None, reason="yfinance installed")
def test_yfinance_not_installed_is_one_line(tmp_path: Path) -> None:
    provider = build_sources(
        DataConfig.model_validate({"fundamentals": {"provider": "yfinance"}}), _settings()
    ).fundamentals
    assert provider.unavailable_reason == (
        "the yfinance fundamentals provider needs the yfinance package: "
        "pip install 'stockagents[yfinance]'"
    )
    with pytest.raises(ProviderUnavailableError, match=r"pip install 'stockagents\[yfinance\]'"):
        provider.filings("AAPL", as_of=dt.date(2024, 1, 1))


def test_edgar_bad_numbers_are_skipped_not_raised() -> None:
    tickers = parse_company_tickers(
        {
            "0": {"cik_str": "not-a-number", "ticker": "BAD"},
            "1": {"cik_str": 320193, "ticker": "AAPL"},
        }
    )
    assert tickers == {"AAPL": 320193}
    facts = copy.deepcopy(COMPANY_FACTS)
    for entry in facts["facts"]["us-gaap"]["EarningsPerShareDiluted"]["units"]["USD/shares"]:
        entry["val"] = "n/a"
    facts["facts"]["us-gaap"]["GrossProfit"] = "garbage"
    snapshots = parse_company_facts("AAPL", facts)
    assert [s.eps for s in snapshots] == [None, None]
    assert [s.gross_profit for s in snapshots] == [None, None]
    assert [s.revenue for s in snapshots] == [FY22.revenue, Q3_23.revenue]


def test_a_broken_yfinance_is_no_source_in_the_analysis() -> None:
    def broken(symbol: str) -> dict[str, pd.DataFrame]:
        raise ProviderUnavailableError("yfinance cannot be imported (OSError: bad); reinstall")

    sources = DataSources(
        SamplePriceProvider(), NoNewsProvider(), YFinanceFundamentalsProvider(fetch=broken)
    )
    with SystemCoordinator(sources=sources) as coordinator:
        observation = coordinator.observations.build("AAPL", dt.date(2023, 6, 30))
    assert observation.fundamentals is None
    assert observation.fundamentals_reason == (
        "the fundamentals source failed: yfinance cannot be imported (OSError: bad); reinstall"
    )


def test_edgar_parses_one_answer_once(
    data_api: DataApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stockagents.data.online import edgar

    calls: list[str] = []

    def counting(symbol: str, data: object) -> list[FundamentalsSnapshot]:
        calls.append(symbol)
        return parse_company_facts(symbol, data)

    monkeypatch.setattr(edgar, "parse_company_facts", counting)
    provider = _edgar(data_api, tmp_path)
    for day in (dt.date(2023, 8, 4), dt.date(2023, 8, 5), dt.date(2023, 12, 1)):
        provider.filings("AAPL", as_of=day)
    assert calls == ["AAPL"]  # one cached answer, parsed once, filtered per day
