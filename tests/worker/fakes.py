"""In-memory stand-ins for the Worker's storage and outgoing HTTP, for unit tests."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from worker.app import Services
from worker.config import Config
from worker.outbound import OutboundError, OutboundResponse
from worker.store import KeyPage


@dataclass
class MemoryStore:
    """A KeyValueStore in a dict; records every operation and each key's TTL."""

    data: dict[str, str] = field(default_factory=dict)
    ttls: dict[str, int | None] = field(default_factory=dict)
    ops: Counter[str] = field(default_factory=Counter)
    page_size: int = 1000

    async def get(self, key: str) -> str | None:
        self.ops["get"] += 1
        return self.data.get(key)

    async def put(self, key: str, value: str, ttl_seconds: int | None = None) -> None:
        self.ops["put"] += 1
        self.data[key] = value
        self.ttls[key] = ttl_seconds

    async def delete(self, key: str) -> None:
        self.ops["delete"] += 1
        self.data.pop(key, None)
        self.ttls.pop(key, None)

    async def list(
        self, prefix: str, cursor: str | None = None, limit: int = 1000
    ) -> KeyPage:
        self.ops["list"] += 1
        keys = sorted(key for key in self.data if key.startswith(prefix))
        start = int(cursor) if cursor else 0
        end = start + min(limit, self.page_size)
        page = tuple(keys[start:end])
        return KeyPage(page, str(end) if end < len(keys) else None)

    def json(self, key: str) -> Any:
        """Return the decoded JSON stored at `key`; raise KeyError when absent."""
        return json.loads(self.data[key])

    def keys(self, prefix: str = "") -> list[str]:
        """Return the stored keys under `prefix`, sorted."""
        return sorted(key for key in self.data if key.startswith(prefix))

    def reset_counts(self) -> None:
        """Forget the operation counts, keeping the data."""
        self.ops.clear()


Responder = Callable[[str, str, Mapping[str, str], bytes | None], OutboundResponse]


@dataclass
class FakeHttp:
    """An HttpClient that builds responses with a function and records every request."""

    responder: Responder | None = None
    requests: list[tuple[str, str, dict[str, str], bytes | None]] = field(
        default_factory=list
    )

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        timeout: float = 10.0,
    ) -> OutboundResponse:
        self.requests.append((method, url, dict(headers or {}), body))
        if self.responder is None:
            raise OutboundError("no network in unit tests")
        return self.responder(method, url, headers or {}, body)


@dataclass
class Deferred:
    """Collects the work a handler defers, to run after the response."""

    pending: list[Awaitable[Any]] = field(default_factory=list)

    def __call__(self, work: Awaitable[Any]) -> None:
        self.pending.append(work)

    async def drain(self) -> None:
        """Run deferred work until none is left."""
        while self.pending:
            await self.pending.pop(0)


def make_services(
    store: MemoryStore | None = None,
    http: FakeHttp | None = None,
    now: float = 1_764_500_000.0,
    **config: Any,
) -> Services:
    """Return Services over in-memory fakes with a fixed clock."""
    settings = {"webhook_secrets": ("test-secret",), "api_token": "test-token"}
    settings.update(config)
    return Services(
        store=store or MemoryStore(),
        http=http or FakeHttp(),
        config=Config(**settings),
        clock=lambda: now,
        defer=Deferred(),
    )


def run(coroutine: Awaitable[Any]) -> Any:
    """Run a coroutine to completion in a new event loop."""

    async def wrapper() -> Any:
        return await coroutine

    return asyncio.run(wrapper())
