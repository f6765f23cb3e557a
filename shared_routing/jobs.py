"""Parse workflow_job, workflow_run and deployment_status payloads into observations.

An `Observation` is one delivery's view of one build entity (a job, a workflow run
or a deployment): its lifecycle status, conclusion, timestamps, runner labels and
runner. The lifecycle module folds observations into state. Every parser raises
`BadRequest` naming the field path when the input is malformed.
Payload reference: https://docs.github.com/en/webhooks/webhook-events-and-payloads
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeGuard

from .errors import BadRequest
from .fields import JsonObject, show, wrong_type

TRACKED_EVENTS = ("workflow_job", "workflow_run", "deployment_status")
KINDS = ("job", "run", "deployment")

# Status names GitHub uses, mapped onto the lifecycle's status names. Deployment
# states `success`, `failure` and `error` end a deployment; `inactive` only marks
# an older deployment as superseded, so it is not a lifecycle step.
_JOB_STATUSES = {
    "queued": "queued",
    "waiting": "waiting",
    "pending": "queued",
    "requested": "requested",
    "in_progress": "in_progress",
    "completed": "completed",
}
_DEPLOYMENT_STATES = {
    "queued": ("queued", None),
    "pending": ("queued", None),
    "waiting": ("waiting", None),
    "in_progress": ("in_progress", None),
    "success": ("completed", "success"),
    "failure": ("completed", "failure"),
    "error": ("completed", "error"),
}
IGNORED_DEPLOYMENT_STATES = frozenset({"inactive"})

_REPOSITORY = re.compile(r"[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}")
_CONCLUSION = re.compile(r"[a-z_]{1,32}")
_MAX_LABELS = 64
_MAX_TEXT = 256

# Accepted timestamps. GitHub announced Actions, as a limited beta, in October
# 2018, so an earlier job time is corrupt. The parser has no clock, so the upper
# bound is only far past any real time: it keeps every accepted time in a
# four-digit UTC year, which date arithmetic handles on every platform.
EARLIEST_TIME = 1_514_764_800.0  # 2018-01-01T00:00:00Z
LATEST_TIME = 4_102_444_800.0  # 2100-01-01T00:00:00Z, excluded
TIME_FIELDS = ("created_at", "started_at", "completed_at", "event_at")


@dataclass(frozen=True, kw_only=True)
class Observation:
    """One delivery's report on one build entity.

    Times are seconds since the Unix epoch (UTC). `entity` identifies the build
    across deliveries and `attempt` is GitHub's `run_attempt` (1 for a
    deployment), so a re-run is a new attempt of the same entity.
    """

    kind: str
    entity: str
    attempt: int
    repository: str
    name: str
    status: str
    conclusion: str | None = None
    github_id: int = 0
    run_id: int | None = None
    workflow: str | None = None
    sha: str | None = None
    ref: str | None = None
    labels: tuple[str, ...] = ()
    runner_name: str | None = None
    runner_group: str | None = None
    created_at: float | None = None
    started_at: float | None = None
    completed_at: float | None = None
    event_at: float | None = None


class Ignored(Exception):
    """A tracked event whose action carries no lifecycle step (not an error)."""


def entity_id(kind: str, *parts: object) -> str:
    """Return the build id of an entity: a kind letter, GitHub's id, a short hash.

    A job is identified by repository, run id and job name, because GitHub gives
    every attempt of a re-run job a new job id.
    """
    digest = hashlib.sha256("\n".join(str(p) for p in parts).encode()).hexdigest()
    return f"{kind[0]}-{parts[1]}-{digest[:10]}"


def parse_time(obj: JsonObject, key: str) -> float | None:
    """Return the ISO 8601 timestamp at `key` as epoch seconds, or None."""
    value = obj.optional_text(key)
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(
            f"{obj.field_path(key)} is not an ISO 8601 time: {show(value)}"
        ) from None
    if parsed.tzinfo is None:
        raise BadRequest(f"{obj.field_path(key)} has no time zone: {show(value)}")
    timestamp = parsed.timestamp()
    if not is_accepted_time(timestamp):
        raise BadRequest(
            f"{obj.field_path(key)} is outside the accepted years 2018 to 2099"
            f" (UTC): {show(value)}"
        )
    return timestamp


def is_accepted_time(value: object) -> TypeGuard[float]:
    """Return True when `value` is epoch seconds in the accepted window."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return EARLIEST_TIME <= value < LATEST_TIME


