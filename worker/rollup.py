"""Run the cron rollup, folding new deliveries into build records and their aggregates.

The cron trigger is the only writer of everything here; the webhook path only
writes one immutable key per delivery (`event_key`). Each run lists the recent
delivery keys by hour, folds new observations into `build:` records, puts the
contribution of each finished attempt into the aggregate of its day and pool,
closes days that can no longer change, and stores one metrics snapshot.

Aggregates are maps keyed by attempt or delivery id, so putting the same
contribution in twice (a repeated run, a redelivery, a stale read of our own
earlier write) changes nothing: a count can be late but never double.
The KV layout is described in docs/metrics.md and named in `rollup_keys`. The
state of a run is in `rollup_state`, and the daily aggregates, the closing of
days and the snapshot are in `rollup_days`. This module re-exports the key names
and constants that callers read next to `run_rollup`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from shared_routing.aggregates import contribution_of
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
from shared_routing.policy import Policy

from .app import Services
from .rollup_days import DAILY_HISTORY_DAYS as DAILY_HISTORY_DAYS
from .rollup_days import close_days, count_deliveries, count_skipped, write_snapshot
from .rollup_keys import (
    BUCKET_SECONDS,
    BUILD_TTL_SECONDS,
    BUILDS,
    DAY,
    INDEX_TTL_SECONDS,
    NO_ENTITY,
    SCAN_KEY,
    SCAN_TTL_SECONDS,
    EventKey,
    agg_key,
    bucket_of,
    bucket_time,
    build_key,
    day_of,
    index_key,
    list_event_keys,
    parse_event_key,
    pool_section,
)
from .rollup_keys import CLOSED_KEY as CLOSED_KEY
from .rollup_keys import EVENT_TTL_SECONDS as EVENT_TTL_SECONDS
from .rollup_keys import SNAPSHOT_KEY as SNAPSHOT_KEY
from .rollup_keys import day_start as day_start
from .rollup_keys import event_key as event_key
from .rollup_state import Cache, Rollup, latest_decision
from .store import put_json

# Each run lists again the last 15 minutes before where the previous run
# stopped, because a new key can take up to about 60 s to show in KV listings.
RESCAN_SECONDS = 900
# Bounds the KV operations of one run (Workers allow 1000 per invocation);
# the rest waits for the next run.
MAX_NEW_KEYS_PER_RUN = 300
# Without a scan state (the first run), the rollup looks back one day.
FIRST_LOOKBACK_SECONDS = DAY


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
