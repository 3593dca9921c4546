"""A real HTTP server on 127.0.0.1 that plays a platform's API in tests.

Tests register routes and read back the requests the code under test made::

    def test_reply(platform_server):
        platform_server.route("POST", "/2/tweets", 201, {"data": {"id": "1", "text": "hi"}})
        ... channel.base_url = platform_server.url ...
        assert platform_server.requests[0].json()["text"] == "hi"

A route's answer may be a list (one per call, the last repeated) to script 500-then-200 or 429s.
Import the fixture into a test module: ``from tests.platform_server import platform_server``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.loopback import LoopbackServer


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode())


@dataclass
class Answer:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


Responder = Answer | Callable[[Recorded], Answer]


class PlatformServer(LoopbackServer):
    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], list[Responder]] = {}
        self.calls: dict[tuple[str, str], int] = {}
        self.requests: list[Recorded] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                record = Recorded(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length) if length else b"",
                )
                answer = server._answer(record)
                if answer.delay:
                    threading.Event().wait(answer.delay)
                body = answer.body
                if not isinstance(body, (bytes, str)):
                    body = json.dumps(body)
                    answer.headers.setdefault("Content-Type", "application/json")
                payload = body.encode() if isinstance(body, str) else body
                try:
                    self.send_response(answer.status)
                    for key, value in answer.headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self.serve(Handler)

    def route(
        self,
        method: str,
        path: str,
        status: int | list[Responder] | Responder = 200,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer ``method path`` with ``status``/``body``, or a list of answers in turn."""
        if isinstance(status, list):
            answers = status
        elif isinstance(status, int):
            answers = [Answer(status, body, dict(headers or {}))]
        else:
            answers = [status]
        with self.lock:
            self.routes[(method.upper(), path)] = answers
            self.calls[(method.upper(), path)] = 0

    def _answer(self, record: Recorded) -> Answer:
        key = (record.method, record.path)
        with self.lock:
            self.requests.append(record)
            answers = self.routes.get(key)
            if not answers:
                return Answer(404, {"error": f"no route {record.method} {record.path}"})
            index = min(self.calls[key], len(answers) - 1)
            self.calls[key] += 1
        answer = answers[index]
        if callable(answer):
            answer = answer(record)
        return Answer(answer.status, answer.body, dict(answer.headers), answer.delay)

    def requests_to(self, method: str, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method.upper() and r.path == path]


@pytest.fixture
def platform_server():
    server = PlatformServer().start()
    yield server
    server.stop()
