"""Fixtures of the bad-input suite: a fresh scratch layout per case, run as the working
directory, and ``check(case)`` that runs a CLI case and applies the shared contract
(``tests.hardening.support``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hardening.support import CliCase, RunCase, Scratch, assert_clean, run_cli


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Scratch:
    layout = Scratch(tmp_path).build()
    monkeypatch.chdir(layout.work)  # no .env, and relative outputs land in the scratch
    monkeypatch.setenv("COLUMNS", "200")  # rich and click wrap nothing we check
    monkeypatch.setenv("NO_COLOR", "1")
    for name in ("STOCKAGENTS_DEBUG", "STOCKAGENTS_API_KEY", "STOCKAGENTS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # a model path misread as a hub id stays local

    import uvicorn

    def no_server(*args: object, **kwargs: object) -> None:  # a case must fail before this
        raise AssertionError("uvicorn.run reached: the bad option was accepted")

    monkeypatch.setattr(uvicorn, "run", no_server)
    return layout


@pytest.fixture
def check(scratch: Scratch, capsys: pytest.CaptureFixture[str]) -> RunCase:
    """Write the case's files, run its command line, and check the contract."""

    def run(case: CliCase) -> None:
        scratch.write(case.files)
        scratch.snapshot = scratch.take_snapshot()
        argv = tuple(scratch.fill(a) for a in case.argv)
        assert_clean(run_cli(capsys, argv), case, scratch)

    return run
