"""The shared helpers in core: ``n/a`` formatting, optional-package checks, CPU threads."""

from __future__ import annotations

import importlib.util
import os

import pytest

from stockagents.core.errors import ProviderUnavailableError
from stockagents.core.formatting import format_or_na
from stockagents.core.packages import is_installed, missing_package, require_packages
from stockagents.core.threads import cpu_threads, use_all_cpus


@pytest.mark.parametrize(
    ("value", "spec", "shown"),
    [
        (0.12345, ".2f", "0.12"),
        (0.12345, "+.1%", "+12.3%"),
        (1234.5, ",.2f", "1,234.50"),
        (3, ".0f", "3"),
        (None, ".2f", "n/a"),
        (float("nan"), ".0%", "n/a"),
    ],
)
def test_format_or_na(value: float | None, spec: str, shown: str) -> None:
    assert format_or_na(value, spec) == shown


def test_missing_package_names_the_first_missing_one_and_the_fix() -> None:
    assert is_installed("json")
    assert not is_installed("no_such_package_here")
    assert missing_package("json", needed_by="x", install="pip install x") is None
    message = "the thing needs the no_such_package_here package: pip install it"
    assert (
        missing_package(
            "json", "no_such_package_here", needed_by="the thing", install="pip install it"
        )
        == message
    )
    with pytest.raises(ProviderUnavailableError) as caught:
        require_packages("no_such_package_here", needed_by="the thing", install="pip install it")
    assert str(caught.value) == message
    require_packages("json", "os", needed_by="the thing", install="pip install it")


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch not installed")
def test_use_all_cpus_sets_torch_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    before = torch.get_num_threads()
    try:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
        use_all_cpus()
        assert torch.get_num_threads() == max(1, len(os.sched_getaffinity(0)))
        monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the user's (or the test run's) choice
        use_all_cpus()
        assert torch.get_num_threads() == 1
        for junk in ("0", "two", ""):
            monkeypatch.setenv("OMP_NUM_THREADS", junk)
            assert cpu_threads() == max(1, len(os.sched_getaffinity(0)))
    finally:
        torch.set_num_threads(before)
