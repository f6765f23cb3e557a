"""Outgoing HTTP interface, used for the GitHub REST API."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class OutboundResponse:
    """The status, lower-cased headers and body of an outgoing request's reply."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


class OutboundError(Exception):
    """An outgoing request failed before a response arrived (refused, timed out)."""


class HttpClient(Protocol):
    """Send one HTTP request and return its response."""

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        timeout: float = 10.0,
    ) -> OutboundResponse:
        """Send the request; raise `OutboundError` when no response arrives in time."""
        ...
