"""Roll tracked deliveries up into build records, daily aggregates and metrics.

The cron trigger is the only writer of everything here; the webhook path only
writes one immutable key per delivery (`event_key`). Each run lists the recent
delivery keys by hour, folds new observations into `build:` records, puts the
contribution of each finished attempt into the aggregate of its day and pool,
closes days that can no longer change, and stores one metrics snapshot.

Aggregates are maps keyed by attempt or delivery id, so putting the same
contribution in twice (a repeated run, a redelivery, a stale read of our own
earlier write) changes nothing: a count can be late but never double.
The KV layout is described in docs/metrics.md.
"""

from __future__ import annotations

import calendar
import json
import logging
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

from shared_routing.jobs import Observation, is_accepted_time, rejected_time_field
from shared_routing.lifecycle import (
    AttemptState,
    EntityRecord,
    add_observation,
    observation_from_dict,
    record_from_dict,
    record_to_dict,
    state_to_dict,
)
from shared_routing.metrics import (
    Contribution,
    MetricsSnapshot,
    PoolTotals,
    add_counts,
    contribution_of,
    merge_totals,
    pool_infos,
    snapshot_to_dict,
)
from shared_routing.policy import Policy

from .app import Services
from .store import KeyValueStore, get_json, put_json

log = logging.getLogger("router")

DAY = 86400
BUCKET_SECONDS = 300
EVENT_TTL_SECONDS = 7 * DAY
BUILD_TTL_SECONDS = 30 * DAY
INDEX_TTL_SECONDS = 32 * DAY
SCAN_TTL_SECONDS = 30 * DAY
# Each run lists again the last 15 minutes before where the previous run
# stopped, because a new key can take up to about 60 s to show in KV listings.
RESCAN_SECONDS = 900
# Aggregates of today and the two days before still take contributions; older
# days are closed into the running totals. A job finishing on a closed day
# (a delivery more than two days late) counts on the oldest open day.
OPEN_DAYS = 3
# Bounds the KV operations of one run (Workers allow 1000 per invocation);
# the rest waits for the next run.
MAX_NEW_KEYS_PER_RUN = 300
# Without a scan state (the first run), the rollup looks back one day.
FIRST_LOOKBACK_SECONDS = DAY
DAILY_HISTORY_DAYS = 400

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


async def run_rollup(
    services: Services, policy: Policy, now: float | None = None
) -> dict[str, int]:
    """Run one rollup with the active `policy`; return its statistics."""
    now = services.clock() if now is None else now
    job = Rollup(Cache(services.store), policy, now)
    scan = await job.cache.get(SCAN_KEY) or {}
    recent: dict[str, str] = dict(scan.get("recent", {}))
    through = scan.get("through")
    start = (
        (float(through) - RESCAN_SECONDS) if through else now - FIRST_LOOKBACK_SECONDS
    )
    listed = [k for k in await list_event_keys(services.store, start, now)]
    new = [p for p in map(parse_event_key, listed) if p and p.key not in recent]
    new = new[:MAX_NEW_KEYS_PER_RUN]
    job.count("listed", len(listed))
    job.count("new", len(new))
    await count_deliveries(job, new)
    await fold_new_events(job, new)
    await count_skipped(job)
    await close_days(job)
    await write_snapshot(job)
    await job.cache.flush()
    last = max([bucket_time(p.bucket) for p in new], default=None)
    if len(new) < MAX_NEW_KEYS_PER_RUN or last is None:
        last = now - now % BUCKET_SECONDS
    keep_from = bucket_of(last - RESCAN_SECONDS)
    recent.update({p.key: p.bucket for p in new})
    recent = {k: b for k, b in recent.items() if b >= keep_from}
    await put_json(
        services.store, SCAN_KEY, {"through": last, "recent": recent}, SCAN_TTL_SECONDS
    )
    return job.stats


