"""Alerts: a verdict change becomes a log line, a row in the journal and, when
``monitor.webhook_url`` is set, a JSON POST.

The POST is retried ``webhook_retries`` times (429, 5xx, no answer) with a doubling
pause; another 4xx is not retried. Delivery never raises: what happened (``delivered
(200) after 1 attempt`` or ``failed after 4 attempts: 503``) is what the journal keeps,
so an unreachable webhook costs a line, not the day's run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import httpx

__all__ = ["Alert", "send_webhook"]

logger = logging.getLogger(__name__)

_RETRIED = {429, 500, 502, 503, 504}


class Alert(dict[str, Any]):
    """An alert's JSON body: ``kind``, ``release``, ``day``, ``previous``, ``verdict``,
    ``reasons``, ``metrics`` and ``message`` (one line)."""


def send_webhook(
    url: str,
    payload: Mapping[str, Any],
    *,
    retries: int = 3,
    timeout: float = 5.0,
    pause: float = 0.5,
    transport: httpx.BaseTransport | None = None,
) -> str:
    """POST ``payload`` as JSON to ``url``; how it went, as one line."""
    attempts = retries + 1
    problem = ""
    with httpx.Client(timeout=timeout, transport=transport) as client:
        for attempt in range(1, attempts + 1):
            try:
                response = client.post(url, json=dict(payload))
            except httpx.HTTPError as exc:
                problem = type(exc).__name__
            else:
                if response.is_success:
                    plural = "s" if attempt > 1 else ""
                    return f"delivered ({response.status_code}) after {attempt} attempt{plural}"
                problem = str(response.status_code)
                if response.status_code not in _RETRIED:
                    break
            if attempt < attempts:
                time.sleep(pause * 2 ** (attempt - 1))
    outcome = f"failed after {attempt} attempt{'s' if attempt > 1 else ''}: {problem}"
    logger.warning("webhook %s: %s", httpx.URL(url).host, outcome)
    return outcome
