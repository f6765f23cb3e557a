"""Tests for parsing workflow_job, workflow_run and deployment_status payloads."""

from __future__ import annotations

import contextlib
import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared_routing.aggregates import contribution_of
from shared_routing.errors import BadRequest, RouterError
from shared_routing.jobs import (
    EARLIEST_TIME,
    LATEST_TIME,
    TIME_FIELDS,
    Ignored,
    Observation,
    entity_id,
    parse_deployment_status,
    parse_tracked,
    parse_workflow_job,
    parse_workflow_run,
    rejected_time_field,
)
from shared_routing.lifecycle import fold_observations
from tests.conftest import shared_fixture
from tests.core.tracking_policy import rate_policy


def load(event: str, name: str) -> dict[str, Any]:
    path = shared_fixture("github", event, name)
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def epoch(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


def test_workflow_job_completed_fields() -> None:
    obs = parse_workflow_job(
        load("workflow_job", "completed.success.with-organization.payload.json")
    )
    assert obs.kind == "job"
    assert obs.repository == "Codertocat/Hello-World"
    assert obs.status == "completed"
    assert obs.conclusion == "success"
    assert obs.github_id == 289782451
    assert obs.run_id == 2202229078
    assert obs.attempt == 1
    assert obs.labels == ("ubuntu-latest",)
    assert obs.runner_group == "GitHub Actions"
    assert obs.created_at == epoch("2021-08-05T10:33:58Z")
    assert obs.started_at == epoch("2021-08-05T10:34:58Z")
    assert obs.completed_at == epoch("2021-08-05T10:38:16Z")
    assert obs.event_at == obs.completed_at


def test_workflow_job_queued_has_no_start() -> None:
    obs = parse_workflow_job(load("workflow_job", "queued.payload.json"))
    assert obs.status == "queued"
    assert obs.conclusion is None
    # GitHub copies created_at into started_at while a job is queued.
    assert obs.started_at is None
    assert obs.event_at == epoch("2021-09-13T02:21:13Z")


def test_workflow_job_waiting_self_hosted() -> None:
    obs = parse_workflow_job(load("workflow_job", "waiting.payload.json"))
    assert obs.status == "waiting"
    assert obs.labels == ("self-hosted", "k8s")
    assert obs.runner_name is None


def test_job_entity_spans_attempts() -> None:
    data = load("workflow_job", "completed.success.with-organization.payload.json")
    rerun = copy.deepcopy(data)
    rerun["workflow_job"]["id"] = 999
    rerun["workflow_job"]["run_attempt"] = 2
    first, second = parse_workflow_job(data), parse_workflow_job(rerun)
    assert first.entity == second.entity
    assert (first.attempt, second.attempt) == (1, 2)
    assert first.entity == entity_id(
        "job", "Codertocat/Hello-World", 2202229078, "linters"
    )


def test_workflow_run_statuses() -> None:
    requested = parse_workflow_run(load("workflow_run", "requested.payload.json"))
    completed = parse_workflow_run(load("workflow_run", "completed.payload.json"))
    assert requested.kind == completed.kind == "run"
    assert requested.entity == completed.entity
    assert requested.status == "queued"
    assert completed.status == "completed"
    assert completed.conclusion == "success"
    assert completed.completed_at == epoch("2020-10-05T16:33:49Z")
    assert completed.name == "test"


def test_deployment_status_states() -> None:
    success = parse_deployment_status(load("deployment_status", "payload.json"))
    assert success.kind == "deployment"
    assert success.status == "completed"
    assert success.conclusion == "success"
    assert success.name == "production"
    pages = parse_deployment_status(load("deployment_status", "gh-pages.payload.json"))
    assert pages.status == "in_progress"
    assert pages.entity == success.entity


def test_deployment_inactive_is_ignored() -> None:
    data = load("deployment_status", "payload.json")
    data["deployment_status"]["state"] = "inactive"
    with pytest.raises(Ignored):
        parse_deployment_status(data)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("repository"), "payload.repository is missing"),
        (
            lambda d: d["workflow_job"].pop("run_id"),
            "payload.workflow_job.run_id is missing",
        ),
        (
            lambda d: d["workflow_job"].__setitem__("status", "paused"),
            "payload.workflow_job.status is not a known status: 'paused'",
        ),
        (
            lambda d: d["workflow_job"].__setitem__("labels", "ubuntu-latest"),
            "payload.workflow_job.labels must be an array, not string",
        ),
        (
            lambda d: d["workflow_job"].__setitem__("labels", ["x", 3]),
            "payload.workflow_job.labels[1] must be a string, not number",
        ),
        (
            lambda d: d["workflow_job"].__setitem__("completed_at", "yesterday"),
            "payload.workflow_job.completed_at is not an ISO 8601 time: 'yesterday'",
        ),
        (
            lambda d: d["workflow_job"].__setitem__("conclusion", None),
            "payload.workflow_job.conclusion is missing on a completed item",
        ),
        (
            lambda d: d["workflow_job"].__setitem__("run_attempt", 0),
            "payload.workflow_job.run_attempt must be positive, not 0",
        ),
        (
            lambda d: d["repository"].__setitem__("full_name", "no-slash"),
            "payload.repository.full_name is not owner/name: 'no-slash'",
        ),
    ],
)
def test_workflow_job_errors_name_field(mutate: Any, message: str) -> None:
    data = load("workflow_job", "completed.success.with-organization.payload.json")
    mutate(data)
    with pytest.raises(BadRequest) as caught:
        parse_workflow_job(data)
    assert caught.value.message == message


