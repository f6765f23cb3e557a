"""Mergeable per-pool aggregates of finished jobs: contributions, totals, histograms.

Durations and queue times go into a log-bucketed histogram: 8 buckets per
doubling above 1 s, one bucket below. A quantile is read as the geometric middle
of the bucket that contains its rank, clamped to the observed minimum and maximum,
so its relative error is at most 2**(1/16) - 1 (about 4.4 %). Histograms merge
by adding bucket counts, so per-day aggregates sum into totals exactly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .costs import (
    is_routed_job,
    job_cost,
    requested_pool,
    routed_pool,
    runner_pool,
)
from .lifecycle import AttemptState
from .policy import Policy

BUCKETS_PER_DOUBLING = 8
MAX_QUANTILE_ERROR = 2 ** (1 / (2 * BUCKETS_PER_DOUBLING)) - 1


def bucket_index(value: float) -> int:
    """Return the histogram bucket of a non-negative value."""
    if value < 1:
        return 0
    return math.floor(BUCKETS_PER_DOUBLING * math.log2(value)) + 1


def bucket_middle(index: int) -> float:
    """Return the geometric middle of a bucket (0.5 for the bucket below 1)."""
    if index == 0:
        return 0.5
    return float(2 ** ((index - 0.5) / BUCKETS_PER_DOUBLING))


@dataclass
class Histogram:
    """Counts of values per log bucket, with their exact count, sum, min and max."""

    buckets: dict[int, int] = field(default_factory=dict)
    count: int = 0
    total: float = 0.0
    low: float | None = None
    high: float | None = None

    def add(self, value: float) -> None:
        """Record one value."""
        index = bucket_index(value)
        self.buckets[index] = self.buckets.get(index, 0) + 1
        self.count += 1
        self.total += value
        self.low = value if self.low is None else min(self.low, value)
        self.high = value if self.high is None else max(self.high, value)

    def merge(self, other: Histogram) -> None:
        """Add every value recorded in `other`."""
        for index, n in other.buckets.items():
            self.buckets[index] = self.buckets.get(index, 0) + n
        self.count += other.count
        self.total += other.total
        for bound in (other.low, other.high):
            if bound is not None:
                self.low = bound if self.low is None else min(self.low, bound)
                self.high = bound if self.high is None else max(self.high, bound)

    def quantile(self, q: float) -> float | None:
        """Return the estimated `q` quantile (nearest rank), None when empty."""
        if self.count == 0 or self.low is None or self.high is None:
            return None
        rank = max(1, math.ceil(q * self.count))
        seen = 0
        for index in sorted(self.buckets):
            seen += self.buckets[index]
            if seen >= rank:
                return min(max(bucket_middle(index), self.low), self.high)
        return self.high

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        return {
            "b": {str(i): n for i, n in sorted(self.buckets.items())},
            "n": self.count,
            "sum": self.total,
            "min": self.low,
            "max": self.high,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Histogram:
        """Rebuild a histogram from its JSON form."""
        buckets = {int(i): int(n) for i, n in dict(data.get("b", {})).items()}
        return cls(
            buckets,
            int(data.get("n", 0)),
            float(data.get("sum", 0.0)),
            data.get("min"),
            data.get("max"),
        )


@dataclass(frozen=True)
class Contribution:
    """The share of one finished job attempt in its pool's aggregate."""

    pool: str
    conclusion: str
    duration: float | None
    queue: float | None
    billed_minutes: int
    cost_micros: int
    baseline_micros: int
    routed_pool: str | None = None

    @property
    def fallback(self) -> bool:
        """Return True when the job ran outside the pool its commit was routed to."""
        return self.routed_pool is not None

    def to_dict(self) -> dict[str, Any]:
        """Return the compact JSON form."""
        return {
            "p": self.pool,
            "c": self.conclusion,
            "d": self.duration,
            "q": self.queue,
            "m": self.billed_minutes,
            "cost": self.cost_micros,
            "base": self.baseline_micros,
            "fb": self.routed_pool,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Contribution:
        """Rebuild a contribution from its compact JSON form."""
        return cls(
            str(data["p"]),
            str(data["c"]),
            data.get("d"),
            data.get("q"),
            int(data.get("m", 0)),
            int(data.get("cost", 0)),
            int(data.get("base", 0)),
            data.get("fb"),
        )


def contribution_of(
    state: AttemptState, policy: Policy, decision: Mapping[str, Any] | None
) -> Contribution:
    """Return the aggregate contribution of a completed job attempt.

    `decision` is the stored routing decision for the job's commit, if any. The
    job is a fallback when it asked for the routed labels but a runner of
    another pool took it, or the decision itself fell back.
    """
    if state.conclusion is None:
        raise ValueError("only a completed attempt contributes")
    pool = runner_pool(state, policy)
    ran = state.runner_name is not None and state.duration_seconds is not None
    duration = state.duration_seconds if ran else None
    cost = job_cost(duration, pool, policy)
    wanted = requested_pool(state.labels, policy)
    routed = routed_pool(decision)
    fallback = None
    if ran and routed and is_routed_job(state, wanted, decision) and pool != routed:
        fallback = routed
    return Contribution(
        pool=pool,
        conclusion=state.conclusion,
        duration=duration,
        queue=state.queue_seconds if ran else None,
        billed_minutes=cost.billed_minutes,
        cost_micros=cost.cost_micros,
        baseline_micros=cost.baseline_micros,
        routed_pool=fallback,
    )


@dataclass
class PoolTotals:
    """Aggregate of the finished jobs of one pool; totals merge by addition."""

    conclusions: dict[str, int] = field(default_factory=dict)
    assignments: int = 0
    durations: Histogram = field(default_factory=Histogram)
    queues: Histogram = field(default_factory=Histogram)
    billed_minutes: int = 0
    cost_micros: int = 0
    baseline_micros: int = 0
    fallbacks: dict[str, int] = field(default_factory=dict)

    @property
    def jobs(self) -> int:
        """Return the number of finished jobs."""
        return sum(self.conclusions.values())

    def add(self, item: Contribution) -> None:
        """Add one finished job."""
        self.conclusions[item.conclusion] = self.conclusions.get(item.conclusion, 0) + 1
        if item.duration is not None:
            self.assignments += 1
            self.durations.add(item.duration)
        if item.queue is not None:
            self.queues.add(item.queue)
        self.billed_minutes += item.billed_minutes
        self.cost_micros += item.cost_micros
        self.baseline_micros += item.baseline_micros
        if item.routed_pool is not None:
            self.fallbacks[item.routed_pool] = (
                self.fallbacks.get(item.routed_pool, 0) + 1
            )

    def merge(self, other: PoolTotals) -> None:
        """Add every job counted in `other`."""
        for name, n in other.conclusions.items():
            self.conclusions[name] = self.conclusions.get(name, 0) + n
        self.assignments += other.assignments
        self.durations.merge(other.durations)
        self.queues.merge(other.queues)
        self.billed_minutes += other.billed_minutes
        self.cost_micros += other.cost_micros
        self.baseline_micros += other.baseline_micros
        for name, n in other.fallbacks.items():
            self.fallbacks[name] = self.fallbacks.get(name, 0) + n

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        return {
            "conclusions": dict(sorted(self.conclusions.items())),
            "assignments": self.assignments,
            "durations": self.durations.to_dict(),
            "queues": self.queues.to_dict(),
            "billed_minutes": self.billed_minutes,
            "cost_micros": self.cost_micros,
            "baseline_micros": self.baseline_micros,
            "fallbacks": dict(sorted(self.fallbacks.items())),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PoolTotals:
        """Rebuild totals from their JSON form."""
        return cls(
            {str(k): int(v) for k, v in dict(data.get("conclusions", {})).items()},
            int(data.get("assignments", 0)),
            Histogram.from_dict(data.get("durations", {})),
            Histogram.from_dict(data.get("queues", {})),
            int(data.get("billed_minutes", 0)),
            int(data.get("cost_micros", 0)),
            int(data.get("baseline_micros", 0)),
            {str(k): int(v) for k, v in dict(data.get("fallbacks", {})).items()},
        )


def totals_of(contributions: Iterable[Contribution]) -> dict[str, PoolTotals]:
    """Sum contributions into one `PoolTotals` per pool."""
    pools: dict[str, PoolTotals] = {}
    for item in contributions:
        pools.setdefault(item.pool, PoolTotals()).add(item)
    return pools


def merge_totals(
    into: dict[str, PoolTotals], other: Mapping[str, PoolTotals]
) -> dict[str, PoolTotals]:
    """Merge per-pool totals of `other` into `into` and return `into`."""
    for pool, totals in other.items():
        into.setdefault(pool, PoolTotals()).merge(totals)
    return into


def add_counts(into: dict[str, int], other: Mapping[str, int]) -> dict[str, int]:
    """Add the counts of `other` into `into` and return `into`."""
    for key, n in other.items():
        into[key] = into.get(key, 0) + n
    return into
