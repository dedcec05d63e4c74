"""Typed configuration: one pydantic model per YAML section, and the one loader.

``load_config(path)`` reads a YAML file, validates it once, and returns an ``AppConfig``
that callers pass down explicitly; nothing reads config from globals. Validation errors
become a ``ConfigError`` whose message names the file, the field and the fix (each
field's description says what a valid value is). Secrets never live here: see
``stockagents.core.settings``.
"""

from __future__ import annotations

import os
import reprlib
import string
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from stockagents.core.errors import ConfigError
from stockagents.core.symbols import Symbol
from stockagents.core.textfile import read_text, value_problem

__all__ = [
    "AgentsConfig",
    "AlpacaConfig",
    "AppConfig",
    "BacktestConfig",
    "CoordinatorConfig",
    "DataConfig",
    "DeploymentConfig",
    "EdgarConfig",
    "FinnhubConfig",
    "FundamentalAgentConfig",
    "FundamentalsConfig",
    "MonitorConfig",
    "MonitorRulesConfig",
    "NewsAgentConfig",
    "NewsApiConfig",
    "NewsConfig",
    "PricesConfig",
    "SerperConfig",
    "SplitConfig",
    "StrategistConfig",
    "TechnicalAgentConfig",
    "format_validation_error",
    "load_config",
    "read_source",
]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class PricesConfig(_Section):
    provider: Literal["sample", "csv", "yfinance"] = Field(
        default="sample",
        description="one of 'sample' (the offline sample shipped with the package), "
        "'csv' (a directory of per-symbol CSV/Parquet files) or 'yfinance'",
    )
    csv_dir: Path | None = Field(
        default=None, description="the directory of SYMBOL.csv / SYMBOL.parquet files"
    )
    cache_dir: Path = Field(
        default=Path(".cache/stockagents"),
        description="a writable directory for downloaded data",
    )

    @model_validator(mode="after")
    def _csv_needs_dir(self) -> PricesConfig:
        if self.provider == "csv" and self.csv_dir is None:
            raise ValueError("provider 'csv' needs csv_dir: set data.prices.csv_dir to a directory")
        return self


class _HttpSection(_Section):
    """What every online provider's HTTP client takes; subclasses set the defaults."""

    base_url: str = Field(default="", description="the API's base URL (http or https)")
    timeout: float = Field(default=10.0, gt=0, le=300, description="seconds per request")
    max_retries: int = Field(
        default=3, ge=0, le=10, description="retries on 429, 5xx and timeouts (0-10)"
    )
    rate_limit_per_minute: float = Field(
        default=60.0, gt=0, description="a positive number: the most requests per minute"
    )
    cache_dir: Path | None = Field(
        default=None,
        description="a writable directory for cached answers; empty means "
        "$STOCKAGENTS_CACHE_DIR/http or ~/.cache/stockagents/http",
    )
    cache_ttl_minutes: float = Field(
        default=15.0,
        ge=0,
        description="minutes an answer that may still grow is reused (0: never); an "
        "answer fetched after its query's cutoff is complete and kept for good",
    )
    deadline: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="seconds one request may take, retries and waits included",
    )

    @model_validator(mode="after")
    def _url_is_http(self) -> _HttpSection:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(
                f"base_url must start with http:// or https:// (got {self.base_url!r})"
            )
        return self


class FinnhubConfig(_HttpSection):
    base_url: str = Field(default="https://finnhub.io/api/v1", description="Finnhub's API base URL")


def _check_query(query: str) -> str:
    """``query`` if ``{symbol}`` is its only placeholder, else a ValueError with the fix."""
    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(query) if name is not None]
    except ValueError as exc:
        raise ValueError(
            f"query {query!r} is not a valid template ({exc}); use {{symbol}} for the "
            "symbol and write a literal brace as {{ or }}"
        ) from None
    bad = [name for name in fields if name != "symbol"]
    if bad:
        raise ValueError(
            f"query {query!r} uses {{{bad[0]}}}; the only placeholder is {{symbol}} "
            "(write a literal brace as {{ or }})"
        )
    return query


