"""Mergeable per-pool aggregates of finished jobs, and their Prometheus text form.

Durations and queue times go into a log-bucketed histogram: 8 buckets per
doubling above 1 s, one bucket below. A quantile is read as the geometric middle
of the bucket that contains its rank, clamped to the observed minimum and maximum,
so its relative error is at most 2**(1/16) - 1 (about 4.4 %). Histograms merge
by adding bucket counts, so per-day aggregates sum into totals exactly.
Text format: https://prometheus.io/docs/instrumenting/exposition_formats/
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .costs import (
    MICROS_PER_DOLLAR,
    is_routed_job,
    job_cost,
    requested_pool,
    routed_pool,
    runner_pool,
)
from .lifecycle import AttemptState
from .policy import Policy

BUCKETS_PER_DOUBLING = 8
QUANTILES = (0.5, 0.9, 0.99)
MAX_QUANTILE_ERROR = 2 ** (1 / (2 * BUCKETS_PER_DOUBLING)) - 1
PREFIX = "pmoves_ci_"
# Kinds of stored value the rollup can skip; each has a sample, 0 or more.
SKIPPED_RECORDS = ("build", "delivery")


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


@dataclass(frozen=True)
class PoolInfo:
    """The policy's figures for one pool, shown as gauges next to the job metrics."""

    kind: str
    capacity: int | None
    monthly_cost: float
    minute_rate: float


def pool_infos(policy: Policy) -> dict[str, PoolInfo]:
    """Return the metric-relevant facts of every pool in `policy`."""
    return {
        name: PoolInfo(
            pool.kind, pool.capacity, pool.monthly_cost, policy.minute_rate(name)
        )
        for name, pool in policy.pools.items()
    }