async def count_deliveries(job: Rollup, keys: Iterable[EventKey]) -> None:
    """Put every new delivery into the delivery set of the day it arrived."""
    for parsed in keys:
        day = job.open_day(bucket_time(parsed.bucket))
        key = agg_key(day, DELIVERIES)
        agg = await job.cache.get(key) or {"ids": {}}
        if "ids" not in agg:
            continue
        label = f"{parsed.event}|{parsed.result}"
        if agg["ids"].get(parsed.delivery) != label:
            agg["ids"][parsed.delivery] = label
            job.cache.set(key, agg, None)


async def count_skipped(job: Rollup) -> None:
    """Put the values this run skipped into today's set of skipped values.

    The set is keyed by stored key, so a value skipped again counts once.
    """
    if not job.skipped:
        return
    key = agg_key(day_of(job.now), SKIPPED)
    agg = await job.cache.get(key) or {"ids": {}}
    if "ids" not in agg:
        return
    agg["ids"].update(job.skipped)
    job.cache.set(key, agg, None)


async def fold_new_events(job: Rollup, keys: Iterable[EventKey]) -> None:
    """Fold new observations into their build records and the aggregates.

    A build whose fold fails on a stored value the checks did not catch is
    skipped and counted, so the other builds of the run still count.
    """
    by_entity: dict[str, list[EventKey]] = {}
    for parsed in keys:
        if parsed.entity != NO_ENTITY and parsed.result == "tracked":
            by_entity.setdefault(parsed.entity, []).append(parsed)
    for entity, entity_keys in by_entity.items():
        try:
            await fold_entity(job, entity, entity_keys)
        except (
            ArithmeticError,
            AttributeError,
            LookupError,
            TypeError,
            ValueError,
        ) as error:
            job.skip(build_key(entity), "build", f"fold failed: {type(error).__name__}")


async def fold_entity(job: Rollup, entity: str, keys: Iterable[EventKey]) -> None:
    """Fold the new observations of one build and store what changed."""
    stored = await job.cache.get(build_key(entity))
    record, changed = _record(job, entity, stored)

    received: list[float] = []
    for parsed in keys:
        if record is not None and record.has(parsed.delivery):
            continue
        value = await job.cache.store.get(parsed.key)
        job.count("event_reads")
        if value is None:
            continue  # expired or not yet readable
        try:
            obs, at = read_event(value)
        except ValueError as error:
            job.skip(parsed.key, "delivery", str(error))
            continue
        if obs.entity != entity:
            job.skip(parsed.key, "delivery", "observation of another build")
            continue
        record = add_observation(record, parsed.delivery, obs)
        if at is not None:
            received.append(at)
        changed = True
    if record is None or not changed:
        return

    job.count("folded")
    meta = dict(stored.get("meta", {})) if isinstance(stored, dict) else {}
    await place_contributions(job, record, meta)
    if not record.attempts:
        # Every observation was dropped: the build is forgotten.
        await _remove_from_index(job, entity, meta.get("index_day"))
        job.cache.delete(build_key(entity))
        return
    await update_index(job, record, meta, min(received, default=None))
    job.cache.set(
        build_key(entity),
        {**record_to_dict(record), "meta": meta},
        BUILD_TTL_SECONDS,
    )


def read_event(value: str) -> tuple[Observation, float | None]:
    """Return the observation stored at a delivery key and its receive time.

    Raises ValueError when the value is not a stored observation or one of its
    times is outside the accepted window. The message quotes no stored content.
    """
    try:
        data = json.loads(value)
        obs = observation_from_dict(data["obs"])
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"not a stored observation ({type(error).__name__})") from None
    name = rejected_time_field(obs)
    if name is not None:
        raise ValueError(f"{name} is not a time from 2018 to 2099")
    received = data.get("at")
    return obs, float(received) if is_accepted_time(received) else None


