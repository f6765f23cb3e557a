"""Fold observations of a build into its state with a monotonic state machine.

Deliveries arrive late, twice or out of order, so the state of an attempt is a
join over the set of observations seen for it: the status moves only forward
through `TRANSITIONS`, and among several reports of the same status a fixed
order (event time, then conclusion precedence, then delivery id) picks one.
Because the fold depends only on the set, replaying any subset in any order,
with any duplicates, gives the same state. A re-run is a new `run_attempt` and
so a separate attempt of the same entity; it never rewrites an older attempt.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from .jobs import Observation

STATUSES = ("requested", "waiting", "queued", "in_progress", "completed")
TERMINAL = "completed"

# Next status for (current, reported). A job that needs an environment's
# approval waits before it is queued for a runner, so `waiting` ranks below
# `queued`. Every cell is the later of the two statuses: a report of an earlier
# status never moves an entity back, and `completed` is final.
_R, _W, _Q, _P, _C = STATUSES
TRANSITIONS: Mapping[tuple[str | None, str], str] = {
    (None, _R): _R, (None, _W): _W, (None, _Q): _Q, (None, _P): _P, (None, _C): _C,
    (_R, _R): _R, (_R, _W): _W, (_R, _Q): _Q, (_R, _P): _P, (_R, _C): _C,
    (_W, _R): _W, (_W, _W): _W, (_W, _Q): _Q, (_W, _P): _P, (_W, _C): _C,
    (_Q, _R): _Q, (_Q, _W): _Q, (_Q, _Q): _Q, (_Q, _P): _P, (_Q, _C): _C,
    (_P, _R): _P, (_P, _W): _P, (_P, _Q): _P, (_P, _P): _P, (_P, _C): _C,
    (_C, _R): _C, (_C, _W): _C, (_C, _Q): _C, (_C, _P): _C, (_C, _C): _C,
}  # fmt: skip

# When two deliveries report different conclusions for the same attempt at the
# same time, the more severe one wins, so the outcome does not depend on order.
CONCLUSION_PRECEDENCE = (
    "success",
    "neutral",
    "skipped",
    "stale",
    "inactive",
    "cancelled",
    "timed_out",
    "action_required",
    "startup_failure",
    "error",
    "failure",
)

# A redelivered or repeated report adds nothing after a handful per attempt.
MAX_OBSERVATIONS = 32


def advance(current: str | None, reported: str) -> str:
    """Return the status after `reported` arrives in state `current`."""
    return TRANSITIONS[(current, reported)]


def status_rank(status: str) -> int:
    """Return the position of `status` in the lifecycle."""
    return STATUSES.index(status)


def conclusion_rank(conclusion: str | None) -> float:
    """Return the precedence of a conclusion; unknown names rank just below failure."""
    if conclusion is None:
        return -1.0
    if conclusion in CONCLUSION_PRECEDENCE:
        return float(CONCLUSION_PRECEDENCE.index(conclusion))
    return len(CONCLUSION_PRECEDENCE) - 1.5


def order_key(delivery: str, obs: Observation) -> tuple[int, float, float, str]:
    """Return the total order of observations: the greatest one sets the state."""
    return (
        status_rank(obs.status),
        obs.event_at if obs.event_at is not None else float("-inf"),
        conclusion_rank(obs.conclusion),
        delivery,
    )


@dataclass(frozen=True)
class AttemptState:
    """The folded state of one attempt of one build entity."""

    attempt: int
    status: str
    conclusion: str | None
    name: str
    github_id: int
    run_id: int | None
    workflow: str | None
    sha: str | None
    ref: str | None
    labels: tuple[str, ...]
    runner_name: str | None
    runner_group: str | None
    created_at: float | None
    started_at: float | None
    completed_at: float | None
    deliveries: tuple[str, ...]

    @property
    def duration_seconds(self) -> float | None:
        """Return how long the attempt ran, once it has both start and end times."""
        if self.started_at is None or self.completed_at is None:
            return None
        return max(0.0, self.completed_at - self.started_at)

    @property
    def queue_seconds(self) -> float | None:
        """Return how long the attempt waited between creation and start."""
        if self.created_at is None or self.started_at is None:
            return None
        return max(0.0, self.started_at - self.created_at)


_FILLED = (
    "name",
    "github_id",
    "run_id",
    "workflow",
    "sha",
    "ref",
    "labels",
    "runner_name",
    "runner_group",
    "created_at",
    "started_at",
    "completed_at",
)


def fold_attempt(attempt: int, observations: Mapping[str, Observation]) -> AttemptState:
    """Fold the observations of one attempt, keyed by delivery id, into its state.

    The status comes from `TRANSITIONS`; each other field comes from the
    greatest observation in `order_key` order that carries it.
    """
    if not observations:
        raise ValueError("an attempt needs at least one observation")
    ranked = sorted(observations.items(), key=lambda item: order_key(*item))
    status: str | None = None
    for _, obs in ranked:
        status = advance(status, obs.status)
    assert status is not None
    values: dict[str, Any] = {}
    for name in _FILLED:
        values[name] = None
        for _, obs in reversed(ranked):
            value = getattr(obs, name)
            if value not in (None, "", ()):
                values[name] = value
                break
    top = ranked[-1][1]
    return AttemptState(
        attempt=attempt,
        status=status,
        conclusion=top.conclusion if status == TERMINAL else None,
        name=values["name"] or "",
        github_id=values["github_id"] or 0,
        run_id=values["run_id"],
        workflow=values["workflow"],
        sha=values["sha"],
        ref=values["ref"],
        labels=values["labels"] or (),
        runner_name=values["runner_name"],
        runner_group=values["runner_group"],
        created_at=values["created_at"],
        started_at=values["started_at"],
        completed_at=values["completed_at"] if status == TERMINAL else None,
        deliveries=tuple(sorted(observations)),
    )


@dataclass(frozen=True)
class EntityRecord:
    """Every observation seen for one build entity, grouped by attempt."""

    kind: str
    entity: str
    repository: str
    attempts: Mapping[int, Mapping[str, Observation]] = field(default_factory=dict)

    def has(self, delivery: str) -> bool:
        """Return True when an observation from `delivery` is already folded in."""
        return any(delivery in seen for seen in self.attempts.values())

    def states(self) -> list[AttemptState]:
        """Return the folded state of each attempt, oldest attempt first."""
        return [fold_attempt(n, obs) for n, obs in sorted(self.attempts.items())]

    def latest(self) -> AttemptState:
        """Return the state of the newest attempt."""
        number = max(self.attempts)
        return fold_attempt(number, self.attempts[number])


def add_observation(
    record: EntityRecord | None, delivery: str, obs: Observation
) -> EntityRecord:
    """Return `record` with `obs` from `delivery` added to its attempt's set."""
    if record is None:
        record = EntityRecord(obs.kind, obs.entity, obs.repository)
    if record.entity != obs.entity:
        raise ValueError(f"observation of {obs.entity} added to {record.entity}")
    seen = dict(record.attempts.get(obs.attempt, {}))
    seen[delivery] = obs
    if len(seen) > MAX_OBSERVATIONS:
        ranked = sorted(seen.items(), key=lambda item: order_key(*item))
        seen = dict(ranked[-MAX_OBSERVATIONS:])
    attempts = dict(record.attempts)
    attempts[obs.attempt] = seen
    return replace(record, attempts=attempts)