class NewsApiConfig(_HttpSection):
    base_url: str = Field(default="https://newsapi.org/v2", description="NewsAPI's base URL")
    query: str = Field(
        default="{symbol}", description="the search text; {symbol} is replaced by the symbol"
    )

    @field_validator("query")
    @classmethod
    def _query_has_only_symbol(cls, query: str) -> str:
        return _check_query(query)


class SerperConfig(_HttpSection):
    base_url: str = Field(default="https://google.serper.dev", description="Serper's base URL")
    query: str = Field(
        default="{symbol} stock",
        description="the search text; {symbol} is replaced by the symbol",
    )

    @field_validator("query")
    @classmethod
    def _query_has_only_symbol(cls, query: str) -> str:
        return _check_query(query)

    num: int = Field(default=50, ge=1, le=100, description="results per search, 1-100")


class EdgarConfig(_HttpSection):
    base_url: str = Field(default="https://data.sec.gov", description="EDGAR's data API URL")
    tickers_url: str = Field(
        default="https://www.sec.gov/files/company_tickers.json",
        description="the URL of the SEC's ticker-to-CIK file",
    )
    rate_limit_per_minute: float = Field(
        default=300.0,
        gt=0,
        le=600,
        description="requests per minute per process; the SEC allows 10/s in all, "
        "the default 300 (5/s) leaves room for another process",
    )


OnlineNewsName = Literal["finnhub", "newsapi", "serper"]


class NewsConfig(_Section):
    provider: Literal["none", "jsonl", "chain", "finnhub", "newsapi", "serper"] = Field(
        default="none",
        description="'none', 'jsonl' (a JSONL file or directory of them), 'finnhub', "
        "'newsapi', 'serper' or 'chain' (the online providers listed in providers)",
    )
    path: Path | None = Field(default=None, description="the JSONL news file or directory")
    providers: list[OnlineNewsName] = Field(
        default=["finnhub", "newsapi", "serper"],
        description="a list of finnhub, newsapi and serper, asked in that order (chain)",
    )
    finnhub: FinnhubConfig = FinnhubConfig()
    newsapi: NewsApiConfig = NewsApiConfig()
    serper: SerperConfig = SerperConfig()

    @model_validator(mode="after")
    def _provider_needs(self) -> NewsConfig:
        if self.provider == "jsonl" and self.path is None:
            raise ValueError("provider 'jsonl' needs path: set data.news.path to a file")
        if self.provider == "chain" and not self.providers:
            raise ValueError(
                "provider 'chain' needs providers: set data.news.providers, "
                "e.g. [finnhub, newsapi, serper]"
            )
        if len(set(self.providers)) != len(self.providers):
            raise ValueError("data.news.providers lists a provider twice; list each once")
        return self


class FundamentalsConfig(_Section):
    provider: Literal["none", "file", "edgar", "finnhub", "yfinance"] = Field(
        default="none",
        description="'none', 'file' (a JSON or CSV file of filings), 'edgar' (SEC company "
        "facts), 'finnhub' (basic financials) or 'yfinance'",
    )
    path: Path | None = Field(default=None, description="the JSON or CSV fundamentals file")
    edgar: EdgarConfig = EdgarConfig()
    finnhub: FinnhubConfig = FinnhubConfig()

    @model_validator(mode="after")
    def _file_needs_path(self) -> FundamentalsConfig:
        if self.provider == "file" and self.path is None:
            raise ValueError("provider 'file' needs path: set data.fundamentals.path to a file")
        return self


class DataConfig(_Section):
    prices: PricesConfig = PricesConfig()
    news: NewsConfig = NewsConfig()
    fundamentals: FundamentalsConfig = FundamentalsConfig()