def test_unknown_event_is_bad_request() -> None:
    with pytest.raises(BadRequest, match="not tracked"):
        parse_tracked("push", {})


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(
    event=st.sampled_from(["workflow_job", "workflow_run", "deployment_status"]),
    data=st.dictionaries(st.text(max_size=12), json_values, max_size=5),
)
def test_arbitrary_dicts_raise_only_domain_errors(
    event: str, data: dict[str, Any]
) -> None:
    with contextlib.suppress(RouterError, Ignored):
        parse_tracked(event, data)


PAYLOADS = {
    "workflow_job": (
        "completed.success.with-organization.payload.json",
        "workflow_job",
    ),
    "workflow_run": ("completed.payload.json", "workflow_run"),
    "deployment_status": ("payload.json", "deployment_status"),
}


@settings(max_examples=300, deadline=None)
@given(
    event=st.sampled_from(sorted(PAYLOADS)),
    choice=st.data(),
    value=json_values,
)
def test_mutated_payloads_raise_only_domain_errors(
    event: str, choice: st.DataObject, value: Any
) -> None:
    name, inner = PAYLOADS[event]
    data = load(event, name)
    section = choice.draw(st.sampled_from([inner, "deployment", "repository"]))
    target = data.get(section, data[inner])
    key = choice.draw(st.sampled_from(sorted(target)))
    target[key] = value
    with contextlib.suppress(RouterError, Ignored):
        parse_tracked(event, data)


# --- time window ------------------------------------------------------------

JOB_PAYLOAD = ("workflow_job", "completed.success.with-organization.payload.json")


def test_time_window_bounds() -> None:
    assert datetime(2018, 1, 1, tzinfo=UTC).timestamp() == EARLIEST_TIME
    assert datetime(2100, 1, 1, tzinfo=UTC).timestamp() == LATEST_TIME