@dataclass(frozen=True)
class MetricsSnapshot:
    """Everything `/metrics` shows, computed by the rollup and stored as one value.

    `deliveries` counts webhook deliveries by "event|result", `builds` counts
    finished workflow runs and deployments by "kind|conclusion", and `skipped`
    counts stored values the rollup could not use, by kind of record.
    """

    generated_at: float
    pools: Mapping[str, PoolTotals]
    deliveries: Mapping[str, int]
    builds: Mapping[str, int]
    pool_info: Mapping[str, PoolInfo]
    skipped: Mapping[str, int] = field(default_factory=dict)


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value: float) -> str:
    """Return a sample value as the text format writes it."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


class _Family:
    """One metric family being written: HELP and TYPE, then its samples."""

    def __init__(self, lines: list[str], name: str, kind: str, help_text: str) -> None:
        self.lines = lines
        self.name = PREFIX + name
        lines.append(f"# HELP {self.name} {_escape_help(help_text)}")
        lines.append(f"# TYPE {self.name} {kind}")

    def sample(self, value: float, suffix: str = "", **labels: str) -> None:
        """Write one sample of this family."""
        text = ",".join(f'{k}="{_escape_label(v)}"' for k, v in labels.items())
        label_part = "{" + text + "}" if text else ""
        self.lines.append(f"{self.name}{suffix}{label_part} {format_value(value)}")


def _dollars(micros: int) -> float:
    return micros / MICROS_PER_DOLLAR


def _pool_names(snapshot: MetricsSnapshot) -> list[str]:
    names = list(snapshot.pool_info)
    names += sorted(p for p in snapshot.pools if p not in snapshot.pool_info)
    return names


def _summary(
    lines: list[str], name: str, help_text: str, snapshot: MetricsSnapshot, queue: bool
) -> None:
    family = _Family(lines, name, "summary", help_text)
    for pool in _pool_names(snapshot):
        totals = snapshot.pools.get(pool, PoolTotals())
        hist = totals.queues if queue else totals.durations
        for q in QUANTILES:
            value = hist.quantile(q)
            if value is not None:
                family.sample(value, runner=pool, quantile=str(q))
        family.sample(hist.total, "_sum", runner=pool)
        family.sample(hist.count, "_count", runner=pool)


def render_metrics(snapshot: MetricsSnapshot) -> str:
    """Return the Prometheus text exposition (format 0.0.4) of `snapshot`."""
    lines: list[str] = []
    pools = _pool_names(snapshot)
    per_pool = {p: snapshot.pools.get(p, PoolTotals()) for p in pools}

    family = _Family(
        lines,
        "runner_assignments",
        "gauge",
        "Finished jobs that ran on a runner of the pool.",
    )
    for pool in pools:
        family.sample(per_pool[pool].assignments, runner=pool)

    _summary(
        lines,
        "build_duration_seconds",
        "Run time of finished jobs (quantiles +-4.4 %).",
        snapshot,
        queue=False,
    )
    _summary(
        lines,
        "queue_time_seconds",
        "Wait of finished jobs from creation to start (quantiles +-4.4 %).",
        snapshot,
        queue=True,
    )
    _money_and_counts(lines, snapshot, pools, per_pool)
    return "\n".join(lines) + "\n"


def _money_and_counts(
    lines: list[str],
    snapshot: MetricsSnapshot,
    pools: list[str],
    per_pool: Mapping[str, PoolTotals],
) -> None:
    money = (
        ("estimated_cost_dollars", "Estimated marginal cost of finished jobs.", "cost"),
        (
            "baseline_cost_dollars",
            "What the same jobs would cost on GitHub-hosted runners (baseline rate).",
            "base",
        ),
        (
            "savings_dollars",
            "Baseline cost minus estimated cost of finished jobs.",
            "save",
        ),
    )
    for name, help_text, which in money:
        family = _Family(lines, name, "gauge", help_text)
        for pool in pools:
            t = per_pool[pool]
            value = {
                "cost": t.cost_micros,
                "base": t.baseline_micros,
                "save": t.baseline_micros - t.cost_micros,
            }[which]
            family.sample(_dollars(value), runner=pool)

    family = _Family(lines, "jobs_total", "counter", "Finished jobs by conclusion.")
    for pool in pools:
        for conclusion, n in sorted(per_pool[pool].conclusions.items()):
            family.sample(n, runner=pool, conclusion=conclusion)

    family = _Family(
        lines,
        "billed_seconds_total",
        "counter",
        "Run time as GitHub bills it: every started minute counts as 60 s.",
    )
    for pool in pools:
        family.sample(per_pool[pool].billed_minutes * 60, runner=pool)

    family = _Family(
        lines,
        "fallbacks_total",
        "counter",
        "Routed jobs that ran on another pool than the one their commit was routed to.",
    )
    for pool in pools:
        for routed, n in sorted(per_pool[pool].fallbacks.items()):
            family.sample(n, routed_pool=routed, runner=pool)

    family = _Family(
        lines,
        "webhook_deliveries_total",
        "counter",
        "Webhook deliveries by event and result.",
    )
    for key, n in sorted(snapshot.deliveries.items()):
        event, _, result = key.partition("|")
        family.sample(n, event=event, result=result)

    family = _Family(
        lines, "builds_total", "counter", "Finished workflow runs and deployments."
    )
    for key, n in sorted(snapshot.builds.items()):
        kind, _, conclusion = key.partition("|")
        family.sample(n, kind=kind, conclusion=conclusion)

    _policy_gauges(lines, snapshot)


def _policy_gauges(lines: list[str], snapshot: MetricsSnapshot) -> None:
    family = _Family(
        lines,
        "pool_capacity_runners",
        "gauge",
        "Runners in the pool, as the policy says.",
    )
    for pool, info in snapshot.pool_info.items():
        if info.capacity is not None:
            family.sample(info.capacity, runner=pool)
    family = _Family(
        lines, "pool_monthly_cost_dollars", "gauge", "Fixed monthly cost of the pool."
    )
    for pool, info in snapshot.pool_info.items():
        family.sample(info.monthly_cost, runner=pool)
    family = _Family(
        lines,
        "pool_minute_rate_dollars",
        "gauge",
        "Marginal cost per minute on the pool.",
    )
    for pool, info in snapshot.pool_info.items():
        family.sample(info.minute_rate, runner=pool, kind=info.kind)
    family = _Family(
        lines,
        "rollup_timestamp_seconds",
        "gauge",
        "Unix time at which the rollup computed these values.",
    )
    family.sample(snapshot.generated_at)
    family = _Family(
        lines,
        "rollup_skipped_total",
        "counter",
        "Stored deliveries and build records the rollup could not use and skipped.",
    )
    for record in sorted(set(SKIPPED_RECORDS) | set(snapshot.skipped)):
        family.sample(snapshot.skipped.get(record, 0), record=record)


def snapshot_to_dict(snapshot: MetricsSnapshot) -> dict[str, Any]:
    """Return the JSON form of `snapshot`."""
    return {
        "generated_at": snapshot.generated_at,
        "pools": {p: t.to_dict() for p, t in sorted(snapshot.pools.items())},
        "deliveries": dict(sorted(snapshot.deliveries.items())),
        "builds": dict(sorted(snapshot.builds.items())),
        "skipped": dict(sorted(snapshot.skipped.items())),
        "pool_info": {
            p: {
                "kind": i.kind,
                "capacity": i.capacity,
                "monthly_cost": i.monthly_cost,
                "minute_rate": i.minute_rate,
            }
            for p, i in snapshot.pool_info.items()
        },
    }


def snapshot_from_dict(data: Mapping[str, Any]) -> MetricsSnapshot:
    """Rebuild a snapshot from its JSON form; raise ValueError when it is not one."""
    try:
        return MetricsSnapshot(
            float(data["generated_at"]),
            {str(p): PoolTotals.from_dict(t) for p, t in data["pools"].items()},
            {str(k): int(v) for k, v in data["deliveries"].items()},
            {str(k): int(v) for k, v in data["builds"].items()},
            {
                str(p): PoolInfo(
                    str(i["kind"]),
                    i.get("capacity"),
                    float(i["monthly_cost"]),
                    float(i["minute_rate"]),
                )
                for p, i in data["pool_info"].items()
            },
            # Snapshots stored before skipped values were counted lack the key.
            {str(k): int(v) for k, v in data.get("skipped", {}).items()},
        )
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ValueError(f"stored metrics snapshot is invalid: {error}") from error