class _AgentSection(_Section):
    model_path: str | None = Field(
        default=None,
        description="a model directory, preset, hub id or openai:/anthropic: model; "
        "empty or 'expert' means the rule-based expert",
    )
    fp16: bool = Field(default=False, description="true or false (model-backed agents, GPU)")
    bf16: bool = Field(default=False, description="true or false (model-backed agents, GPU)")
    load_in_4bit: bool = Field(
        default=False, description="true or false (CUDA with bitsandbytes only)"
    )
    max_new_tokens: int = Field(
        default=256, ge=16, le=4096, description="an integer: the longest answer in tokens"
    )
    quantize: Literal["auto", "bf16", "int8", "fp16", "none"] = Field(
        default="auto",
        description="auto, bf16, int8, fp16 or none: the weight format on CPU (local models)",
    )
    batch_size: int = Field(
        default=32, ge=1, le=256, description="an integer: rows per forward pass (local models)"
    )


class TechnicalAgentConfig(_AgentSection):
    signal_threshold: float = Field(
        default=0.15, gt=0, lt=1, description="a number in (0, 1): |score| above it is a signal"
    )


class NewsAgentConfig(_AgentSection):
    lookback_days: int = Field(default=7, ge=1, le=365, description="an integer of days, 1-365")
    half_life_days: float = Field(default=2.0, gt=0, description="a positive number of days")
    signal_threshold: float = Field(default=0.1, gt=0, lt=1, description="a number in (0, 1)")


class FundamentalAgentConfig(_AgentSection):
    max_filing_age_days: int = Field(
        default=550, ge=30, description="an integer of days: older filings are ignored"
    )
    signal_threshold: float = Field(default=0.15, gt=0, lt=1, description="a number in (0, 1)")


class StrategistConfig(_AgentSection):
    weights: dict[Literal["technical", "news", "fundamental"], float] = Field(
        default={"technical": 0.45, "news": 0.25, "fundamental": 0.30},
        description="non-negative weights for technical, news and fundamental",
    )
    buy_threshold: float = Field(default=0.12, gt=0, lt=1, description="a number in (0, 1)")
    sell_threshold: float = Field(default=0.12, gt=0, lt=1, description="a number in (0, 1)")
    max_position: float = Field(
        default=0.25, gt=0, le=1, description="a fraction of equity in (0, 1]"
    )
    target_daily_vol: float = Field(
        default=0.02, gt=0, le=0.5, description="a daily volatility such as 0.02 (2%)"
    )
    stop_atr_multiple: float = Field(default=2.0, gt=0, description="a positive ATR multiple")
    take_profit_atr_multiple: float = Field(
        default=3.0, gt=0, description="a positive ATR multiple"
    )
    horizon_days: int = Field(default=5, ge=1, le=252, description="an integer of trading days")
    allow_short: bool = Field(default=False, description="true to open shorts on SELL")

    @model_validator(mode="after")
    def _weights_valid(self) -> StrategistConfig:
        if any(w < 0 for w in self.weights.values()) or sum(self.weights.values()) <= 0:
            raise ValueError("weights must be non-negative with a positive sum")
        return self


class AgentsConfig(_Section):
    technical: TechnicalAgentConfig = TechnicalAgentConfig()
    news: NewsAgentConfig = NewsAgentConfig()
    fundamental: FundamentalAgentConfig = FundamentalAgentConfig()
    strategist: StrategistConfig = StrategistConfig()


class CoordinatorConfig(_Section):
    parallel: bool = Field(default=True, description="true to run the analysts concurrently")
    batch_steps: int = Field(
        default=32,
        ge=1,
        description="in a backtest, the analysts of this many (symbol, day) steps answer in "
        "one model batch, and a day's strategists in another; 1 answers each step alone",
    )
    max_stale_days: int = Field(
        default=5,
        ge=0,
        description="how many calendar days as_of may lie past the last price bar",
    )