def _record(job: Rollup, entity: str, stored: Any) -> tuple[EntityRecord | None, bool]:
    """Return the stored record of `entity` and whether observations were dropped.

    Observations with a time outside the accepted window are dropped, because
    records stored before the parser checked times can hold them.
    """
    if not isinstance(stored, dict):
        return None, False
    key = build_key(entity)
    try:
        record = record_from_dict(stored)
    except ValueError:
        job.skip(key, "build", "not a stored build record")
        return None, False
    attempts: dict[int, dict[str, Observation]] = {}
    dropped = False
    for number, seen in record.attempts.items():
        for delivery, obs in seen.items():
            name = rejected_time_field(obs)
            if name is None:
                attempts.setdefault(number, {})[delivery] = obs
                continue
            job.skip(
                f"{key}/{delivery}", "build", f"{name} is not a time from 2018 to 2099"
            )
            dropped = True
    return replace(record, attempts=attempts), dropped


async def place_contributions(
    job: Rollup, record: EntityRecord, meta: dict[str, Any]
) -> None:
    """Put each finished attempt into its day's aggregate, moving it if it changed.

    Every contribution is computed before an aggregate changes, so an error
    leaves the aggregates as they were. An attempt that is no longer finished
    (its completion was dropped as invalid) leaves its aggregate.
    """
    placed: dict[str, tuple[str, Any]] = {}
    pools: dict[str, list[Any]] = {}
    for state in record.states():
        if state.conclusion is not None:
            placed[str(state.attempt)] = await _contribution(job, record, state, pools)
    counted: dict[str, str] = dict(meta.get("counted", {}))
    for attempt, old in list(counted.items()):
        if attempt not in placed or placed[attempt][0] != old:
            await _remove_member(job, old, f"{record.entity}#{attempt}")
            del counted[attempt]
    for attempt, (key, value) in placed.items():
        await _put_member(job, key, f"{record.entity}#{attempt}", value)
        counted[attempt] = key
    meta["counted"] = counted
    if pools or "pools" in meta:
        meta["pools"] = pools


async def _contribution(
    job: Rollup, record: EntityRecord, state: AttemptState, pools: dict[str, list[Any]]
) -> tuple[str, Any]:
    """Return the aggregate key and value of a finished attempt.

    For a job, also set its pool, routed pool and cost in `pools`.
    """
    day = job.open_day(state.completed_at)
    if record.kind != "job":
        return agg_key(day, BUILDS), f"{record.kind}|{state.conclusion}"
    decision = await latest_decision(job.cache, state.sha)
    item = contribution_of(state, job.policy, decision)
    pools[str(state.attempt)] = [item.pool, item.routed_pool, item.cost_micros]
    return agg_key(day, pool_section(item.pool)), item.to_dict()


async def _put_member(job: Rollup, key: str, member: str, value: Any) -> None:
    agg = await job.cache.get(key) or {"ids": {}}
    if "ids" not in agg:
        # A closed day; `open_day` never returns one, so this is a stale key.
        return
    if agg["ids"].get(member) != value:
        agg["ids"][member] = value
        job.cache.set(key, agg, None)
        job.count("contributions")


async def _remove_member(job: Rollup, key: str, member: str) -> None:
    agg = await job.cache.get(key)
    if isinstance(agg, dict) and member in agg.get("ids", {}):
        del agg["ids"][member]
        job.cache.set(key, agg, None)


def build_summary(record: EntityRecord, meta: Mapping[str, Any]) -> dict[str, Any]:
    """Return the API form of a build: its newest attempt and how many there are."""
    state = record.latest()
    pools = meta.get("pools", {}).get(str(state.attempt))
    summary = {
        "id": record.entity,
        "kind": record.kind,
        "repository": record.repository,
        "name": state.name,
        "attempt": state.attempt,
        "attempts": len(record.attempts),
        "status": state.status,
        "conclusion": state.conclusion,
        "sha": state.sha,
        "ref": state.ref,
        "labels": list(state.labels),
        "runner_name": state.runner_name,
        "created_at": state.created_at,
        "started_at": state.started_at,
        "completed_at": state.completed_at,
        "duration_seconds": state.duration_seconds,
        "queue_seconds": state.queue_seconds,
        "pool": pools[0] if pools else None,
        "routed_pool": pools[1] if pools else None,
        "fallback": bool(pools and pools[1]),
        "estimated_cost": pools[2] / 1e6 if pools else None,
        "first_seen": meta.get("first_seen"),
    }
    return summary


