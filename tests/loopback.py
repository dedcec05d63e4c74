"""Real HTTP servers on 127.0.0.1 for the tests of code that talks to a service: the one
way the fake APIs (``fake_api``, ``fake_data_api``, the Alpaca fake) and the webhook
receivers are started and stopped.

``serving(handler)`` runs a ``BaseHTTPRequestHandler`` class on a free loopback port in a
thread for the length of a ``with`` block and yields the port. ``WebhookReceiver`` is a
JSON-POST endpoint that answers a scripted list of statuses, then 200, and keeps what it
was sent.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["WebhookReceiver", "serving"]


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[int]:
    """``handler`` served on 127.0.0.1 for the block; yields the port. Each request runs
    in its own daemon thread, so a handler left sleeping does not hold the shutdown."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
    )
    thread.start()
    try:
        yield int(httpd.server_address[1])
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


class WebhookReceiver:
    """A webhook: each POST's JSON body and content type are kept; the answer is the next
    of ``statuses`` (then 200), with an empty body."""

    def __init__(self, statuses: list[int], port: int = 0, path: str = "/hook") -> None:
        self.statuses = list(statuses)
        self.bodies: list[dict[str, Any]] = []
        self.types: list[str] = []
        self.url = f"http://127.0.0.1:{port}{path}"

    def handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.bodies.append(json.loads(body))
                receiver.types.append(self.headers["Content-Type"])
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    @classmethod
    @contextmanager
    def running(cls, statuses: list[int]) -> Iterator[WebhookReceiver]:
        """A receiver on its own loopback port for the block."""
        receiver = cls(statuses)
        with serving(receiver.handler()) as port:
            receiver.url = f"http://127.0.0.1:{port}/hook"
            yield receiver