class BacktestConfig(_Section):
    initial_cash: float = Field(default=100_000.0, gt=0, description="a positive cash amount")
    commission_bps: float = Field(
        default=5.0, ge=0, le=1000, description="commission in basis points of traded value"
    )
    slippage_bps: float = Field(
        default=5.0, ge=0, le=1000, description="slippage in basis points, against each fill"
    )
    max_position: float = Field(
        default=1.0, gt=0, le=1, description="the largest weight one symbol may have, in (0, 1]"
    )
    max_gross_exposure: float = Field(
        default=1.0, gt=0, le=2, description="the cap on the sum of absolute weights, in (0, 2]"
    )
    allow_short: bool = Field(default=False, description="true to let SELL open shorts")
    fractional_shares: bool = Field(default=True, description="false to trade whole shares only")
    use_stops: bool = Field(
        default=True, description="true to honour the decisions' stop-loss and take-profit"
    )
    risk_free_rate: float = Field(
        default=0.0, ge=0, le=0.2, description="an annual rate such as 0.02, for Sharpe"
    )


class SplitConfig(_Section):
    test_days: int = Field(default=90, ge=1, description="trading days in the test segment")
    validation_days: int = Field(
        default=60, ge=0, description="trading days in the validation segment"
    )
    embargo_days: int = Field(
        default=20,
        ge=0,
        description="trading days left out between segments; at least the longest horizon",
    )


def _models_dir() -> Path:
    return Path(os.environ.get("STOCKAGENTS_MODELS_DIR") or "models")


class DeploymentConfig(_Section):
    """Where deployed models live, and the guide's bar for deploying a model set (checked
    on the test segment with costs)."""

    models_dir: Path = Field(
        default_factory=_models_dir,
        description="where production/ and backups/ live ($STOCKAGENTS_MODELS_DIR or models)",
    )
    keep_backups: int = Field(
        default=5,
        ge=1,
        description="backups kept after each deployment or rollback, oldest removed first; "
        "the one `deploy rollback` would install is always kept",
    )
    verify_symbol: Symbol = Field(
        default="AAPL", description="the symbol a deployment analyses to verify the models"
    )

    min_sharpe: float = Field(default=0.5, description="the lowest annualised Sharpe ratio")
    max_drawdown: float = Field(
        default=0.20, gt=0, le=1, description="the deepest drawdown allowed, a fraction in (0, 1]"
    )
    min_win_rate: float = Field(
        default=0.5, ge=0, le=1, description="the lowest share of winning trades, in [0, 1]"
    )
    min_profit_factor: float = Field(
        default=1.5, ge=0, description="the lowest gross profit over gross loss"
    )


class MonitorRulesConfig(_Section):
    """When a release is ``healthy``, ``watch`` or ``degraded`` (docs/MONITORING.md). A rule
    that compares with the evaluation uses the release's deployment evaluation; without
    one (a forced deployment) it uses the fallback the field names."""

    min_decisions: int = Field(
        default=20, ge=1, description="decisions with a realised outcome before any verdict"
    )
    min_directional: int = Field(
        default=10,
        ge=1,
        description="BUY/SELL decisions with an outcome before the calibration rule applies",
    )
    window_days: int = Field(
        default=60, ge=5, description="journal days (most recent) the rolling metrics cover"
    )
    confirm_days: int = Field(
        default=2,
        ge=1,
        description="days running the rules must find a new verdict before it holds (1: at once)",
    )
    watch_valid_share: float = Field(
        default=0.98, ge=0, le=1, description="valid-output share below this: watch"
    )
    degraded_valid_share: float = Field(
        default=0.90, ge=0, le=1, description="valid-output share below this: degraded"
    )
    brier_watch_margin: float = Field(
        default=0.05, ge=0, description="Brier above the evaluation's by more than this: watch"
    )
    brier_degraded_margin: float = Field(
        default=0.15,
        ge=0,
        description="Brier above the evaluation's (0.25 without one) by more than this: degraded",
    )
    drawdown_watch_multiple: float = Field(
        default=1.5, ge=1, description="drawdown deeper than this times the evaluation's: watch"
    )
    drawdown_watch_floor: float = Field(
        default=0.05,
        ge=0,
        lt=1,
        description="... and deeper than this fraction (a mostly flat book's tiny drawdowns "
        "are not a finding)",
    )
    psi_watch: float = Field(
        default=0.25,
        gt=0,
        description="population stability index above this (for an indicator, above what "
        "windows of the training segment reach, if more): watch",
    )
    psi_degraded: float | None = Field(
        default=None, gt=0, description="population stability index above this: degraded (off)"
    )
    max_latency_p95_ms: float | None = Field(
        default=None, gt=0, description="p95 latency of a decision above this: watch (off)"
    )

    @model_validator(mode="after")
    def _ordered(self) -> MonitorRulesConfig:
        if self.degraded_valid_share > self.watch_valid_share:
            raise ValueError("monitor.rules.degraded_valid_share must not exceed watch_valid_share")
        if self.brier_degraded_margin < self.brier_watch_margin:
            raise ValueError(
                "monitor.rules.brier_degraded_margin must be at least brier_watch_margin"
            )
        return self


