"""A tiny HTTP client for the console tests: raw requests (any Host, any header) over real sockets."""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from typing import Any

from otel_trading.console import ConsoleServer


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def request(console: ConsoleServer, method: str, path: str, *, body: bytes | None = None,
            headers: dict[str, str] | None = None, timeout: float = 10.0) -> Answer:
    connection = http.client.HTTPConnection(console.host, console.port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


def get(console: ConsoleServer, path: str, **headers: str) -> Answer:
    return request(console, "GET", path, headers=headers)


def post(console: ConsoleServer, path: str, payload: Any, *, token: str | None = None,
         content_type: str = "application/json") -> Answer:
    headers = {"Content-Type": content_type}
    if token is not None:
        headers["X-Console-Token"] = token
    return request(console, "POST", path, body=json.dumps(payload).encode(), headers=headers)
