"""Render the metrics snapshot as Prometheus text, and convert it to and from JSON.

The snapshot contains the per-pool totals from `aggregates`, the counts of
deliveries, builds and skipped values, and the policy's figures for each pool.
Text format: https://prometheus.io/docs/instrumenting/exposition_formats/
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .aggregates import PoolTotals
from .costs import MICROS_PER_DOLLAR
from .policy import Policy

QUANTILES = (0.5, 0.9, 0.99)
PREFIX = "pmoves_ci_"
# Kinds of stored value the rollup can skip; each has a sample, 0 or more.
SKIPPED_RECORDS = ("build", "delivery")


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
