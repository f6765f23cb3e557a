"""Hold the state of one rollup run: its clock, policy, statistics and KV values.

A value read through `Cache` is read from KV at most once per run, and staged
writes and deletions reach KV only in `flush` at the end of the run.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared_routing.jobs import is_accepted_time
from shared_routing.policy import Policy

from .rollup_keys import DAY, day_of, day_start
from .store import KeyValueStore, get_json, put_json

log = logging.getLogger("router")

# Aggregates of today and the two days before still take contributions; older
# days are closed into the running totals. A job finishing on a closed day
# (a delivery more than two days late) counts on the oldest open day.
OPEN_DAYS = 3


@dataclass
class Cache:
    """The values one run has read or will write, so each key is read once."""

    store: KeyValueStore
    values: dict[str, Any] = field(default_factory=dict)
    dirty: dict[str, int | None] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)

    async def get(self, key: str) -> Any:
        """Return the JSON value of `key`, reading it on first use."""
        if key not in self.values:
            self.values[key] = await get_json(self.store, key)
        return self.values[key]

    def set(self, key: str, value: Any, ttl: int | None) -> None:
        """Stage `value` for `key`; it is written once by `flush`."""
        self.values[key] = value
        self.dirty[key] = ttl
        self.deleted.discard(key)

    def delete(self, key: str) -> None:
        """Stage the deletion of `key`; it is deleted once by `flush`."""
        self.values[key] = None
        self.dirty.pop(key, None)
        self.deleted.add(key)

    async def flush(self) -> None:
        """Write every staged value and delete every staged deletion."""
        for key, ttl in self.dirty.items():
            await put_json(self.store, key, self.values[key], ttl)
        for key in sorted(self.deleted):
            await self.store.delete(key)
        self.dirty.clear()
        self.deleted.clear()


async def latest_decision(cache: Cache, sha: str | None) -> Mapping[str, Any] | None:
    """Return the newest routing decision stored for commit `sha`, or None."""
    if not sha:
        return None
    cache_key = f"decision-of:{sha}"
    if cache_key in cache.values:
        found: Mapping[str, Any] | None = cache.values[cache_key]
        return found
    page = await cache.store.list(f"decision:{sha}:", None, 20)
    best: Mapping[str, Any] | None = None
    for key in page.keys:
        value = await get_json(cache.store, key)
        if not isinstance(value, dict) or not is_accepted_time(value.get("decided_at")):
            continue
        if best is None or value["decided_at"] > best["decided_at"]:
            best = value
    cache.values[cache_key] = best
    return best


@dataclass
class Rollup:
    """One run of the rollup: its clock, policy and staged KV values."""

    cache: Cache
    policy: Policy
    now: float
    stats: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def first_open_day(self) -> str:
        """Return the oldest day whose aggregates still take contributions."""
        return day_of(self.now - (OPEN_DAYS - 1) * DAY)

    def open_day(self, ts: float | None) -> str:
        """Return the aggregate day for a time, clamped to the open days.

        A time before the oldest open day counts on that day, and a time after
        now (clock skew) counts today, because later days are not summed yet.
        """
        if ts is None or math.isnan(ts):
            return day_of(self.now)
        return day_of(min(max(ts, day_start(self.first_open_day)), self.now))

    def count(self, name: str, n: int = 1) -> None:
        """Add to one of this run's statistics."""
        self.stats[name] = self.stats.get(name, 0) + n

    def skip(self, key: str, record: str, reason: str) -> None:
        """Log and count a stored value the run cannot use; `record` is its kind.

        `reason` must not quote the stored value, because the log is no place
        for payload contents.
        """
        log.warning("rollup skipped %s: %s", key, reason)
        self.count("skipped")
        self.skipped[key] = record
