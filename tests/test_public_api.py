"""The top-level namespace: what the README uses, loaded lazily, nothing more."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

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


SRC = Path(__file__).parents[1] / "src"


def _modules() -> list[str]:
    names = []
    for path in (SRC / "stockagents").rglob("*.py"):
        parts = path.relative_to(SRC).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_every_private_module_is_guarded_by_an_import_contract() -> None:
    """A module whose name starts with ``_`` is imported only inside its package: an
    import-linter contract forbids it to every module outside (``make layers`` checks
    the imports; this checks that no private module or outside module was left out)."""
    contracts = tomllib.loads((SRC.parent / "pyproject.toml").read_text())["tool"]["importlinter"]
    forbidding = [c for c in contracts["contracts"] if c["type"] == "forbidden"]
    modules = _modules()
    private = [m for m in modules if m.rsplit(".", 1)[-1].startswith("_")]
    assert "stockagents.llm._decoding" in private
    for module in private:
        owner = module.rsplit(".", 1)[0]
        guards = [c for c in forbidding if module in c["forbidden_modules"]]
        assert guards, f"{module}: no import-linter contract forbids it outside {owner}"
        outside = [m for m in modules if not _within(m, owner) and m != "stockagents"]
        sources = [
            (s, c.get("as_packages", "True") == "True") for c in guards for s in c["source_modules"]
        ]
        unguarded = [
            m
            for m in outside
            if not any(_within(m, s) if whole else m == s for s, whole in sources)
        ]
        assert not unguarded, f"{module} may be imported from {unguarded}"
        assert not [s for s, _ in sources if _within(s, owner)], f"{module}: a source inside"


def test_private_modules_have_no_public_list() -> None:
    """``__all__`` is the public surface, so private modules do not declare one."""
    for module in _modules():
        if module.rsplit(".", 1)[-1].startswith("_"):
            path = SRC / (module.replace(".", "/") + ".py")
            assert "\n__all__" not in path.read_text(), module
