"""Shared fixtures: the real price sample, synthetic news/fundamentals files, builders."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stockagents.data.factory import DataSources
from stockagents.data.fundamentals import FileFundamentalsProvider, NoFundamentalsProvider
from stockagents.data.news import JsonlNewsProvider, NoNewsProvider
from stockagents.data.sample import SamplePriceProvider
from stockagents.orchestration import SystemCoordinator

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture
def sample_sources() -> DataSources:
    return DataSources(SamplePriceProvider(), NoNewsProvider(), NoFundamentalsProvider())


@pytest.fixture
def full_sources() -> DataSources:
    """Sample prices with the synthetic news and fundamentals fixtures."""
    return DataSources(
        SamplePriceProvider(),
        JsonlNewsProvider(FIXTURES / "news_aapl.jsonl"),
        FileFundamentalsProvider(FIXTURES / "fundamentals.json"),
    )


@pytest.fixture
def coordinator(sample_sources: DataSources) -> Iterator[SystemCoordinator]:
    with SystemCoordinator(sources=sample_sources) as coord:
        yield coord
