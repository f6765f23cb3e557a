"""Plain request and response values that cross between the runtime and handlers.

`entry.py` converts the runtime's JS objects into these, so every handler can be
driven from CPython tests without the `workers` SDK.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

JSON_CONTENT_TYPE = "application/json; charset=utf-8"
PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True)
class Request:
    """An incoming HTTP request with lower-cased header names and the raw body."""

    method: str
    path: str
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """Return the header `name` (any case), or None when it is absent."""
        return self.headers.get(name.lower())


@dataclass(frozen=True)
class Response:
    """An outgoing HTTP response."""

    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        """Decode the body as JSON; for tests and logs."""
        return json.loads(self.body)


def json_response(
    status: int, data: Any, headers: Mapping[str, str] | None = None
) -> Response:
    """Build a JSON response with `data` serialised compactly and sorted keys."""
    body = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    merged = {"content-type": JSON_CONTENT_TYPE}
    if headers:
        merged.update(headers)
    return Response(status, body, merged)


def text_response(
    status: int, text: str, content_type: str = "text/plain; charset=utf-8"
) -> Response:
    """Build a plain-text response."""
    return Response(status, text.encode(), {"content-type": content_type})