def fold_observations(
    observations: Iterable[tuple[str, Observation]],
) -> dict[str, EntityRecord]:
    """Fold `(delivery id, observation)` pairs into one record per entity."""
    records: dict[str, EntityRecord] = {}
    for delivery, obs in observations:
        records[obs.entity] = add_observation(records.get(obs.entity), delivery, obs)
    return records


_OBS_FIELDS = tuple(f.name for f in fields(Observation))


def observation_to_dict(obs: Observation) -> dict[str, Any]:
    """Return the JSON form of `obs`, leaving out empty fields."""
    data = asdict(obs)
    data["labels"] = list(obs.labels)
    return {k: v for k, v in data.items() if v not in (None, "", [])}


def observation_from_dict(data: Mapping[str, Any]) -> Observation:
    """Rebuild an observation from its JSON form; raise ValueError when it is not."""
    try:
        values = {k: data[k] for k in _OBS_FIELDS if k in data}
        values["labels"] = tuple(values.get("labels", ()))
        values.setdefault("name", "")
        return Observation(**values)
    except (TypeError, KeyError) as error:
        raise ValueError(f"stored observation is invalid: {error}") from error


def record_to_dict(record: EntityRecord) -> dict[str, Any]:
    """Return the JSON form of `record`."""
    return {
        "kind": record.kind,
        "entity": record.entity,
        "repository": record.repository,
        "attempts": {
            str(number): {d: observation_to_dict(o) for d, o in sorted(seen.items())}
            for number, seen in sorted(record.attempts.items())
        },
    }


def record_from_dict(data: Mapping[str, Any]) -> EntityRecord:
    """Rebuild a record from its JSON form; raise ValueError when it is not one."""
    try:
        attempts = {
            int(number): {d: observation_from_dict(o) for d, o in seen.items()}
            for number, seen in data["attempts"].items()
        }
        return EntityRecord(
            str(data["kind"]), str(data["entity"]), str(data["repository"]), attempts
        )
    except (TypeError, KeyError, AttributeError) as error:
        raise ValueError(f"stored record is invalid: {error}") from error


def state_to_dict(state: AttemptState) -> dict[str, Any]:
    """Return the JSON form of an attempt's state, with duration and queue time."""
    data = asdict(state)
    data["labels"] = list(state.labels)
    data["deliveries"] = len(state.deliveries)
    data["duration_seconds"] = state.duration_seconds
    data["queue_seconds"] = state.queue_seconds
    return data
