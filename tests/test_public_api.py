"""The top-level namespace: what the README uses, loaded lazily, nothing more."""

from __future__ import annotations

import subprocess
import sys

import pytest

import stockagents


def test_every_exported_name_resolves() -> None:
    for name in stockagents.__all__:
        assert getattr(stockagents, name) is not None, name
    assert stockagents.SystemCoordinator.__name__ == "SystemCoordinator"
    assert issubclass(stockagents.UnknownSymbolError, stockagents.StockAgentsError)
    assert sorted(dir(stockagents)) == sorted(stockagents.__all__)


def test_unknown_names_are_attribute_errors() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'ScriptedBackend'"):
        stockagents.ScriptedBackend  # type: ignore[attr-defined]  # noqa: B018


def test_import_is_light_and_has_no_side_effects() -> None:
    code = (
        "import logging, sys; import stockagents; "
        "heavy = [m for m in ('torch', 'transformers', 'stockagents.orchestration', "
        "'stockagents.agents', 'pandas') if m in sys.modules]; "
        "print(heavy, logging.getLogger().handlers)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[] []"
