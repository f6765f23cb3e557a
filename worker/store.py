"""Key-value storage interface and the JSON helpers the handlers use on it.

In production the store is the Workers KV namespace `BUILD_STATE`; `entry.py`
adapts it to `KeyValueStore`. CPython tests use an in-memory implementation.
Workers KV is eventually consistent: a write can take about 60 s to reach other
locations. It also allows one write per second per key. So callers write one
key per entity and never read-modify-write a shared key on the request path.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class KeyPage:
    """One page of a key listing: key names and the cursor for the next page."""

    keys: tuple[str, ...]
    cursor: str | None


class KeyValueStore(Protocol):
    """The subset of Workers KV that the router uses."""

    async def get(self, key: str) -> str | None:
        """Return the stored text, or None when the key is absent."""
        ...

    async def put(self, key: str, value: str, ttl_seconds: int | None = None) -> None:
        """Store `value`; with `ttl_seconds` the key expires after that long."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the key; removing an absent key is not an error."""
        ...

    async def list(
        self, prefix: str, cursor: str | None = None, limit: int = 1000
    ) -> KeyPage:
        """List key names that start with `prefix`, in lexicographic order."""
        ...


# Workers KV rejects expirationTtl below 60 seconds.
MIN_TTL_SECONDS = 60


async def get_json(store: KeyValueStore, key: str) -> Any | None:
    """Return the JSON value stored at `key`, or None when absent or unreadable."""
    text = await store.get(key)
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


async def put_json(
    store: KeyValueStore, key: str, value: Any, ttl_seconds: int | None = None
) -> None:
    """Store `value` as compact JSON at `key`."""
    if ttl_seconds is not None:
        ttl_seconds = max(ttl_seconds, MIN_TTL_SECONDS)
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    await store.put(key, text, ttl_seconds)


async def list_all(store: KeyValueStore, prefix: str) -> list[str]:
    """Return every key under `prefix`, following cursors page by page."""
    keys: list[str] = []
    cursor: str | None = None
    while True:
        page = await store.list(prefix, cursor)
        keys.extend(page.keys)
        if page.cursor is None:
            return keys
        cursor = page.cursor
