"""``core.redact``: every form of a configured key is masked in text, log records and
warnings; ordinary text is left alone."""

from __future__ import annotations

import base64
import doctest
import logging
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from stockagents.core import redact as redact_module
from stockagents.core.redact import (
    REDACTED,
    RedactingFilter,
    excerpt,
    install_log_redaction,
    redact,
    redact_url,
    register_secret,
)
from tests.leaks import BAD_KEY, encodings, forms, leaks, unredacted_logging

KEY_VARIABLES = (
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "FINNHUB_API_KEY",
    "NEWSAPI_KEY",
    "SERPER_API_KEY",
    "WANDB_API_KEY",
    "STOCKAGENTS_API_KEY",
)


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No key of the developer's, no .env; ``FINNHUB_API_KEY`` is ``BAD_KEY``."""
    for name in KEY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FINNHUB_API_KEY", BAD_KEY)


@pytest.fixture
def redacting() -> Iterator[None]:
    """``install_log_redaction`` for one test; the process is left as it was."""
    with unredacted_logging():
        install_log_redaction()
        yield


def test_doctests_pass() -> None:
    result = doctest.testmod(redact_module, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 8
    assert result.failed == 0


def test_every_form_of_a_configured_key_is_masked() -> None:
    assert len(forms(BAD_KEY)) == 7
    for name, form in encodings(BAD_KEY).items():
        text = f"upstream said: <{form}> ok"
        assert leaks(text, BAD_KEY), name  # the check itself sees the leak...
        assert leaks(redact(text), BAD_KEY) == [], name  # ...and redact removes it
        assert REDACTED in redact(text), name


def test_base64_inside_a_longer_encoding_is_masked() -> None:
    for user in ("", "u", "us", "use", "someone@example.com"):
        header = base64.b64encode(f"{user}:{BAD_KEY}".encode()).decode()
        assert leaks(redact(f"Authorization: Basic {header}"), BAD_KEY) == []
        blob = base64.b64encode(f'{{"x-finnhub-token": "{BAD_KEY}", "n": 1}}'.encode())
        assert leaks(redact(blob.decode()), BAD_KEY) == []


def test_keys_are_read_from_the_environment_and_dotenv_as_they_change(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FINNHUB_API_KEY", "first-key-1234")
    assert redact("a first-key-1234 b") == "a *** b"
    monkeypatch.setenv("FINNHUB_API_KEY", "another-key-777")
    assert redact("a another-key-777 b") == "a *** b"
    assert redact("a first-key-1234 b") == "a first-key-1234 b"  # no longer a secret
    (tmp_path / ".env").write_text("NEWSAPI_KEY=from-dotenv-31337\n")
    assert redact("a from-dotenv-31337 b") == "a *** b"
    monkeypatch.setenv("newsapi_key", "lower-case-name-555")  # read case-insensitively
    assert redact("lower-case-name-555") == REDACTED


def test_a_broken_dotenv_still_redacts_what_it_can(tmp_path: Path) -> None:
    (tmp_path / ".env").write_bytes(b"\xff\xfe not utf-8 \x00")
    register_secret("registered-key-4242")
    assert redact("registered-key-4242 and ?token=abcdef") == "*** and ?token=***"


def test_short_values_are_not_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERPER_API_KEY", "abc")
    register_secret("the")
    assert redact("the abc of it") == "the abc of it"


def test_credentials_after_their_names_are_masked_without_configuration() -> None:
    cases = {
        "GET /v2/everything?q=AAPL&apiKey=ffff0000&page=2": "GET /v2/everything?q=AAPL&apiKey=***&page=2",
        "https://x.example/a?token=t0k3n#frag": "https://x.example/a?token=***#frag",
        "/search?key=AIzaSy123&q=x": "/search?key=***&q=x",
        "Authorization: Bearer sk-live-abc": "Authorization: Bearer ***",
        "{'X-Finnhub-Token': 'cbu123'}": "{'X-Finnhub-Token': '***'}",
        '"x-api-key": "k-98765"': '"x-api-key": "***"',
        "api_key=abc123def": "api_key=***",
    }
    for text, expected in cases.items():
        assert redact(text) == expected


def test_ordinary_text_is_left_alone() -> None:
    for text in (
        "finnhub: HTTP 401 (key rejected) from https://finnhub.example/api/v1/company-news; "
        "check FINNHUB_API_KEY",
        "max_new_tokens=256, tokens: 12, cache key: 9f86d08",
        "https://finnhub.example/api/news?id=5b1e2d0c7a9f",
        "",
    ):
        assert redact(text) == text


def test_redact_url_drops_user_info_and_key_values() -> None:
    url = f"https://me:{quote(BAD_KEY, safe='')}@api.example/v1/news?symbol=AAPL&token=zzz999"
    assert redact_url(url) == "https://api.example/v1/news?symbol=AAPL&token=***"
    assert redact_url("http://127.0.0.1:8080/finnhub") == "http://127.0.0.1:8080/finnhub"


def test_excerpt_redacts_before_it_cuts() -> None:
    text = "x" * 110 + f" {BAD_KEY} tail"
    cut = excerpt(text)
    assert len(cut) <= 120
    assert leaks(cut, BAD_KEY) == []
    assert BAD_KEY[:8] not in cut  # not half a key either
    assert excerpt("one\n  two\tthree") == "one two three"


@pytest.mark.usefixtures("redacting")
def test_log_records_are_redacted_from_any_logger(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("some.library")
    with caplog.at_level(logging.INFO):
        logger.info("plain %s in the message", BAD_KEY)
        logger.warning(f"formatted in: {base64.b64encode(BAD_KEY.encode()).decode()}")
        try:
            raise RuntimeError(f"upstream echoed {quote(BAD_KEY, safe='')}")
        except RuntimeError:
            logger.exception("request failed")
    assert len(caplog.records) == 3
    assert leaks(caplog.text, BAD_KEY) == []
    assert "RuntimeError: upstream echoed ***" in caplog.text  # the traceback, redacted
    assert "plain *** in the message" in caplog.text


@pytest.mark.usefixtures("redacting")
def test_arguments_are_kept_when_they_can_be(caplog: pytest.LogCaptureFixture) -> None:
    # uvicorn's access formatter unpacks record.args: they must stay a tuple
    with caplog.at_level(logging.INFO, logger="uvicorn.access"):
        logging.getLogger("uvicorn.access").info(
            '%s - "%s %s HTTP/%s" %d', "127.0.0.1", "GET", f"/x?token={BAD_KEY}", "1.1", 200
        )
    (record,) = caplog.records
    assert record.args == ("127.0.0.1", "GET", "/x?token=***", "1.1", 200)
    assert record.getMessage() == '127.0.0.1 - "GET /x?token=*** HTTP/1.1" 200'


def test_install_is_idempotent() -> None:
    with unredacted_logging():
        install_log_redaction()
        factory, formatter = logging.getLogRecordFactory(), warnings.formatwarning
        install_log_redaction()
        assert (logging.getLogRecordFactory(), warnings.formatwarning) == (factory, formatter)
        assert factory.__wrapped__ is logging.LogRecord  # type: ignore[attr-defined]
    assert logging.getLogRecordFactory() is not factory  # restored by the helper


@pytest.mark.usefixtures("redacting")
def test_warnings_are_redacted() -> None:
    # what both the default showwarning and logging.captureWarnings print
    text = warnings.formatwarning(
        UserWarning(f"the server answered {quote(BAD_KEY, safe='')}"), UserWarning, "x.py", 3
    )
    assert text == "x.py:3: UserWarning: the server answered ***\n"


def test_redacting_filter_for_a_handler_of_ones_own() -> None:
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "key %s", (BAD_KEY,), None)
    try:
        raise ValueError(BAD_KEY)
    except ValueError:
        record.exc_info = sys.exc_info()
    assert RedactingFilter().filter(record) is True
    text = logging.Formatter().format(record)
    assert text.startswith("key ***")
    assert "ValueError: ***" in text
    assert leaks(text, BAD_KEY) == []