async def update_index(
    job: Rollup, record: EntityRecord, meta: dict[str, Any], received: float | None
) -> None:
    """Refresh the build's entry in the index of the day it was first seen.

    `first_seen` is the earliest time the Worker received a delivery of the
    build, and `received` is the earliest among the observations just folded.
    When no stored value has a valid receive time, the rollup's time is used.
    A build that turns out to be first seen on an earlier day moves there.
    """
    times = [t for t in (meta.get("first_seen"), received) if is_accepted_time(t)]
    meta["first_seen"] = min(times) if times else job.now
    day = day_of(meta["first_seen"])
    if meta.get("index_day") != day:
        await _remove_from_index(job, record.entity, meta.get("index_day"))
    meta["index_day"] = day
    key = index_key(day)
    index = await job.cache.get(key)
    if not isinstance(index, dict):
        index = {}
    index[record.entity] = build_summary(record, meta)
    job.cache.set(key, index, INDEX_TTL_SECONDS)


async def _remove_from_index(job: Rollup, entity: str, day: Any) -> None:
    if not isinstance(day, str):
        return
    index = await job.cache.get(index_key(day))
    if isinstance(index, dict) and index.pop(entity, None) is not None:
        job.cache.set(index_key(day), index, INDEX_TTL_SECONDS)


def build_detail(stored: Mapping[str, Any]) -> dict[str, Any]:
    """Return the API form of one stored build record with every attempt."""
    record = record_from_dict(stored)
    meta = stored.get("meta", {})
    detail = build_summary(record, meta)
    detail["attempts"] = [
        {
            **state_to_dict(state),
            "pool": (meta.get("pools", {}).get(str(state.attempt)) or [None])[0],
        }
        for state in record.states()
    ]
    return detail


def totals_of_agg(
    agg: Any, section: str
) -> tuple[dict[str, PoolTotals], dict[str, int]]:
    """Return what one daily aggregate adds: pool totals, or counts by label."""
    if not isinstance(agg, dict):
        return {}, {}
    if section.startswith("pool:"):
        pool = section[5:]
        if "totals" in agg:
            return {pool: PoolTotals.from_dict(agg["totals"])}, {}
        totals = PoolTotals()
        for value in agg.get("ids", {}).values():
            totals.add(Contribution.from_dict(value))
        return {pool: totals}, {}
    if "counts" in agg:
        return {}, {str(k): int(v) for k, v in agg["counts"].items()}
    counts: dict[str, int] = {}
    for label in agg.get("ids", {}).values():
        counts[label] = counts.get(label, 0) + 1
    return {}, counts


@dataclass
class DayTotals:
    """The sum of one day's aggregates."""

    pools: dict[str, PoolTotals] = field(default_factory=dict)
    deliveries: dict[str, int] = field(default_factory=dict)
    builds: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)

    def merge(self, other: DayTotals) -> None:
        """Add `other` to these totals."""
        merge_totals(self.pools, other.pools)
        add_counts(self.deliveries, other.deliveries)
        add_counts(self.builds, other.builds)
        add_counts(self.skipped, other.skipped)

    def counts_of(self, section: str) -> dict[str, int]:
        """Return the label counts that an aggregate section adds to."""
        if section == BUILDS:
            return self.builds
        if section == SKIPPED:
            return self.skipped
        return self.deliveries

    def daily_costs(self) -> dict[str, dict[str, int]]:
        """Return the per-pool figures `/api/costs` reports for one day."""
        return {
            pool: {
                "jobs": t.jobs,
                "billed_minutes": t.billed_minutes,
                "cost_micros": t.cost_micros,
                "baseline_micros": t.baseline_micros,
                "fallbacks": sum(t.fallbacks.values()),
            }
            for pool, t in sorted(self.pools.items())
        }


