"""Build, parse and list the rollup's KV keys, and map times to UTC days and buckets.

A delivery key carries its 5-minute bucket right after the `ev:` prefix, so the
rollup lists new deliveries hour by hour. The table of keys, with what each one
contains and how long it lives, is in docs/metrics.md.
"""

from __future__ import annotations

import calendar
import math
import time
from dataclasses import dataclass
from datetime import date, timedelta

from .store import KeyValueStore

DAY = 86400
BUCKET_SECONDS = 300
EVENT_TTL_SECONDS = 7 * DAY
BUILD_TTL_SECONDS = 30 * DAY
INDEX_TTL_SECONDS = 32 * DAY
SCAN_TTL_SECONDS = 30 * DAY

SCAN_KEY = "rollup:scan"
CLOSED_KEY = "rollup:closed"
SNAPSHOT_KEY = "metrics:current"
DELIVERIES = "deliveries"
BUILDS = "builds"
SKIPPED = "skipped"
NO_ENTITY = "-"
_EPOCH_DATE = date(1970, 1, 1)


def day_of(ts: float) -> str:
    """Return the UTC day of `ts` as YYYY-MM-DD.

    Computed with date arithmetic, not `time.gmtime`, because the gmtime of
    Pyodide 314.0.7 returns a negative day of year for years 0 to 2 (at least),
    and `strftime` then raises. Raises ValueError outside the years 1 to 9999.
    """
    try:
        return (_EPOCH_DATE + timedelta(days=math.floor(ts / DAY))).isoformat()
    except (OverflowError, ValueError):
        raise ValueError(f"time {ts!r} is outside the years 1 to 9999") from None


def day_start(day: str) -> float:
    """Return the epoch time at which the UTC day `day` (YYYY-MM-DD) begins."""
    return float(calendar.timegm(time.strptime(day, "%Y-%m-%d")))


def bucket_of(ts: float) -> str:
    """Return the 5-minute bucket of `ts` as YYYYMMDDHHMM, UTC."""
    floored = int(ts) - int(ts) % BUCKET_SECONDS
    return time.strftime("%Y%m%d%H%M", time.gmtime(floored))


def bucket_time(bucket: str) -> float:
    """Return the epoch time at which a YYYYMMDDHHMM bucket begins."""
    return float(calendar.timegm(time.strptime(bucket, "%Y%m%d%H%M")))


def event_key(
    received_at: float, event: str, result: str, entity: str, delivery_id: str
) -> str:
    """Return the key of one delivery: time bucket first, so cron lists by hour."""
    return f"ev:{bucket_of(received_at)}:{event}:{result}:{entity}:{delivery_id}"


@dataclass(frozen=True)
class EventKey:
    """The parts of a delivery key."""

    key: str
    bucket: str
    event: str
    result: str
    entity: str
    delivery: str


def parse_event_key(key: str) -> EventKey | None:
    """Split a delivery key into its parts, or None when it is not one."""
    parts = key.split(":", 5)
    if len(parts) != 6 or parts[0] != "ev" or len(parts[1]) != 12:
        return None
    return EventKey(key, *parts[1:])


def build_key(entity: str) -> str:
    """Return the key of a build record."""
    return f"build:{entity}"


def index_key(day: str) -> str:
    """Return the key of the list of builds first seen on `day`."""
    return f"builds:{day}"


def agg_key(day: str, section: str) -> str:
    """Return the key of one daily aggregate: a pool's jobs, deliveries or builds."""
    return f"agg:{day}:{section}"


def pool_section(pool: str) -> str:
    """Return the aggregate section name of a pool."""
    return f"pool:{pool}"


async def list_event_keys(store: KeyValueStore, start: float, now: float) -> list[str]:
    """List delivery keys from the bucket of `start` up to `now`, hour by hour."""
    keys: list[str] = []
    first = bucket_of(start)
    hour = int(start) - int(start) % 3600
    while hour <= now:
        prefix = "ev:" + time.strftime("%Y%m%d%H", time.gmtime(hour))
        cursor: str | None = None
        while True:
            page = await store.list(prefix, cursor)
            keys.extend(k for k in page.keys if k[3:15] >= first)
            if page.cursor is None:
                break
            cursor = page.cursor
        hour += 3600
    return keys
