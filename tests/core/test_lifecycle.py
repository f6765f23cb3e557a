"""Tests for the monotonic job state machine and the fold of observations."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared_routing.jobs import Observation, parse_tracked
from shared_routing.lifecycle import (
    STATUSES,
    TRANSITIONS,
    add_observation,
    advance,
    fold_attempt,
    fold_observations,
    record_from_dict,
    record_to_dict,
    status_rank,
)
from tests.conftest import shared_fixture


def test_table_covers_every_pair() -> None:
    for current in (None, *STATUSES):
        for reported in STATUSES:
            assert advance(current, reported) in STATUSES
    assert len(TRANSITIONS) == (len(STATUSES) + 1) * len(STATUSES)


def test_table_never_moves_back() -> None:
    for current in STATUSES:
        for reported in STATUSES:
            after = advance(current, reported)
            assert status_rank(after) >= status_rank(current)
            assert status_rank(after) >= status_rank(reported)


def test_table_is_a_join() -> None:
    for a in STATUSES:
        assert advance(a, a) == a
        for b in STATUSES:
            assert advance(a, b) == advance(b, a)
            for c in STATUSES:
                assert advance(advance(a, b), c) == advance(a, advance(b, c))


def test_completed_is_final() -> None:
    for reported in STATUSES:
        assert advance("completed", reported) == "completed"


def obs(status: str, at: float, attempt: int = 1, **extra: Any) -> Observation:
    values: dict[str, Any] = {
        "kind": "job",
        "entity": "j-1-0000000000",
        "attempt": attempt,
        "repository": "o/r",
        "name": "build",
        "status": status,
        "event_at": at,
        "created_at": 100.0,
    }
    if status in ("in_progress", "completed"):
        values["started_at"] = 160.0
        values["runner_name"] = "vps-runner-1"
    if status == "completed":
        values["completed_at"] = at
        values.setdefault("conclusion", "success")
    values.update(extra)
    return Observation(**values)


def test_late_queued_does_not_reopen() -> None:
    state = fold_attempt(1, {"d3": obs("completed", 400.0), "d1": obs("queued", 100.0)})
    assert state.status == "completed"
    assert state.conclusion == "success"
    assert state.duration_seconds == 240.0
    assert state.queue_seconds == 60.0


def test_conflicting_conclusions_pick_severe() -> None:
    a = obs("completed", 400.0, conclusion="success")
    b = obs("completed", 400.0, conclusion="failure")
    assert fold_attempt(1, {"x": a, "y": b}).conclusion == "failure"
    assert fold_attempt(1, {"y": a, "x": b}).conclusion == "failure"


def test_later_completion_wins() -> None:
    a = obs("completed", 400.0, conclusion="failure")
    b = obs("completed", 500.0, conclusion="success")
    assert fold_attempt(1, {"x": a, "y": b}).conclusion == "success"


def test_rerun_is_new_attempt() -> None:
    record = fold_observations(
        [
            ("d1", obs("completed", 400.0, conclusion="failure")),
            ("d2", obs("queued", 500.0, attempt=2)),
        ]
    )["j-1-0000000000"]
    first, second = record.states()
    assert (first.attempt, first.status, first.conclusion) == (
        1,
        "completed",
        "failure",
    )
    assert (second.attempt, second.status) == (2, "queued")
    assert record.latest().attempt == 2


def test_record_round_trips_json() -> None:
    record = add_observation(None, "d1", obs("in_progress", 160.0, labels=("a", "b")))
    record = add_observation(record, "d2", obs("completed", 400.0))
    text = json.dumps(record_to_dict(record))
    assert record_from_dict(json.loads(text)) == record


def test_bad_record_raises_value_error() -> None:
    with pytest.raises(ValueError):
        record_from_dict({"kind": "job"})


def test_recorded_job_payloads_fold() -> None:
    folder = shared_fixture("github", "workflow_job")
    pairs = [
        (path.name, parse_tracked("workflow_job", json.loads(path.read_text())))
        for path in sorted(folder.glob("*.json"))
    ]
    records = fold_observations(pairs)
    statuses = sorted(r.latest().status for r in records.values())
    # linters (two completed reports), Analyze, update, and the waiting job.
    assert statuses == ["completed", "in_progress", "queued", "waiting"]
    linters = next(r for r in records.values() if r.latest().name == "linters")
    state = linters.latest()
    assert state.conclusion == "failure"
    assert state.duration_seconds == 198.0
    assert state.queue_seconds == 60.0


statuses = st.sampled_from(STATUSES)


@st.composite
def histories(draw: st.DrawFn) -> list[tuple[str, Observation]]:
    count = draw(st.integers(1, 8))
    items = []
    for index in range(count):
        status = draw(statuses)
        at = float(draw(st.integers(0, 1000)))
        attempt = draw(st.integers(1, 3))
        conclusion = draw(st.sampled_from(["success", "failure", "cancelled"]))
        extra = {"conclusion": conclusion} if status == "completed" else {}
        items.append((f"d{index}", obs(status, at, attempt=attempt, **extra)))
    return items


@settings(max_examples=300, deadline=None)
@given(history=histories(), order=st.randoms(use_true_random=False), dupes=st.data())
def test_fold_ignores_order_and_duplicates(
    history: list[tuple[str, Observation]], order: Any, dupes: st.DataObject
) -> None:
    replay = list(history)
    replay += dupes.draw(st.lists(st.sampled_from(history), max_size=6))
    order.shuffle(replay)
    expected = fold_observations(history)["j-1-0000000000"].states()
    got = fold_observations(replay)["j-1-0000000000"].states()
    assert got == expected
    for state in got:
        ranks = [
            status_rank(o.status) for _, o in history if o.attempt == state.attempt
        ]
        assert status_rank(state.status) == max(ranks)