def rejected_time_field(obs: Observation) -> str | None:
    """Return the first time field of `obs` that is set but not an accepted time.

    A stored observation can predate the parser's time check, so readers of
    stored observations use this before doing date arithmetic on them.
    """
    for name in TIME_FIELDS:
        value = getattr(obs, name)
        if value is not None and not is_accepted_time(value):
            return name
    return None


def positive_id(obj: JsonObject, key: str) -> int:
    """Return the positive integer id at `key`."""
    value = obj.require(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise wrong_type(obj.field_path(key), "an integer", value)
    if value <= 0:
        raise BadRequest(f"{obj.field_path(key)} must be positive, not {value}")
    return value


def attempt_number(obj: JsonObject, key: str) -> int:
    """Return the run attempt at `key`; GitHub omits it on old payloads, so 1."""
    if obj.get(key) is None:
        return 1
    return positive_id(obj, key)


def short_text(obj: JsonObject, key: str) -> str | None:
    """Return the optional string at `key`, cut to a bounded length."""
    value = obj.optional_text(key)
    return value[:_MAX_TEXT] if value else None


def repository_name(payload: JsonObject) -> str:
    """Return `owner/name` from `payload.repository.full_name`."""
    repo = payload.child("repository")
    name = repo.text("full_name")
    if not _REPOSITORY.fullmatch(name):
        raise BadRequest(
            f"{repo.field_path('full_name')} is not owner/name: {show(name)}"
        )
    return name


def status_of(obj: JsonObject, key: str, table: Mapping[str, str]) -> str:
    """Return the lifecycle status for the GitHub status name at `key`."""
    value = obj.text(key)
    status = table.get(value)
    if status is None:
        raise BadRequest(f"{obj.field_path(key)} is not a known status: {show(value)}")
    return status


def conclusion_of(obj: JsonObject, status: str) -> str | None:
    """Return the conclusion of a completed job or run, None before completion."""
    value = obj.optional_text("conclusion")
    if status != "completed":
        return None
    if value is None:
        raise BadRequest(
            f"{obj.field_path('conclusion')} is missing on a completed item"
        )
    if not _CONCLUSION.fullmatch(value):
        raise BadRequest(f"{obj.field_path('conclusion')} is not valid: {show(value)}")
    return value


def job_labels(job: JsonObject) -> tuple[str, ...]:
    """Return the runs-on labels a job asked for, lower-cased (GitHub ignores case)."""
    labels = job.texts("labels")
    if len(labels) > _MAX_LABELS:
        raise BadRequest(
            f"{job.field_path('labels')} has more than {_MAX_LABELS} labels"
        )
    return tuple(label.lower()[:_MAX_TEXT] for label in labels)


def parse_workflow_job(data: Mapping[str, Any]) -> Observation:
    """Parse a `workflow_job` payload into an observation of one job attempt."""
    payload = JsonObject(data, "payload")
    repository = repository_name(payload)
    job = payload.child("workflow_job")
    status = status_of(job, "status", _JOB_STATUSES)
    run_id = positive_id(job, "run_id")
    name = job.text("name")[:_MAX_TEXT]
    started = parse_time(job, "started_at")
    completed = parse_time(job, "completed_at")
    created = parse_time(job, "created_at")
    return Observation(
        kind="job",
        entity=entity_id("job", repository, run_id, name),
        attempt=attempt_number(job, "run_attempt"),
        repository=repository,
        name=name,
        status=status,
        conclusion=conclusion_of(job, status),
        github_id=positive_id(job, "id"),
        run_id=run_id,
        workflow=short_text(job, "workflow_name"),
        sha=short_text(job, "head_sha"),
        ref=short_text(job, "head_branch"),
        labels=job_labels(job),
        runner_name=short_text(job, "runner_name"),
        runner_group=short_text(job, "runner_group_name"),
        created_at=created,
        # GitHub fills started_at with the creation time while a job is queued.
        started_at=started if status in ("in_progress", "completed") else None,
        completed_at=completed if status == "completed" else None,
        event_at=event_time(status, created, started, completed),
    )


def parse_workflow_run(data: Mapping[str, Any]) -> Observation:
    """Parse a `workflow_run` payload into an observation of one run attempt."""
    payload = JsonObject(data, "payload")
    repository = repository_name(payload)
    run = payload.child("workflow_run")
    status = status_of(run, "status", _JOB_STATUSES)
    run_id = positive_id(run, "id")
    started = parse_time(run, "run_started_at")
    updated = parse_time(run, "updated_at")
    created = parse_time(run, "created_at")
    completed = updated if status == "completed" else None
    name = short_text(run, "name")
    workflow = payload.optional_child("workflow")
    if not name and workflow is not None:
        name = short_text(workflow, "name")
    return Observation(
        kind="run",
        entity=entity_id("run", repository, run_id),
        attempt=attempt_number(run, "run_attempt"),
        repository=repository,
        name=name or "",
        status=status,
        conclusion=conclusion_of(run, status),
        github_id=run_id,
        run_id=run_id,
        workflow=short_text(run, "path"),
        sha=short_text(run, "head_sha"),
        ref=short_text(run, "head_branch"),
        created_at=created,
        started_at=started if status in ("in_progress", "completed") else None,
        completed_at=completed,
        event_at=event_time(status, created, started, completed),
    )


def parse_deployment_status(data: Mapping[str, Any]) -> Observation:
    """Parse a `deployment_status` payload into an observation of one deployment.

    Raises `Ignored` for the `inactive` state, which GitHub sets on an older
    deployment when a newer one succeeds.
    """
    payload = JsonObject(data, "payload")
    repository = repository_name(payload)
    status_obj = payload.child("deployment_status")
    deployment = payload.child("deployment")
    state = status_obj.text("state")
    if state in IGNORED_DEPLOYMENT_STATES:
        raise Ignored(f"deployment state {state!r} is not a lifecycle step")
    mapped = _DEPLOYMENT_STATES.get(state)
    if mapped is None:
        raise BadRequest(
            f"{status_obj.field_path('state')} is not a known state: {show(state)}"
        )
    status, conclusion = mapped
    deployment_id = positive_id(deployment, "id")
    at = parse_time(status_obj, "created_at")
    environment = short_text(status_obj, "environment") or short_text(
        deployment, "environment"
    )
    return Observation(
        kind="deployment",
        entity=entity_id("deployment", repository, deployment_id),
        attempt=1,
        repository=repository,
        name=environment or "",
        status=status,
        conclusion=conclusion,
        github_id=deployment_id,
        sha=short_text(deployment, "sha"),
        ref=short_text(deployment, "ref"),
        created_at=parse_time(deployment, "created_at"),
        started_at=at if status == "in_progress" else None,
        completed_at=at if status == "completed" else None,
        event_at=at,
    )


def event_time(
    status: str, created: float | None, started: float | None, completed: float | None
) -> float | None:
    """Return the time the reported status was reached, as far as the payload says."""
    if status == "completed" and completed is not None:
        return completed
    if status in ("in_progress", "completed") and started is not None:
        return started
    return created


PARSERS = {
    "workflow_job": parse_workflow_job,
    "workflow_run": parse_workflow_run,
    "deployment_status": parse_deployment_status,
}


def parse_tracked(event: str, data: Mapping[str, Any]) -> Observation:
    """Parse a payload of one of `TRACKED_EVENTS`; raise `BadRequest` for others."""
    parser = PARSERS.get(event)
    if parser is None:
        raise BadRequest(f"event {show(event)} is not tracked")
    return parser(data)
