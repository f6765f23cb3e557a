"""Count into the daily aggregates, close old days, and sum them into the snapshot.

While a day is open its aggregates are maps keyed by delivery, attempt or stored
key, so a repeated contribution changes nothing. Closing a day compacts each map
to its totals and adds them to `rollup:closed`. The snapshot sums the closed
totals and the open days into the one value `/metrics` and `/api/costs` read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shared_routing.aggregates import (
    Contribution,
    PoolTotals,
    add_counts,
    merge_totals,
)
from shared_routing.metrics import MetricsSnapshot, pool_infos, snapshot_to_dict

from .rollup_keys import (
    BUILDS,
    CLOSED_KEY,
    DAY,
    DELIVERIES,
    SKIPPED,
    SNAPSHOT_KEY,
    EventKey,
    agg_key,
    bucket_time,
    day_of,
    day_start,
)
from .rollup_state import OPEN_DAYS, Rollup

DAILY_HISTORY_DAYS = 400


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