class AlpacaConfig(_Section):
    """Alpaca's paper-trading REST API (keys: APCA_API_KEY_ID, APCA_API_SECRET_KEY)."""

    base_url: str = Field(
        default="https://paper-api.alpaca.markets",
        description="the paper endpoint; any live endpoint is refused",
    )
    timeout: float = Field(default=10.0, gt=0, le=300, description="seconds per request")
    max_retries: int = Field(
        default=3, ge=0, le=10, description="retries of a failed request (429, 5xx, no answer)"
    )
    fractional_shares: bool = Field(
        default=False, description="true to send fractional quantities (market day orders)"
    )


class MonitorConfig(_Section):
    """The production monitor (``stockagents monitor``): what it watches, where it writes,
    how it judges and what it does about a degraded release."""

    journal: str = Field(
        default="monitoring/journal.db",
        description="the decision journal: an SQLite file, or an SQLAlchemy URL "
        "(postgresql+psycopg://user@host/db)",
    )
    watchlist: list[Symbol] = Field(
        default_factory=list, description="symbols analysed daily; empty: every symbol"
    )
    broker: Literal["simulated", "alpaca-paper"] = Field(
        default="simulated", description="simulated (the paper book) or alpaca-paper"
    )
    on_degraded: Literal["alert", "rollback"] = Field(
        default="alert", description="alert, or roll production back to the previous release"
    )
    webhook_url: str | None = Field(
        default=None, description="an http(s) URL that receives each alert as a JSON POST"
    )
    webhook_retries: int = Field(default=3, ge=0, le=10, description="retries of a webhook POST")
    webhook_timeout: float = Field(default=5.0, gt=0, le=60, description="seconds per POST")
    report_dir: Path = Field(
        default=Path("monitoring/reports"), description="where monitor report writes"
    )
    rules: MonitorRulesConfig = MonitorRulesConfig()
    alpaca: AlpacaConfig = AlpacaConfig()

    @field_validator("webhook_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("monitor.webhook_url must start with http:// or https://")
        return value or None


#: The longest forward-return horizon labels use (see ``stockagents.data.splits``).
LONGEST_LABEL_HORIZON = 20


class AppConfig(_Section):
    data: DataConfig = DataConfig()
    agents: AgentsConfig = AgentsConfig()
    coordinator: CoordinatorConfig = CoordinatorConfig()
    backtest: BacktestConfig = BacktestConfig()
    splits: SplitConfig = SplitConfig()
    # a factory: models_dir reads $STOCKAGENTS_MODELS_DIR when a config is made, not at import
    deployment: DeploymentConfig = Field(default_factory=DeploymentConfig)
    monitor: MonitorConfig = MonitorConfig()

    @model_validator(mode="after")
    def _embargo_covers_horizons(self) -> AppConfig:
        longest = max(LONGEST_LABEL_HORIZON, self.agents.strategist.horizon_days)
        if self.splits.embargo_days < longest:
            raise ValueError(
                f"splits.embargo_days ({self.splits.embargo_days}) must be at least the longest "
                f"forward horizon ({longest} days, from the labels and "
                "agents.strategist.horizon_days); raise it"
            )
        return self


def _describe(model: type[BaseModel], loc: tuple[int | str, ...]) -> str:
    """The description of the field at ``loc``, walking nested models."""
    current: Any = model
    description = ""
    for part in loc:
        fields = getattr(current, "model_fields", None)
        if not isinstance(part, str) or fields is None or part not in fields:
            break
        info = fields[part]
        description = info.description or ""
        current = info.annotation
    return description


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict, _REPR.maxstring = 2, 4, 4, 60


def _short(value: Any) -> str:
    """A bounded repr: a YAML alias bomb is not printed (or even built) in full."""
    return _REPR.repr(value)


def format_validation_error(
    error: ValidationError, model: type[BaseModel], origin: str | Path
) -> str:
    """One readable message per problem: ``origin: field: what is wrong; expected ...``."""
    lines = []
    for item in error.errors():
        loc = tuple(item["loc"])
        field = ".".join(str(p) for p in loc) or "(top level)"
        msg = item["msg"].removeprefix("Value error, ")
        got = item.get("input")
        if item["type"] == "extra_forbidden":
            fix = "remove it or check its spelling"
        elif item["type"] == "value_error":
            fix = "see config/README.md"
        else:
            expected = _describe(model, loc)
            fix = f"expected {expected}" if expected else "see the documented defaults"
        shown = (
            "" if isinstance(got, dict) or item["type"] == "missing" else f" (got {_short(got)})"
        )
        lines.append(f"{origin}: {field}: {msg}{shown}; {fix}")
    return "\n".join(lines)


def set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    """Set ``data[a][b][c] = value`` for the dotted ``key`` ``"a.b.c"`` (a command-line
    override of a config file's key), creating the sections it needs."""
    section, _, name = key.rpartition(".")
    target = data
    for part in section.split(".") if section else []:
        node = target.get(part)
        if not isinstance(node, dict):
            node = {}
            target[part] = node
        target = node
    target[name] = value


def read_source(
    source: str | Path | dict[str, Any] | None,
    overrides: dict[str, Any] | None,
    origin: str,
) -> tuple[dict[str, Any], str | Path]:
    """A config's raw sections from a YAML path, a dict or None, with the dotted
    ``overrides`` applied (None values skipped), and where it came from (for errors)."""
    if source is None:
        data: dict[str, Any] = {}
    elif isinstance(source, (str, Path)):
        data = load_yaml(source)
    else:
        data = dict(source)
    where: str | Path = source if isinstance(source, (str, Path)) else origin
    data = {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
    for key, value in (overrides or {}).items():
        if value is not None:
            set_dotted(data, key, value)
    return data, where


class _BadNumber(Exception):
    def __init__(self, line: int, column: int) -> None:
        self.line, self.column = line, column


class _Loader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that says where an integer too long to convert is."""

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        try:
            return int(super().construct_yaml_int(node))
        except ValueError:
            raise _BadNumber(node.start_mark.line + 1, node.start_mark.column + 1) from None


_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_yaml_int)


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping, with a ConfigError naming the file when it is not one."""
    file = Path(path)
    text = read_text(file, "config", "check the path", ConfigError)
    try:
        data = yaml.load(text, Loader=_Loader)  # a SafeLoader
    except _BadNumber as exc:
        raise ConfigError(
            f"{file}: line {exc.line}, column {exc.column}: a number with thousands of "
            "digits; fix the value"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{file}: invalid YAML{where}; fix the syntax") from None
    except (ValueError, RecursionError) as exc:  # a nesting bomb, anything else odd
        raise ConfigError(f"{file}: cannot be read ({value_problem(exc)}); fix the value") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{file}: expected a mapping of sections at the top level")
    return data


def load_config(source: str | Path | dict[str, Any] | AppConfig | None = None) -> AppConfig:
    """Validate a config from a YAML path, a dict or an ``AppConfig``; None gives defaults."""
    if source is None:
        return AppConfig()
    if isinstance(source, AppConfig):
        return source
    origin: str | Path = "config"
    if isinstance(source, (str, Path)):
        origin = source
        source = load_yaml(source)
    try:
        return AppConfig.model_validate(source)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, AppConfig, origin)) from None
