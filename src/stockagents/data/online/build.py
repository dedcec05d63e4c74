"""Building the online providers a ``NewsConfig`` / ``FundamentalsConfig`` names.

A provider whose key (or, for EDGAR, User-Agent) is not set is built as an
"unavailable" provider whose reason names the variable to set; nothing here raises for
a missing key. Keys are read from ``Settings`` only.

Rate limits are per process: every client of one provider name (Finnhub news and
Finnhub fundamentals, say) shares one ``RateLimiter``, at the strictest configured rate,
and clients of identical settings are shared too. ``close_clients`` closes them all.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from pydantic import SecretStr

from stockagents.core.config import (
    EdgarConfig,
    FinnhubConfig,
    FundamentalsConfig,
    NewsApiConfig,
    NewsConfig,
    SerperConfig,
)
from stockagents.core.settings import Settings
from stockagents.data.fundamentals import FundamentalsProvider
from stockagents.data.news import NewsProvider
from stockagents.data.online._common import UnavailableFundamentalsProvider, UnavailableNewsProvider
from stockagents.data.online._http import ApiClient, default_cache_dir
from stockagents.data.online._ratelimit import RateLimiter
from stockagents.data.online.chain import NewsChain
from stockagents.data.online.edgar import EdgarFundamentalsProvider
from stockagents.data.online.finnhub import FinnhubFundamentalsProvider, FinnhubNewsProvider
from stockagents.data.online.newsapi import NewsApiProvider
from stockagents.data.online.serper import SerperNewsProvider
from stockagents.data.online.yfinance_fundamentals import YFinanceFundamentalsProvider

__all__ = ["build_fundamentals", "build_news", "client_for", "close_clients"]

_USER_AGENT = "stockagents"

_lock = threading.Lock()
_limiters: dict[str, RateLimiter] = {}
_clients: dict[tuple[object, ...], ApiClient] = {}


def close_clients() -> None:
    """Close every shared client and forget them and their rate limiters."""
    with _lock:
        clients = list(_clients.values())
        _clients.clear()
        _limiters.clear()
    for client in clients:
        client.close()


def missing_key(name: str, variable: str) -> str:
    """The one line a provider without its key reports."""
    return f"{name}: {variable} is not set; add it to the environment or .env to use {name}"


def client_for(
    name: str,
    config: FinnhubConfig | NewsApiConfig | SerperConfig | EdgarConfig,
    secret_headers: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    auth_hint: str = "",
) -> ApiClient:
    """The process's ``ApiClient`` for ``name`` with the section's settings; every
    client of one ``name`` shares one rate limiter (the strictest rate asked)."""
    all_headers = {"User-Agent": _USER_AGENT, **(headers or {})}
    secrets = dict(secret_headers or {})
    cache_dir = config.cache_dir or default_cache_dir()
    key = (
        name,
        str(cache_dir),
        config.model_dump_json(),
        tuple(sorted(all_headers.items())),
        tuple(sorted(secrets.items())),
        auth_hint,
    )
    with _lock:
        if key in _clients:
            return _clients[key]
        limiter = _limiters.get(name)
        if limiter is None:
            limiter = _limiters[name] = RateLimiter(config.rate_limit_per_minute)
        else:
            limiter.slow_to(config.rate_limit_per_minute)
        client = _clients[key] = ApiClient(
            name,
            timeout=config.timeout,
            max_retries=config.max_retries,
            rate_limit_per_minute=config.rate_limit_per_minute,
            cache_dir=cache_dir,
            cache_ttl_minutes=config.cache_ttl_minutes,
            deadline=config.deadline,
            headers=all_headers,
            secret_headers=secrets,
            auth_hint=auth_hint,
            limiter=limiter,
        )
    return client


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


def _news_provider(name: str, config: NewsConfig, settings: Settings) -> NewsProvider:
    if name == "finnhub":
        key = _secret(settings.finnhub_api_key)
        if key is None:
            return UnavailableNewsProvider(name, missing_key(name, "FINNHUB_API_KEY"))
        client = client_for(
            name,
            config.finnhub,
            {"X-Finnhub-Token": key},
            auth_hint="check FINNHUB_API_KEY",
        )
        return FinnhubNewsProvider(client, config.finnhub.base_url)
    if name == "newsapi":
        key = _secret(settings.newsapi_key)
        if key is None:
            return UnavailableNewsProvider(name, missing_key(name, "NEWSAPI_KEY"))
        client = client_for(name, config.newsapi, {"X-Api-Key": key}, auth_hint="check NEWSAPI_KEY")
        return NewsApiProvider(client, config.newsapi.base_url, config.newsapi.query)
    key = _secret(settings.serper_api_key)
    if key is None:
        return UnavailableNewsProvider(name, missing_key(name, "SERPER_API_KEY"))
    client = client_for(name, config.serper, {"X-API-KEY": key}, auth_hint="check SERPER_API_KEY")
    return SerperNewsProvider(
        client, config.serper.base_url, config.serper.query, config.serper.num
    )


def build_news(config: NewsConfig, settings: Settings) -> NewsProvider:
    """The online news provider (or chain) ``config.provider`` names."""
    if config.provider == "chain":
        return NewsChain([_news_provider(name, config, settings) for name in config.providers])
    return _news_provider(config.provider, config, settings)


def build_fundamentals(config: FundamentalsConfig, settings: Settings) -> FundamentalsProvider:
    """The online fundamentals provider ``config.provider`` names."""
    if config.provider == "edgar":
        agent = settings.sec_user_agent
        if not agent:
            return UnavailableFundamentalsProvider(
                "edgar",
                "edgar: SEC_USER_AGENT is not set; the SEC requires one: set it to your "
                "name and e-mail, e.g. SEC_USER_AGENT='Jane Doe jane@example.com'",
            )
        client = client_for(
            "edgar",
            config.edgar,
            headers={"User-Agent": agent},
            auth_hint="set SEC_USER_AGENT to 'Name email' (the SEC refuses undeclared clients)",
        )
        return EdgarFundamentalsProvider(client, config.edgar.base_url, config.edgar.tickers_url)
    if config.provider == "finnhub":
        key = _secret(settings.finnhub_api_key)
        if key is None:
            return UnavailableFundamentalsProvider(
                "finnhub", missing_key("finnhub", "FINNHUB_API_KEY")
            )
        client = client_for(
            "finnhub",
            config.finnhub,
            {"X-Finnhub-Token": key},
            auth_hint="check FINNHUB_API_KEY",
        )
        return FinnhubFundamentalsProvider(client, config.finnhub.base_url)
    return YFinanceFundamentalsProvider()
