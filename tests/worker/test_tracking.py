"""Tests for build tracking: one write per delivery, rollup, metrics and API."""

from __future__ import annotations

import json
import math
import random
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared_routing.errors import BadRequest, NotFound
from tests.conftest import shared_fixture
from tests.core.tracking_policy import rate_policy
from tests.worker.fakes import MemoryStore, make_services, run
from worker import rollup, tracking
from worker.app import Delivery, Router
from worker.http import Request

POLICY: Any = rate_policy()
NOW = 1_764_500_000.0  # 2025-11-30T10:13:20Z
REPO = "POWERFULMOVES/PMOVES.AI"


@pytest.fixture(autouse=True)
def fixed_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    async def policy(services: Any) -> Any:
        return POLICY

    monkeypatch.setattr(tracking, "active_policy", policy)


def iso(ts: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def job_payload(
    *,
    run_id: int,
    name: str,
    attempt: int,
    status: str,
    labels: list[str],
    runner: str | None,
    created: float,
    started: float | None = None,
    completed: float | None = None,
    conclusion: str | None = None,
    sha: str = "a" * 40,
) -> dict[str, Any]:
    group = (
        "GitHub Actions"
        if runner and runner.startswith("GitHub Actions")
        else "Default"
    )
    return {
        "action": status,
        "repository": {"full_name": REPO},
        "workflow_job": {
            "id": run_id * 100 + attempt,
            "run_id": run_id,
            "run_attempt": attempt,
            "name": name,
            "status": status,
            "conclusion": conclusion,
            "head_sha": sha,
            "head_branch": "main",
            "labels": labels,
            "runner_name": runner,
            "runner_group_name": group if runner else None,
            "created_at": iso(created),
            "started_at": iso(started if started is not None else created),
            "completed_at": iso(completed) if completed is not None else None,
            "workflow_name": "CI",
        },
    }


async def deliver(services: Any, event: str, payload: Any, delivery_id: str) -> Any:
    delivery = Delivery(delivery_id, event, payload, services.clock())
    return await tracking.track_delivery(delivery, services)


def at(services: Any, now: float) -> Any:
    services.clock = lambda: now
    return services


async def call(services: Any, path: str, **query: str) -> Any:
    router = Router()
    tracking.register(router)
    route, params = router.find("GET", path)
    return await route.handler(Request("GET", path, query), services, params)


def metric_lines(text: str) -> dict[str, float]:
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


# --- recorded payloads ------------------------------------------------------


def recorded(event: str) -> list[tuple[str, dict[str, Any]]]:
    folder = shared_fixture("github", event)
    return [(p.name, json.loads(p.read_text())) for p in sorted(folder.glob("*.json"))]


def test_delivery_costs_one_write_no_read() -> None:
    store = MemoryStore()
    services = make_services(store, now=NOW)
    payloads = recorded("workflow_job") + recorded("workflow_run")
    payloads += recorded("deployment_status")
    for index, (_, payload) in enumerate(payloads):
        event = next(k for k in rollup_events() if k in payload)
        store.reset_counts()
        response = run(deliver(services, event, payload, f"d{index}"))
        assert response.status == 202
        assert store.ops == Counter({"put": 1})
    print(
        f"\nKV ops per tracked delivery: reads=0 writes=1 ({len(payloads)} deliveries)"
    )
    assert all(ttl == rollup.EVENT_TTL_SECONDS for ttl in store.ttls.values())


def rollup_events() -> tuple[str, ...]:
    return ("workflow_job", "workflow_run", "deployment_status")


def test_redelivery_writes_same_key() -> None:
    store = MemoryStore()
    services = make_services(store, now=NOW)
    _, payload = recorded("workflow_job")[0]
    run(deliver(services, "workflow_job", payload, "same"))
    first = dict(store.data)
    run(deliver(services, "workflow_job", payload, "same"))
    assert store.data == first


def test_invalid_payload_counted_and_raised() -> None:
    store = MemoryStore()
    services = make_services(store, now=NOW)
    with pytest.raises(BadRequest, match="payload.workflow_job is missing"):
        run(
            deliver(services, "workflow_job", {"repository": {"full_name": "a/b"}}, "x")
        )
    (key,) = store.keys("ev:")
    assert ":workflow_job:invalid:-:x" in key


def test_recorded_replay_exact_counts() -> None:
    store = MemoryStore()
    services = make_services(store, now=NOW)
    deliveries = []
    for event in rollup_events():
        for name, payload in recorded(event):
            deliveries.append((event, name, payload))
    rng = random.Random(7)
    replay = deliveries + rng.sample(deliveries, 5)
    rng.shuffle(replay)
    for event, name, payload in replay:
        run(deliver(services, event, payload, f"{event}/{name}"))
    stats = run(rollup.run_rollup(services, POLICY))
    assert stats["new"] == len(deliveries)
    text = run(call(services, "/metrics")).body.decode()
    values = metric_lines(text)
    # One job finished: "linters" on GitHub Actions, 10:34:58 to 10:38:16
    # (198 s, 4 started minutes), queued from 10:33:58 (60 s). Two recorded
    # completions disagree (success, failure) at the same time: failure wins.
    assert (
        values['pmoves_ci_jobs_total{runner="github-hosted",conclusion="failure"}'] == 1
    )
    assert (
        'pmoves_ci_jobs_total{runner="github-hosted",conclusion="success"}'
        not in values
    )
    assert values['pmoves_ci_build_duration_seconds_sum{runner="github-hosted"}'] == 198
    assert values['pmoves_ci_queue_time_seconds_sum{runner="github-hosted"}'] == 60
    assert values['pmoves_ci_billed_seconds_total{runner="github-hosted"}'] == 4 * 60
    assert (
        values['pmoves_ci_estimated_cost_dollars{runner="github-hosted"}'] == 4 * 0.006
    )
    assert values['pmoves_ci_builds_total{kind="run",conclusion="success"}'] == 1
    assert values['pmoves_ci_builds_total{kind="deployment",conclusion="success"}'] == 1
    tracked = values[
        'pmoves_ci_webhook_deliveries_total{event="workflow_job",result="tracked"}'
    ]
    assert tracked == 5
    assert (
        values[
            'pmoves_ci_webhook_deliveries_total{event="workflow_run",result="tracked"}'
        ]
        == 3
    )
    builds = run(call(services, "/api/builds")).json()["builds"]
    kinds = Counter((b["kind"], b["status"]) for b in builds)
    # linters, Analyze, update and the waiting job; one run; one deployment.
    assert kinds == Counter(
        {
            ("job", "completed"): 1,
            ("job", "in_progress"): 1,
            ("job", "queued"): 1,
            ("job", "waiting"): 1,
            ("run", "completed"): 1,
            ("deployment", "completed"): 1,
        }
    )


# --- generated histories ----------------------------------------------------

POOLS = {
    "vps": (["self-hosted", "vps"], "vps-runner-1"),
    "kvm2": (["self-hosted", "vps", "kvm2", "backup"], "kvm2-runner-1"),
    "ai-lab": (["self-hosted", "ai-lab", "gpu"], "ai-lab-gpu"),
    "github-hosted": (["ubuntu-latest"], "GitHub Actions 3"),
}


@dataclass(frozen=True)
class Attempt:
    """The truth about one generated job attempt."""

    run_id: int
    name: str
    attempt: int
    pool: str
    queue: int
    duration: int
    conclusion: str
    created: float


def expected_cost_micros(a: Attempt) -> tuple[int, int, int]:
    minutes = max(1, math.ceil(a.duration / 60))
    baseline = round(minutes * 0.006 * 1e6)
    if a.pool == "github-hosted":
        return minutes, baseline, baseline
    if a.pool == "vps":
        return minutes, round(0.001 * 1e6 * a.duration / 60), baseline
    return minutes, 0, baseline


def payloads_of(a: Attempt) -> list[dict[str, Any]]:
    labels, runner = POOLS[a.pool]
    common = {
        "run_id": a.run_id,
        "name": a.name,
        "attempt": a.attempt,
        "labels": labels,
        "created": a.created,
    }
    started = a.created + a.queue
    done = started + a.duration
    return [
        job_payload(status="queued", runner=None, **common),
        job_payload(status="in_progress", runner=runner, started=started, **common),
        job_payload(
            status="completed",
            runner=runner,
            started=started,
            completed=done,
            conclusion=a.conclusion,
            **common,
        ),
    ]


attempts = st.builds(
    lambda run_id, name, attempt, pool, queue, duration, conclusion, offset: Attempt(
        run_id, name, attempt, pool, queue, duration, conclusion, NOW - offset
    ),
    st.integers(1, 4),
    st.sampled_from(["build", "test", "lint (3.12)"]),
    st.integers(1, 3),
    st.sampled_from(sorted(POOLS)),
    st.integers(0, 900),
    st.integers(0, 5000),
    st.sampled_from(["success", "failure", "cancelled"]),
    st.integers(6000, 40000),
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    history=st.lists(
        attempts,
        min_size=1,
        max_size=12,
        unique_by=lambda a: (a.run_id, a.name, a.attempt),
    ),
    seed=st.integers(0, 2**32 - 1),
    runs=st.integers(1, 4),
)
def test_generated_history_exact_totals(
    history: list[Attempt], seed: int, runs: int
) -> None:
    store = MemoryStore()
    services = make_services(store, now=NOW)
    rng = random.Random(seed)
    messages = [
        (f"{a.run_id}-{a.name}-{a.attempt}-{i}", p)
        for a in history
        for i, p in enumerate(payloads_of(a))
    ]
    replay = messages + [rng.choice(messages) for _ in range(len(messages) // 2)]
    rng.shuffle(replay)
    # Deliver in `runs` batches with a rollup after each, 5 minutes apart.
    batches = [replay[i::runs] for i in range(runs)]
    for index, batch in enumerate(batches):
        clock = NOW + index * 300
        at(services, clock)
        for delivery_id, payload in batch:
            run(deliver(services, "workflow_job", payload, delivery_id))
        run(rollup.run_rollup(services, POLICY))
    # A repeated rollup changes nothing.
    run(rollup.run_rollup(services, POLICY))
    values = metric_lines(run(call(services, "/metrics")).body.decode())

    want_jobs: Counter[tuple[str, str]] = Counter()
    want: dict[str, Counter[str]] = {p: Counter() for p in POOLS}
    for a in history:
        minutes, cost, baseline = expected_cost_micros(a)
        want_jobs[(a.pool, a.conclusion)] += 1
        want[a.pool].update(
            {
                "duration": a.duration,
                "queue": a.queue,
                "count": 1,
                "minutes": minutes,
                "cost": cost,
                "baseline": baseline,
            }
        )
    for (pool, conclusion), n in want_jobs.items():
        assert (
            values[f'pmoves_ci_jobs_total{{runner="{pool}",conclusion="{conclusion}"}}']
            == n
        )
    for pool, totals in want.items():
        label = f'{{runner="{pool}"}}'
        assert (
            values[f"pmoves_ci_build_duration_seconds_count{label}"] == totals["count"]
        )
        assert (
            values[f"pmoves_ci_build_duration_seconds_sum{label}"] == totals["duration"]
        )
        assert values[f"pmoves_ci_queue_time_seconds_sum{label}"] == totals["queue"]
        assert values[f"pmoves_ci_runner_assignments{label}"] == totals["count"]
        assert (
            values[f"pmoves_ci_billed_seconds_total{label}"] == totals["minutes"] * 60
        )
        assert values[f"pmoves_ci_estimated_cost_dollars{label}"] == pytest.approx(
            totals["cost"] / 1e6, abs=1e-12
        )
        assert values[f"pmoves_ci_baseline_cost_dollars{label}"] == pytest.approx(
            totals["baseline"] / 1e6, abs=1e-12
        )
    distinct = len({d for d, _ in messages})
    assert (
        values[
            'pmoves_ci_webhook_deliveries_total{event="workflow_job",result="tracked"}'
        ]
        == distinct
    )


# --- rollup state -------------------------------------------------------------


def deliver_finished_job(services: Any, delivery: str, pool: str = "kvm2") -> None:
    a = Attempt(7, "build", 1, pool, 30, 120, "success", NOW - 600)
    run(deliver(services, "workflow_job", payloads_of(a)[2], delivery))


def test_lost_scan_state_does_not_double_count() -> None:
    store = MemoryStore()
    services = make_services(store, now=NOW)
    deliver_finished_job(services, "d1")
    run(rollup.run_rollup(services, POLICY))
    first = store.json(rollup.SNAPSHOT_KEY)["pools"]
    # A stale read of the scan state looks like no state at all.
    run(store.delete(rollup.SCAN_KEY))
    run(rollup.run_rollup(services, POLICY))
    assert store.json(rollup.SNAPSHOT_KEY)["pools"] == first
    assert first["kvm2"]["conclusions"] == {"success": 1}


def test_fallback_against_stored_decision() -> None:
    store = MemoryStore()
    services = make_services(store, now=NOW)
    decision = {
        "pool": "vps",
        "routed_pool": "vps",
        "labels": ["self-hosted", "vps"],
        "decided_at": NOW - 900,
    }
    run(store.put(f"decision:{'a' * 40}:g1", json.dumps(decision)))
    a = Attempt(8, "build", 1, "vps", 30, 120, "success", NOW - 600)
    payload = payloads_of(a)[2]
    payload["workflow_job"]["runner_name"] = "kvm2-runner-9"
    run(deliver(services, "workflow_job", payload, "d1"))
    run(rollup.run_rollup(services, POLICY))
    values = metric_lines(run(call(services, "/metrics")).body.decode())
    assert values['pmoves_ci_fallbacks_total{routed_pool="vps",runner="kvm2"}'] == 1
    builds = run(call(services, "/api/builds")).json()["builds"]
    assert builds[0]["fallback"] is True
    assert builds[0]["pool"] == "kvm2"


def test_closed_days_keep_totals() -> None:
    store = MemoryStore()
    services = make_services(store, now=NOW)
    deliver_finished_job(services, "d1")
    run(rollup.run_rollup(services, POLICY))
    before = store.json(rollup.SNAPSHOT_KEY)
    later = NOW + 5 * rollup.DAY
    at(services, later)
    run(rollup.run_rollup(services, POLICY))
    run(store.delete(rollup.CLOSED_KEY))  # must not happen, but is recoverable
    after = store.json(rollup.SNAPSHOT_KEY)
    assert after["pools"] == before["pools"]
    assert after["deliveries"] == before["deliveries"]
    day = rollup.day_of(NOW)
    assert "totals" in store.json(rollup.agg_key(day, "pool:kvm2"))
    assert after["daily"][day]["kvm2"]["jobs"] == 1


def test_rollup_op_counts_per_delivery() -> None:
    store = MemoryStore()
    services = make_services(store, now=NOW)
    count = 0
    for run_id in range(1, 21):
        a = Attempt(run_id, "build", 1, "vps", 20, 200, "success", NOW - 900)
        for i, payload in enumerate(payloads_of(a)):
            run(deliver(services, "workflow_job", payload, f"{run_id}-{i}"))
            count += 1
    store.reset_counts()
    run(rollup.run_rollup(services, POLICY))
    ops = dict(store.ops)
    reads = ops.get("get", 0) + ops.get("list", 0)
    print(
        f"\nrollup of {count} deliveries (20 jobs): {ops}; "
        f"{reads / count:.2f} reads and {ops.get('put', 0) / count:.2f} writes"
        " per delivery"
    )
    assert ops.get("put", 0) <= 20 + 10
    store.reset_counts()
    run(rollup.run_rollup(services, POLICY))
    print(f"idle rollup: {dict(store.ops)}")
    assert store.ops.get("put", 0) <= 3


# --- API ----------------------------------------------------------------------


def test_builds_filters_and_detail() -> None:
    store = MemoryStore()
    services = make_services(store, now=NOW)
    deliver_finished_job(services, "d1", pool="kvm2")
    a = Attempt(9, "test", 1, "ai-lab", 10, 60, "failure", NOW - 300)
    run(deliver(services, "workflow_job", payloads_of(a)[1], "d2"))
    run(rollup.run_rollup(services, POLICY))
    every = run(call(services, "/api/builds")).json()
    assert every["count"] == 2
    in_progress = run(call(services, "/api/builds", status="in_progress")).json()
    assert [b["name"] for b in in_progress["builds"]] == ["test"]
    kvm2 = run(call(services, "/api/builds", pool="kvm2")).json()["builds"]
    assert [b["conclusion"] for b in kvm2] == ["success"]
    assert run(call(services, "/api/builds", repository="x/y")).json()["count"] == 0
    detail = run(call(services, f"/api/builds/{kvm2[0]['id']}")).json()
    assert detail["attempts"][0]["duration_seconds"] == 120
    assert detail["attempts"][0]["queue_seconds"] == 30
    with pytest.raises(NotFound):
        run(call(services, "/api/builds/j-1-0123456789"))
    with pytest.raises(BadRequest, match="status must be one of"):
        run(call(services, "/api/builds", status="done"))
    with pytest.raises(BadRequest, match="since="):
        run(call(services, "/api/builds", since="last week"))


def test_costs_since_with_fixed_cost() -> None:
    store = MemoryStore()
    services = make_services(store, now=NOW)
    deliver_finished_job(services, "d1", pool="vps")
    run(rollup.run_rollup(services, POLICY))
    day = rollup.day_of(NOW)
    costs = run(call(services, "/api/costs", since=day)).json()
    vps = costs["pools"]["vps"]
    assert vps["jobs"] == 1
    assert vps["billed_minutes"] == 2
    assert vps["estimated_cost"] == 0.002
    assert vps["baseline_cost"] == 0.012
    period = NOW - rollup.day_start(day)
    assert vps["fixed_cost"] == round(20.0 * period / (365.2425 / 12 * 86400), 6)
    assert costs["total"]["jobs"] == 1
    assert costs["pools"]["ai-lab"]["jobs"] == 0


def test_backlog_spans_several_rollups() -> None:
    store = MemoryStore()
    services = make_services(store, now=NOW)
    jobs = 120
    for run_id in range(1, jobs + 1):
        a = Attempt(run_id, "build", 1, "vps", 20, 200, "success", NOW - 900)
        for i, payload in enumerate(payloads_of(a)):
            run(deliver(services, "workflow_job", payload, f"{run_id}-{i}"))
    first = run(rollup.run_rollup(services, POLICY))
    assert first["new"] == rollup.MAX_NEW_KEYS_PER_RUN
    second = run(rollup.run_rollup(services, POLICY, NOW + 300))
    assert second["new"] == 3 * jobs - rollup.MAX_NEW_KEYS_PER_RUN
    pools = store.json(rollup.SNAPSHOT_KEY)["pools"]
    assert pools["vps"]["conclusions"] == {"success": jobs}


# --- unreadable stored values -------------------------------------------------

YEAR_0 = -62_135_647_200.0  # 0001-01-01T00:00:00+14:00, in UTC year 0
YEAR_10000 = 253_402_351_199.0  # 9999-12-31T23:59:59-14:00, in UTC year 10000


def test_day_helpers_use_utc_dates() -> None:
    assert rollup.day_of(NOW) == "2025-11-30"
    assert rollup.day_of(-1.0) == "1969-12-31"
    assert rollup.day_start("2025-11-30") == 1_764_460_800.0
    assert rollup.bucket_time("202511301010") == 1_764_497_400.0


@pytest.mark.parametrize("ts", [YEAR_0, YEAR_10000, math.nan, math.inf])
def test_day_of_rejects_unrepresentable_time(ts: float) -> None:
    with pytest.raises(ValueError, match="outside the years 1 to 9999"):
        rollup.day_of(ts)


def finished_obs(run_id: int, **times: float) -> dict[str, Any]:
    """Return a stored observation of a finished kvm2 job, with `times` replaced."""
    from shared_routing.jobs import parse_workflow_job
    from shared_routing.lifecycle import observation_to_dict

    a = Attempt(run_id, "build", 1, "kvm2", 30, 120, "success", NOW - 600)
    obs = observation_to_dict(parse_workflow_job(payloads_of(a)[2]))
    obs.update(times)
    return obs


def poison(services: Any, delivery: str, run_id: int) -> str:
    """Store a delivery the way the parser stored out-of-range times before."""
    obs = finished_obs(
        run_id,
        created_at=YEAR_0,
        started_at=YEAR_0,
        completed_at=YEAR_10000,
        event_at=YEAR_10000,
    )
    return str(
        run(
            tracking.record_delivery(
                services, delivery, "workflow_job", "tracked", NOW - 60, {"obs": obs}
            )
        )
    )


def test_poisoned_delivery_skipped_and_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = MemoryStore()
    services = make_services(store, now=NOW)
    bad = poison(services, "bad", 11)
    entity = finished_obs(12)["entity"]
    garbled = rollup.event_key(NOW - 60, "workflow_job", "tracked", entity, "garbled")
    run(store.put(garbled, "{not json"))
    deliver_finished_job(services, "good")
    with caplog.at_level("WARNING", logger="router"):
        stats = run(rollup.run_rollup(services, POLICY))
    assert stats["skipped"] == 2
    assert stats["folded"] == 1
    values = metric_lines(run(call(services, "/metrics")).body.decode())
    assert values['pmoves_ci_jobs_total{runner="kvm2",conclusion="success"}'] == 1
    assert values['pmoves_ci_build_duration_seconds_sum{runner="kvm2"}'] == 120
    assert values['pmoves_ci_rollup_skipped_total{record="delivery"}'] == 2
    assert values['pmoves_ci_rollup_skipped_total{record="build"}'] == 0
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert skipped == [
        f"rollup skipped {bad}: created_at is not a time from 2018 to 2099",
        f"rollup skipped {garbled}: not a stored observation (JSONDecodeError)",
    ]
    assert not any(REPO in message for message in skipped)


def test_skipped_delivery_counts_once() -> None:
    store = MemoryStore()
    services = make_services(store, now=NOW)
    poison(services, "bad", 11)
    run(rollup.run_rollup(services, POLICY))
    run(rollup.run_rollup(services, POLICY, NOW + 300))
    # Without its scan state the rollup reads the value again.
    run(store.delete(rollup.SCAN_KEY))
    third = run(rollup.run_rollup(services, POLICY, NOW + 600))
    assert third["skipped"] == 1
    snapshot = store.json(rollup.SNAPSHOT_KEY)
    assert snapshot["skipped"] == {"delivery": 1}


def test_poisoned_build_record_cleaned() -> None:
    store = MemoryStore()
    services = make_services(store, now=NOW)
    a = Attempt(7, "build", 1, "kvm2", 30, 120, "success", NOW - 600)
    queued, in_progress, completed = payloads_of(a)
    run(deliver(services, "workflow_job", queued, "d1"))
    run(rollup.run_rollup(services, POLICY))
    # A record and aggregate as an earlier rollup left them after folding a
    # completion whose times were in year 0 and year 10000.
    bad = finished_obs(7, created_at=YEAR_0, started_at=YEAR_0, completed_at=1e11)
    key = rollup.build_key(bad["entity"])
    stored = store.json(key)
    stored["attempts"]["1"]["d2"] = bad
    agg = rollup.agg_key(rollup.day_of(NOW), "pool:kvm2")
    junk = {"p": "kvm2", "c": "success", "d": 1e11, "q": 0, "m": 1, "cost": 0}
    run(store.put(agg, json.dumps({"ids": {f"{bad['entity']}#1": junk}})))
    stored["meta"]["counted"] = {"1": agg}
    run(store.put(key, json.dumps(stored)))

    run(deliver(services, "workflow_job", in_progress, "d3"))
    stats = run(rollup.run_rollup(services, POLICY, NOW + 300))
    assert stats["skipped"] == 1
    assert sorted(store.json(key)["attempts"]["1"]) == ["d1", "d3"]
    assert store.json(agg)["ids"] == {}
    assert store.json(rollup.SNAPSHOT_KEY)["skipped"] == {"build": 1}

    run(deliver(services, "workflow_job", completed, "d4"))
    run(rollup.run_rollup(services, POLICY, NOW + 600))
    values = metric_lines(run(call(services, "/metrics")).body.decode())
    assert values['pmoves_ci_jobs_total{runner="kvm2",conclusion="success"}'] == 1
    assert values['pmoves_ci_build_duration_seconds_sum{runner="kvm2"}'] == 120


def test_build_of_only_poisoned_observations_deleted() -> None:
    store = MemoryStore()
    services = make_services(store, now=NOW)
    deliver_finished_job(services, "d1")
    run(rollup.run_rollup(services, POLICY))
    (key,) = store.keys("build:")
    entity = key.removeprefix("build:")
    stored = store.json(key)
    stored["attempts"]["1"]["d1"]["completed_at"] = YEAR_10000
    run(store.put(key, json.dumps(stored)))
    poison(services, "d2", 7)
    stats = run(rollup.run_rollup(services, POLICY, NOW + 300))
    assert stats["skipped"] == 2
    assert store.keys("build:") == []
    assert entity not in store.json(rollup.index_key(rollup.day_of(NOW)))
    assert store.json(rollup.SNAPSHOT_KEY)["pools"]["kvm2"]["conclusions"] == {}
    builds = run(call(services, "/api/builds")).json()
    assert builds["count"] == 0


def test_fold_error_skips_only_that_build(monkeypatch: pytest.MonkeyPatch) -> None:
    store = MemoryStore()
    services = make_services(store, now=NOW)
    deliver_finished_job(services, "d1", pool="kvm2")
    a = Attempt(8, "build", 1, "vps", 30, 120, "success", NOW - 600)
    run(deliver(services, "workflow_job", payloads_of(a)[2], "d2"))
    real = rollup.contribution_of

    def failing(state: Any, policy: Any, decision: Any) -> Any:
        if state.run_id == 8:
            raise ValueError("stored state is invalid")
        return real(state, policy, decision)

    monkeypatch.setattr(rollup, "contribution_of", failing)
    stats = run(rollup.run_rollup(services, POLICY))
    assert stats["skipped"] == 1
    snapshot = store.json(rollup.SNAPSHOT_KEY)
    assert snapshot["pools"]["kvm2"]["conclusions"] == {"success": 1}
    assert "vps" not in snapshot["pools"]
    assert snapshot["skipped"] == {"build": 1}


def test_future_completion_counts_today() -> None:
    store = MemoryStore()
    services = make_services(store, now=NOW)
    # Completed two days ahead of the Worker's clock.
    a = Attempt(9, "build", 1, "vps", 30, 120, "success", NOW + 2 * rollup.DAY)
    run(deliver(services, "workflow_job", payloads_of(a)[2], "d1"))
    run(rollup.run_rollup(services, POLICY))
    pools = store.json(rollup.SNAPSHOT_KEY)["pools"]
    assert pools["vps"]["conclusions"] == {"success": 1}
    assert store.keys(f"agg:{rollup.day_of(NOW + 2 * rollup.DAY)}") == []


def test_decision_with_invalid_time_ignored() -> None:
    store = MemoryStore()
    services = make_services(store, now=NOW)
    good = {"pool": "vps", "routed_pool": "vps", "labels": ["self-hosted", "vps"]}
    run(store.put(f"decision:{'a' * 40}:g1", json.dumps({**good, "decided_at": NOW})))
    odd = {**good, "routed_pool": "ai-lab", "decided_at": "yesterday"}
    run(store.put(f"decision:{'a' * 40}:g2", json.dumps(odd)))
    a = Attempt(8, "build", 1, "vps", 30, 120, "success", NOW - 600)
    payload = payloads_of(a)[2]
    payload["workflow_job"]["runner_name"] = "kvm2-runner-9"
    run(deliver(services, "workflow_job", payload, "d1"))
    run(rollup.run_rollup(services, POLICY))
    fallbacks = store.json(rollup.SNAPSHOT_KEY)["pools"]["kvm2"]["fallbacks"]
    assert fallbacks == {"vps": 1}


timestamp_texts = (
    st.datetimes(
        min_value=datetime(1, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.sampled_from(
            [timezone(timedelta(hours=h)) for h in (-14, -1, 0, 5, 14)]
        ),
    ).map(lambda d: d.isoformat())
    | st.sampled_from(
        ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "2025-11-30"]
    )
    | st.text(alphabet="0123456789-:+TZ", max_size=26)
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    times=st.lists(
        st.tuples(timestamp_texts, timestamp_texts, timestamp_texts),
        min_size=1,
        max_size=3,
    )
)
def test_arbitrary_times_rejected_or_counted(
    times: list[tuple[str, str, str]],
) -> None:
    store = MemoryStore()
    services = make_services(store, now=NOW)
    accepted = 0
    for run_id, (created, started, completed) in enumerate(times, start=1):
        a = Attempt(run_id, "build", 1, "vps", 30, 120, "success", NOW - 600)
        payload = payloads_of(a)[2]
        job = payload["workflow_job"]
        job["created_at"], job["started_at"], job["completed_at"] = (
            created,
            started,
            completed,
        )
        try:
            response = run(deliver(services, "workflow_job", payload, f"d{run_id}"))
        except BadRequest as error:
            assert error.message.startswith("payload.workflow_job.")
            continue
        assert response.status == 202
        accepted += 1
    stats = run(rollup.run_rollup(services, POLICY))
    assert stats.get("skipped", 0) == 0
    pools = store.json(rollup.SNAPSHOT_KEY)["pools"]
    jobs = pools["vps"]["conclusions"]["success"] if accepted else 0
    assert jobs == accepted


# --- query parameters -----------------------------------------------------------

SINCE_FORMS = "a date (YYYY-MM-DD), an ISO 8601 time with a zone, or epoch seconds"


def get(services: Any, path: str, query: dict[str, str]) -> Any:
    from worker.app import build_router, handle

    headers = {"authorization": "Bearer test-token"}
    return run(handle(Request("GET", path, query, headers), services, build_router()))


@pytest.mark.parametrize(
    ("path", "name", "value"),
    [
        ("/api/builds", "since", "nan"),
        ("/api/builds", "since", "NaN"),
        ("/api/builds", "since", " nan "),
        ("/api/builds", "since", "inf"),
        ("/api/builds", "since", "-inf"),
        ("/api/builds", "since", "1e308"),
        ("/api/builds", "since", "1e12"),
        ("/api/builds", "since", "1000000000000"),  # year 33658
        ("/api/builds", "since", "0001-01-01"),
        ("/api/builds", "since", "-1"),
        ("/api/builds", "since", "\u0661\u0662"),  # Arabic-Indic digits
        ("/api/builds", "since", "2025-11-30T10:00:00"),
        ("/api/builds", "limit", "\u00b2"),  # superscript two: isdigit() is True
        ("/api/builds", "limit", "0"),
        ("/api/builds", "limit", "1001"),
        ("/api/costs", "since", "0001-01-01T00:00:00+14:00"),
        ("/api/costs", "since", "9999-12-31T23:59:59-14:00"),
        ("/api/costs", "since", "0001-01-01"),
        ("/api/costs", "since", "nan"),
        ("/api/costs", "since", "1e12"),
        ("/api/costs", "since", "2024-10-01"),  # before the 400-day history
    ],
)
def test_bad_query_value_is_400(path: str, name: str, value: str) -> None:
    response = get(make_services(now=NOW), path, {name: value})
    assert response.status == 400
    body = response.json()
    assert body["parameter"] == name
    assert f"query parameter {name}=" in body["error"]
    if name == "since":
        assert SINCE_FORMS in body["error"]
    else:
        assert "a whole number from 1 to 1000" in body["error"]


@pytest.mark.parametrize("path", ["/api/builds", "/api/costs"])
def test_unknown_query_parameter_is_400(path: str) -> None:
    response = get(make_services(now=NOW), path, {"since": "", "sinse": "2025-11-01"})
    assert response.status == 400
    body = response.json()
    assert body["parameter"] == "sinse"
    assert body["error"].startswith("unknown query parameter 'sinse'; accepted:")


def test_since_window_edges() -> None:
    services = make_services(now=NOW)
    oldest_builds = rollup.day_of(NOW - tracking.MAX_BUILDS_DAYS * rollup.DAY)
    oldest_costs = rollup.day_of(NOW - rollup.DAILY_HISTORY_DAYS * rollup.DAY)
    assert oldest_builds == "2025-10-30"
    assert oldest_costs == "2024-10-26"
    builds = get(services, "/api/builds", {"since": oldest_builds})
    assert builds.status == 200
    assert builds.json()["since"] == rollup.day_start(oldest_builds)
    costs = get(services, "/api/costs", {"since": oldest_costs})
    assert costs.status == 200
    assert costs.json()["since"] == rollup.day_start(oldest_costs)
    assert get(services, "/api/costs", {"since": "2024-10-25"}).status == 400
    assert get(services, "/api/builds", {"since": str(NOW)}).status == 200
    assert get(services, "/api/builds", {"since": str(NOW + 1)}).status == 400
    error = get(services, "/api/costs", {"since": "2024-10-25"}).json()["error"]
    assert "from 2024-10-26 (400 days back" in error


query_names = st.sampled_from(
    ["since", "limit", "status", "pool", "repository", "kind"]
) | st.text(max_size=8)
query_values = (
    st.text(max_size=30)
    | st.sampled_from(["nan", "inf", "-1", "1e12", "0", "1001", "\u00b2", "2025-11-30"])
    | st.floats().map(str)
    | st.integers(-(10**20), 10**20).map(str)
    | st.datetimes(
        min_value=datetime(1, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=-14))]),
    ).map(lambda d: d.isoformat())
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    path=st.sampled_from(["/api/builds", "/api/costs"]),
    query=st.dictionaries(query_names, query_values, max_size=3),
)
def test_arbitrary_query_never_5xx(path: str, query: dict[str, str]) -> None:
    store = MemoryStore()
    services = make_services(store, now=NOW)
    deliver_finished_job(services, "d1")
    run(rollup.run_rollup(services, POLICY))
    response = get(services, path, query)
    assert response.status < 500
    if response.status == 400:
        assert "parameter" in response.json()