async def day_totals(job: Rollup, day: str) -> tuple[DayTotals, dict[str, Any]]:
    """Read every aggregate of `day`; return their sum and the raw values by key."""
    totals = DayTotals()
    raw: dict[str, Any] = {}
    keys = {k for k in job.cache.values if k.startswith(f"agg:{day}:")}
    cursor: str | None = None
    while True:
        page = await job.cache.store.list(f"agg:{day}:", cursor)
        keys.update(page.keys)
        if page.cursor is None:
            break
        cursor = page.cursor
    for key in sorted(keys):
        section = key.split(":", 2)[2]
        raw[key] = agg = await job.cache.get(key)
        pools, counts = totals_of_agg(agg, section)
        merge_totals(totals.pools, pools)
        add_counts(totals.counts_of(section), counts)
    return totals, raw


async def close_days(job: Rollup) -> None:
    """Close the days that left the open window into the running totals."""
    closed = await job.cache.get(CLOSED_KEY) or {}
    first_open = job.first_open_day
    through = closed.get("through") or day_of(day_start(first_open) - DAY)
    day = day_of(day_start(through) + DAY)
    state = _closed_totals(closed)
    daily: dict[str, Any] = dict(closed.get("daily", {}))
    changed = False
    while day < first_open:
        totals, raw = await day_totals(job, day)
        for key, agg in raw.items():
            if isinstance(agg, dict) and "ids" in agg:
                section = key.split(":", 2)[2]
                job.cache.set(key, _compacted(agg, section), None)
        state.merge(totals)
        daily[day] = totals.daily_costs()
        through, changed = day, True
        day = day_of(day_start(day) + DAY)
    if changed or not closed:
        oldest = day_of(job.now - DAILY_HISTORY_DAYS * DAY)
        daily = {d: v for d, v in daily.items() if d >= oldest}
        job.cache.set(
            CLOSED_KEY,
            {**_closed_dict(state), "through": through, "daily": daily},
            None,
        )


def _compacted(agg: Mapping[str, Any], section: str) -> dict[str, Any]:
    pools, counts = totals_of_agg(agg, section)
    if section.startswith("pool:"):
        return {"totals": pools[section[5:]].to_dict()}
    return {"counts": counts}


def _closed_totals(closed: Mapping[str, Any]) -> DayTotals:
    return DayTotals(
        {str(p): PoolTotals.from_dict(t) for p, t in closed.get("pools", {}).items()},
        {str(k): int(v) for k, v in closed.get("deliveries", {}).items()},
        {str(k): int(v) for k, v in closed.get("builds", {}).items()},
        {str(k): int(v) for k, v in closed.get("skipped", {}).items()},
    )


def _closed_dict(state: DayTotals) -> dict[str, Any]:
    return {
        "pools": {p: t.to_dict() for p, t in sorted(state.pools.items())},
        "deliveries": dict(sorted(state.deliveries.items())),
        "builds": dict(sorted(state.builds.items())),
        "skipped": dict(sorted(state.skipped.items())),
    }


async def write_snapshot(job: Rollup) -> None:
    """Sum closed and open days into the one value `/metrics` and `/api/costs` read."""
    closed = await job.cache.get(CLOSED_KEY) or {}
    state = _closed_totals(closed)
    daily: dict[str, Any] = dict(closed.get("daily", {}))
    for offset in range(OPEN_DAYS - 1, -1, -1):
        day = day_of(job.now - offset * DAY)
        totals, _ = await day_totals(job, day)
        state.merge(totals)
        daily[day] = totals.daily_costs()
    snapshot = MetricsSnapshot(
        generated_at=job.now,
        pools=state.pools,
        deliveries=state.deliveries,
        builds=state.builds,
        pool_info=pool_infos(job.policy),
        skipped=state.skipped,
    )
    job.cache.set(SNAPSHOT_KEY, {**snapshot_to_dict(snapshot), "daily": daily}, None)