@pytest.mark.parametrize("key", ["created_at", "started_at", "completed_at"])
@pytest.mark.parametrize(
    "value",
    [
        "0001-01-01T00:00:00+14:00",  # UTC year 0
        "9999-12-31T23:59:59-14:00",  # UTC year 10000
        "2017-12-31T23:59:59Z",
        "2100-01-01T00:00:00Z",
        "2099-12-31T23:00:00-01:00",
    ],
)
def test_job_time_outside_window_rejected(key: str, value: str) -> None:
    data = load(*JOB_PAYLOAD)
    data["workflow_job"][key] = value
    with pytest.raises(BadRequest) as caught:
        parse_workflow_job(data)
    assert caught.value.message == (
        f"payload.workflow_job.{key} is outside the accepted years 2018 to 2099"
        f" (UTC): {value!r}"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2018-01-01T00:00:00Z", 1_514_764_800.0),
        ("2018-01-01T01:00:00+01:00", 1_514_764_800.0),
        ("2099-12-31T23:59:59Z", 4_102_444_799.0),
    ],
)
def test_job_time_window_edges_accepted(value: str, expected: float) -> None:
    data = load(*JOB_PAYLOAD)
    data["workflow_job"]["created_at"] = value
    assert parse_workflow_job(data).created_at == expected


@pytest.mark.parametrize(
    ("event", "section", "key"),
    [
        ("workflow_run", "workflow_run", "updated_at"),
        ("workflow_run", "workflow_run", "run_started_at"),
        ("deployment_status", "deployment_status", "created_at"),
        ("deployment_status", "deployment", "created_at"),
    ],
)
def test_run_and_deployment_times_checked(event: str, section: str, key: str) -> None:
    name = "completed.payload.json" if event == "workflow_run" else "payload.json"
    data = load(event, name)
    data[section][key] = "0001-01-01T00:00:00+14:00"
    with pytest.raises(BadRequest, match=f"payload.{section}.{key} is outside"):
        parse_tracked(event, data)


@pytest.mark.parametrize("value", [-62135647200.0, 253402351199.0, "2020", True])
def test_rejected_time_field_of_stored_observation(value: Any) -> None:
    obs = Observation(
        kind="job",
        entity="j-1-0123456789",
        attempt=1,
        repository="a/b",
        name="build",
        status="completed",
        started_at=1_600_000_000.0,
        completed_at=value,
    )
    assert rejected_time_field(obs) == "completed_at"


def test_rejected_time_field_none_when_valid() -> None:
    obs = parse_workflow_job(load(*JOB_PAYLOAD))
    assert rejected_time_field(obs) is None


def iso_text(
    year: int, month: int, day: int, clock: tuple[int, int, int], zone: str
) -> str:
    hour, minute, second = clock
    return (
        f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}{zone}"
    )


zones = st.sampled_from(["Z", "+00:00", "+14:00", "-14:00", "+23:59", "-23:59", ""])
iso_like = st.builds(
    iso_text,
    st.integers(2016, 2101) | st.integers(0, 9999),
    st.integers(0, 13),
    st.integers(0, 32),
    st.tuples(st.integers(0, 24), st.integers(0, 60), st.integers(0, 60)),
    zones,
)
timestamp_texts = (
    iso_like | st.text(alphabet="0123456789-:+.TZ ", max_size=32) | st.text(max_size=12)
)


@settings(max_examples=300, deadline=None)
@given(
    created=timestamp_texts,
    started=timestamp_texts,
    completed=timestamp_texts,
)
def test_arbitrary_times_rejected_or_folded(
    created: str, started: str, completed: str
) -> None:
    data = load(*JOB_PAYLOAD)
    job = data["workflow_job"]
    job["created_at"], job["started_at"], job["completed_at"] = (
        created,
        started,
        completed,
    )
    try:
        obs = parse_workflow_job(data)
    except BadRequest as error:
        assert error.message.startswith("payload.workflow_job.")
        return
    for name in TIME_FIELDS:
        value = getattr(obs, name)
        assert value is None or EARLIEST_TIME <= value < LATEST_TIME
    # An accepted observation folds, and its finished attempt gets a cost.
    (record,) = fold_observations([("d1", obs)]).values()
    (state,) = record.states()
    assert state.completed_at == obs.completed_at
    item = contribution_of(state, rate_policy(), None)
    assert item.billed_minutes >= 0
