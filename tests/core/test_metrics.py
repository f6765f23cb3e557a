"""Tests for mergeable job aggregates and the Prometheus text rendering."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared_routing.aggregates import (
    MAX_QUANTILE_ERROR,
    Contribution,
    Histogram,
    PoolTotals,
    contribution_of,
    totals_of,
)
from shared_routing.lifecycle import AttemptState
from shared_routing.metrics import (
    MetricsSnapshot,
    PoolInfo,
    render_metrics,
    snapshot_from_dict,
    snapshot_to_dict,
)
from tests.core.tracking_policy import finished_attempt, rate_policy

POLICY: Any = rate_policy()


def exact_quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


durations = st.lists(st.integers(0, 200_000).map(float), min_size=1, max_size=200)


@settings(max_examples=200, deadline=None)
@given(values=durations, q=st.sampled_from([0.0, 0.5, 0.9, 0.99, 1.0]))
def test_quantile_within_error(values: list[float], q: float) -> None:
    hist = Histogram()
    for value in values:
        hist.add(value)
    got = hist.quantile(q)
    want = exact_quantile(values, q)
    assert got is not None
    if want < 1:
        assert got <= 1
    else:
        assert abs(got - want) <= want * MAX_QUANTILE_ERROR + 1e-9


@settings(max_examples=100, deadline=None)
@given(values=durations, cut=st.integers(0, 200))
def test_histogram_merge_equals_whole(values: list[float], cut: int) -> None:
    whole, left, right = Histogram(), Histogram(), Histogram()
    for index, value in enumerate(values):
        whole.add(value)
        (left if index < cut else right).add(value)
    left.merge(right)
    assert left == whole
    assert Histogram.from_dict(whole.to_dict()) == whole


def item(pool: str, conclusion: str, duration: float | None, cost: int) -> Contribution:
    return Contribution(
        pool=pool,
        conclusion=conclusion,
        duration=duration,
        queue=5.0 if duration is not None else None,
        billed_minutes=math.ceil((duration or 0) / 60),
        cost_micros=cost,
        baseline_micros=6000 * math.ceil((duration or 0) / 60),
    )


def test_totals_count_and_sum() -> None:
    totals = totals_of(
        [
            item("vps", "success", 90.0, 1500),
            item("vps", "failure", 30.0, 500),
            item("vps", "cancelled", None, 0),
            item("ai-lab", "success", 600.0, 0),
        ]
    )
    vps = totals["vps"]
    assert vps.conclusions == {"success": 1, "failure": 1, "cancelled": 1}
    assert vps.jobs == 3
    assert vps.assignments == 2
    assert vps.durations.total == 120.0
    assert vps.durations.count == 2
    assert vps.cost_micros == 2000
    assert vps.baseline_micros == 18000
    assert totals["ai-lab"].billed_minutes == 10
    assert PoolTotals.from_dict(vps.to_dict()) == vps


def job_state(**values: Any) -> AttemptState:
    defaults: dict[str, Any] = {
        "runner_name": "kvm2-1",
        "started_at": 45.0,
        "completed_at": 165.0,
    }
    return finished_attempt(**{**defaults, **values})


def test_contribution_marks_fallback() -> None:
    decision = {"pool": "vps", "routed_pool": "vps", "labels": ["self-hosted", "vps"]}
    got = contribution_of(job_state(), POLICY, decision)
    assert got.pool == "kvm2"
    assert got.routed_pool == "vps"
    assert got.duration == 120.0
    assert got.queue == 45.0
    assert got.billed_minutes == 2
    assert got.baseline_micros == 12_000


def test_contribution_without_decision() -> None:
    got = contribution_of(job_state(runner_name="vps-1"), POLICY, None)
    assert got.pool == "vps"
    assert not got.fallback
    assert got.cost_micros == 2_000


def test_contribution_of_job_never_run() -> None:
    got = contribution_of(
        job_state(runner_name=None, started_at=None, conclusion="cancelled"),
        POLICY,
        None,
    )
    assert got.duration is None
    assert got.billed_minutes == 0
    assert got.conclusion == "cancelled"


def small_snapshot() -> MetricsSnapshot:
    vps = totals_of(
        [item("vps", "success", 90.0, 1500), item("vps", "failure", 30.0, 500)]
    )["vps"]
    vps.fallbacks["ai-lab"] = 1
    return MetricsSnapshot(
        generated_at=1_764_500_000.0,
        pools={"vps": vps},
        deliveries={"workflow_job|tracked": 3, 'we"ird\\ev\nent|other': 1},
        builds={"run|success": 2},
        pool_info={
            "vps": PoolInfo("self-hosted", 4, 20.0, 0.001),
            "github-hosted": PoolInfo("github-hosted", None, 0.0, 0.006),
        },
    )


# Quantiles are bucket middles: 30 s is in bucket 40, whose middle is
# 2 ** (39.5 / 8); 90 s is in bucket 52, middle 2 ** (51.5 / 8).
EXPECTED_TEXT = """\
# HELP pmoves_ci_runner_assignments Finished jobs that ran on a runner of the pool.
# TYPE pmoves_ci_runner_assignments gauge
pmoves_ci_runner_assignments{runner="vps"} 2
pmoves_ci_runner_assignments{runner="github-hosted"} 0
# HELP pmoves_ci_build_duration_seconds Run time of finished jobs (quantiles +-4.4 %).
# TYPE pmoves_ci_build_duration_seconds summary
pmoves_ci_build_duration_seconds{runner="vps",quantile="0.5"} 30.64330498235436
pmoves_ci_build_duration_seconds{runner="vps",quantile="0.9"} 86.67235500396113
pmoves_ci_build_duration_seconds{runner="vps",quantile="0.99"} 86.67235500396113
pmoves_ci_build_duration_seconds_sum{runner="vps"} 120
pmoves_ci_build_duration_seconds_count{runner="vps"} 2
pmoves_ci_build_duration_seconds_sum{runner="github-hosted"} 0
pmoves_ci_build_duration_seconds_count{runner="github-hosted"} 0
"""


def test_render_exact_head() -> None:
    text = render_metrics(small_snapshot())
    assert text.startswith(EXPECTED_TEXT)


def test_render_escapes_labels() -> None:
    text = render_metrics(small_snapshot())
    line = (
        "pmoves_ci_webhook_deliveries_total"
        '{event="we\\"ird\\\\ev\\nent",result="other"} 1'
    )
    assert line in text.splitlines()


def test_render_money_in_dollars() -> None:
    lines = render_metrics(small_snapshot()).splitlines()
    assert 'pmoves_ci_estimated_cost_dollars{runner="vps"} 0.002' in lines
    assert 'pmoves_ci_baseline_cost_dollars{runner="vps"} 0.018' in lines
    assert 'pmoves_ci_savings_dollars{runner="vps"} 0.016' in lines
    assert 'pmoves_ci_fallbacks_total{routed_pool="ai-lab",runner="vps"} 1' in lines
    assert 'pmoves_ci_jobs_total{runner="vps",conclusion="failure"} 1' in lines
    assert "pmoves_ci_rollup_timestamp_seconds 1764500000" in lines


def test_render_parses_with_prometheus_client() -> None:
    parser = pytest.importorskip("prometheus_client.parser")
    families = {
        f.name: f
        for f in parser.text_string_to_metric_families(render_metrics(small_snapshot()))
    }
    duration = families["pmoves_ci_build_duration_seconds"]
    assert duration.type == "summary"
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value for s in duration.samples
    }
    assert (
        samples[("pmoves_ci_build_duration_seconds_count", (("runner", "vps"),))] == 2
    )
    deliveries = families["pmoves_ci_webhook_deliveries"]
    assert deliveries.type == "counter"
    events = {s.labels["event"] for s in deliveries.samples}
    assert events == {"workflow_job", 'we"ird\\ev\nent'}


def test_snapshot_round_trips_json() -> None:
    snapshot = small_snapshot()
    assert snapshot_from_dict(snapshot_to_dict(snapshot)) == snapshot


def test_bad_snapshot_raises_value_error() -> None:
    with pytest.raises(ValueError):
        snapshot_from_dict({"pools": {}})