# --- first seen -------------------------------------------------------------------


def test_first_seen_is_receive_time() -> None:
    store = MemoryStore()
    services = make_services(store, now=NOW)
    at(services, NOW - 1000)
    deliver_finished_job(services, "d1")
    at(services, NOW - 400)
    a = Attempt(7, "build", 1, "kvm2", 30, 120, "success", NOW - 600)
    run(deliver(services, "workflow_job", payloads_of(a)[1], "d2"))
    run(rollup.run_rollup(services, POLICY, NOW))
    at(services, NOW)
    (build,) = run(call(services, "/api/builds")).json()["builds"]
    assert build["first_seen"] == NOW - 1000
    detail = run(call(services, f"/api/builds/{build['id']}")).json()
    assert detail["first_seen"] == NOW - 1000


def test_first_seen_keeps_earliest_delivery() -> None:
    store = MemoryStore()
    services = make_services(store, now=NOW)
    deliver_finished_job(services, "d1")
    run(rollup.run_rollup(services, POLICY))
    # A delivery received a day earlier shows up in a later listing.
    a = Attempt(7, "build", 1, "kvm2", 30, 120, "success", NOW - 600)
    at(services, NOW - 86_000)
    run(deliver(services, "workflow_job", payloads_of(a)[0], "d0"))
    at(services, NOW + 300)
    run(store.delete(rollup.SCAN_KEY))
    run(rollup.run_rollup(services, POLICY))
    yesterday = rollup.day_of(NOW - 86_000)
    (entity,) = store.json(rollup.index_key(yesterday))
    assert store.json(rollup.index_key(rollup.day_of(NOW))) == {}
    builds = run(call(services, "/api/builds", since=yesterday)).json()
    assert builds["count"] == 1
    assert builds["builds"][0]["id"] == entity
    assert builds["builds"][0]["first_seen"] == NOW - 86_000
    # Received later, d1 does not move first_seen back.
    assert store.json(rollup.build_key(entity))["meta"]["first_seen"] == NOW - 86_000


@pytest.mark.parametrize(
    ("name", "value"), [("kind", "JOB"), ("kind", "nope"), ("status", "nope")]
)
def test_builds_rejects_unknown_filter_value(name: str, value: str) -> None:
    services = make_services(MemoryStore(), now=NOW)
    with pytest.raises(BadRequest) as raised:
        run(call(services, "/api/builds", **{name: value}))
    assert raised.value.details["parameter"] == name
