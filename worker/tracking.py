"""Track builds: record job deliveries, serve /metrics, /api/builds and /api/costs.

A workflow_job, workflow_run or deployment_status delivery costs one KV write
and no read: its parsed observation goes to a key named by time bucket, event,
result, entity and delivery id. The same delivery always lands on a key holding
the same observation, and the rollup folds by delivery id, so a redelivery
changes nothing. Everything else is computed by the cron rollup (`rollup.py`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shared_routing.costs import MICROS_PER_DOLLAR, fixed_cost_micros
from shared_routing.errors import BadRequest, NotFound
from shared_routing.jobs import KINDS, TRACKED_EVENTS, Ignored, parse_tracked
from shared_routing.lifecycle import STATUSES, observation_to_dict
from shared_routing.metrics import (
    MetricsSnapshot,
    pool_infos,
    render_metrics,
    snapshot_from_dict,
)
from shared_routing.policy import Policy

from .app import Delivery, Router, Services
from .http import PROMETHEUS_CONTENT_TYPE, Request, Response, json_response
from .policies import load_active_policy
from .rollup import build_detail, run_rollup
from .rollup_days import DAILY_HISTORY_DAYS
from .rollup_keys import (
    DAY,
    EVENT_TTL_SECONDS,
    NO_ENTITY,
    SNAPSHOT_KEY,
    build_key,
    day_of,
    day_start,
    event_key,
    index_key,
)
from .store import get_json

_EVENT_NAME = re.compile(r"[a-z_]{1,64}")
_RESULT = re.compile(r"[a-z_]{1,32}")
_BUILD_ID = re.compile(r"[jrd]-[0-9]{1,20}-[0-9a-f]{10}")
# ASCII digits only: str.isdigit() and float() also take other scripts' digits.
_EPOCH_SECONDS = re.compile(r"[0-9]{1,20}(\.[0-9]{1,9})?")
_LIMIT = re.compile(r"[0-9]{1,4}")
SINCE_FORMS = "a date (YYYY-MM-DD), an ISO 8601 time with a zone, or epoch seconds"
# `since` of /api/builds reaches back as far as the build indexes (32-day TTL)
# and that of /api/costs as far as the rollup's daily cost history.
MAX_BUILDS_DAYS = 31
MAX_COSTS_DAYS = DAILY_HISTORY_DAYS
DEFAULT_BUILDS_LIMIT = 100
MAX_BUILDS_LIMIT = 1000
DEFAULT_COSTS_DAYS = 30
BUILDS_PARAMETERS = ("kind", "limit", "pool", "repository", "since", "status")
COSTS_PARAMETERS = ("since",)


def register(router: Router) -> None:
    """Register the tracked events, the rollup and the metrics and build routes."""
    for event in TRACKED_EVENTS:
        router.add_event(event, track_delivery)
    router.add_cron(rollup_cron)
    router.add("GET", "/metrics", get_metrics, auth="bearer")
    router.add("GET", "/api/builds", list_builds, auth="bearer")
    router.add("GET", "/api/builds/{build_id}", get_build, auth="bearer")
    router.add("GET", "/api/costs", get_costs, auth="bearer")


async def record_delivery(
    services: Services,
    delivery_id: str,
    event: str,
    result: str,
    received_at: float,
    value: Mapping[str, Any] | None = None,
) -> str:
    """Write the one key that records a delivery, so the rollup counts it.

    The webhook layer may call this for events it handles itself (result such
    as "routed", "ignored", "unknown"); tracked events call it with their
    observation. Returns the key written.
    """
    name = event if _EVENT_NAME.fullmatch(event) else "other"
    outcome = result if _RESULT.fullmatch(result) else "other"
    entity = str(value["obs"]["entity"]) if value and "obs" in value else NO_ENTITY
    key = event_key(received_at, name, outcome, entity, delivery_id)
    body = dict(value or {})
    body["at"] = received_at
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    await services.store.put(key, text, EVENT_TTL_SECONDS)
    return key


async def track_delivery(delivery: Delivery, services: Services) -> Response:
    """Record a workflow_job, workflow_run or deployment_status delivery.

    A payload that does not parse is recorded as "invalid" and rejected with
    400 and the field path that is wrong.
    """
    try:
        obs = parse_tracked(delivery.event, delivery.payload)
    except Ignored as reason:
        await record_delivery(
            services, delivery.id, delivery.event, "ignored", delivery.received_at
        )
        return json_response(
            202, {"delivery": delivery.id, "tracked": False, "note": str(reason)}
        )
    except BadRequest:
        await record_delivery(
            services, delivery.id, delivery.event, "invalid", delivery.received_at
        )
        raise
    await record_delivery(
        services,
        delivery.id,
        delivery.event,
        "tracked",
        delivery.received_at,
        {"obs": observation_to_dict(obs)},
    )
    return json_response(
        202,
        {
            "delivery": delivery.id,
            "tracked": True,
            "build": obs.entity,
            "attempt": obs.attempt,
            "status": obs.status,
        },
    )


async def active_policy(services: Services) -> Policy:
    """Return the policy in force: the uploaded one, or the default policy."""
    return (await load_active_policy(services.store)).policy


async def rollup_cron(cron: str, scheduled_time: float, services: Services) -> None:
    """Run the rollup on every cron trigger; it is idempotent."""
    await run_rollup(services, await active_policy(services))


async def load_snapshot(services: Services) -> MetricsSnapshot:
    """Return the stored metrics snapshot, or an empty one from the active policy."""
    stored = await get_json(services.store, SNAPSHOT_KEY)
    if isinstance(stored, dict):
        try:
            return snapshot_from_dict(stored)
        except ValueError:
            pass
    policy = await active_policy(services)
    # NOTE: before the first rollup there is nothing to count, so only the
    # policy's pool gauges have samples.
    return MetricsSnapshot(0.0, {}, {}, {}, pool_infos(policy))


async def get_metrics(
    request: Request, services: Services, params: Mapping[str, str]
) -> Response:
    """Serve the Prometheus text exposition of the latest rollup."""
    snapshot = await load_snapshot(services)
    text = render_metrics(snapshot)
    return Response(200, text.encode(), {"content-type": PROMETHEUS_CONTENT_TYPE})


def check_parameters(query: Mapping[str, str], accepted: tuple[str, ...]) -> None:
    """Raise BadRequest naming the first query parameter not in `accepted`."""
    unknown = sorted(set(query) - set(accepted))
    if unknown:
        name = unknown[0][:40]
        raise BadRequest(
            f"unknown query parameter {name!r}; accepted: {', '.join(accepted)}",
            parameter=name,
        )


def parse_since(
    value: str | None, now: float, default_days: int, max_days: int, reason: str
) -> float:
    """Return `since` as epoch seconds, from the start of the day `max_days` back.

    `since` is a date, an ISO 8601 time with a zone, or epoch seconds. An empty
    value means `default_days` back. The error message gives `reason`, which
    explains where the window ends.
    """
    if value is None or value == "":
        return now - default_days * DAY
    since = _since_seconds(value)
    oldest = day_of(now - max_days * DAY)
    if not day_start(oldest) <= since <= now:
        raise BadRequest(
            f"query parameter since={value[:40]!r} is out of range: use a time "
            f"from {oldest} ({max_days} days back, {reason}) up to now, as "
            f"{SINCE_FORMS}",
            parameter="since",
        )
    return since


def _since_seconds(value: str) -> float:
    text = value.strip()
    if _EPOCH_SECONDS.fullmatch(text):
        return float(text)
    try:
        if len(text) == 10:
            return day_start(text)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, OverflowError):
        raise BadRequest(
            f"query parameter since={value[:40]!r} is not {SINCE_FORMS}",
            parameter="since",
        ) from None
    if parsed.tzinfo is None:
        raise BadRequest(
            f"query parameter since={value[:40]!r} has no time zone; add one, such"
            f" as Z, to use {SINCE_FORMS}",
            parameter="since",
        )
    return parsed.timestamp()


def parse_limit(value: str | None) -> int:
    """Return the `limit` query parameter, from 1 to `MAX_BUILDS_LIMIT`."""
    if value is None:
        return DEFAULT_BUILDS_LIMIT
    if not _LIMIT.fullmatch(value) or not 1 <= int(value) <= MAX_BUILDS_LIMIT:
        raise BadRequest(
            f"query parameter limit={value[:40]!r} must be a whole number from 1 "
            f"to {MAX_BUILDS_LIMIT}",
            parameter="limit",
        )
    return int(value)


async def list_builds(
    request: Request, services: Services, params: Mapping[str, str]
) -> Response:
    """List builds the router first saw since `since`, filtered by the query."""
    query = request.query
    check_parameters(query, BUILDS_PARAMETERS)
    now = services.clock()
    since = parse_since(
        query.get("since"), now, 1, MAX_BUILDS_DAYS, "as far as builds are indexed"
    )
    status = query.get("status")
    if status is not None and status not in STATUSES:
        raise BadRequest(
            f"status must be one of {', '.join(STATUSES)}", parameter="status"
        )
    kind = query.get("kind")
    if kind is not None and kind not in KINDS:
        raise BadRequest(f"kind must be one of {', '.join(KINDS)}", parameter="kind")
    limit = parse_limit(query.get("limit"))
    builds: list[dict[str, Any]] = []
    day = day_of(since)
    while day <= day_of(now):
        index = await get_json(services.store, index_key(day))
        if isinstance(index, dict):
            builds.extend(b for b in index.values() if _matches(b, query, since))
        day = day_of(day_start(day) + DAY)
    builds.sort(key=lambda b: (b.get("first_seen") or 0, b["id"]), reverse=True)
    return json_response(
        200, {"builds": builds[:limit], "count": len(builds), "since": since}
    )


def _matches(build: Mapping[str, Any], query: Mapping[str, str], since: float) -> bool:
    seen = build.get("first_seen")
    if seen is not None and seen < since:
        return False
    for name in ("repository", "pool", "status", "kind"):
        wanted = query.get(name)
        if wanted is not None and build.get(name) != wanted:
            return False
    return True


async def get_build(
    request: Request, services: Services, params: Mapping[str, str]
) -> Response:
    """Return one build with every attempt."""
    build_id = params["build_id"]
    if not _BUILD_ID.fullmatch(build_id):
        raise BadRequest(f"build id {build_id[:40]!r} is not valid")
    stored = await get_json(services.store, build_key(build_id))
    if not isinstance(stored, dict):
        raise NotFound(f"no build {build_id}")
    return json_response(200, build_detail(stored))


async def get_costs(
    request: Request, services: Services, params: Mapping[str, str]
) -> Response:
    """Return estimated cost, baseline and savings per pool since `since`."""
    check_parameters(request.query, COSTS_PARAMETERS)
    now = services.clock()
    since = parse_since(
        request.query.get("since"),
        now,
        DEFAULT_COSTS_DAYS,
        MAX_COSTS_DAYS,
        "as far as the daily cost history goes",
    )
    stored = await get_json(services.store, SNAPSHOT_KEY)
    daily: Mapping[str, Any] = (
        stored.get("daily", {}) if isinstance(stored, dict) else {}
    )
    policy = await active_policy(services)
    first_day = day_of(since)
    pools: dict[str, dict[str, int]] = {}
    for day, per_pool in sorted(daily.items()):
        if day < first_day:
            continue
        for pool, figures in per_pool.items():
            row = pools.setdefault(pool, {})
            for name, value in figures.items():
                row[name] = row.get(name, 0) + int(value)
    period = now - day_start(first_day)
    for name in policy.pools:
        pools.setdefault(name, {})
    result = {pool: _cost_row(row, policy, pool, period) for pool, row in pools.items()}
    total = {
        key: round(sum(r[key] for r in result.values()), 6)
        for key in (
            "estimated_cost",
            "baseline_cost",
            "savings",
            "fixed_cost",
            "net_savings",
        )
    }
    total["jobs"] = sum(r["jobs"] for r in result.values())
    return json_response(
        200,
        {
            "since": day_start(first_day),
            "until": now,
            "policy": f"{policy.name}@{policy.version}",
            "baseline_rate": policy.baseline_rate(),
            "pools": result,
            "total": total,
            "rollup_at": stored.get("generated_at")
            if isinstance(stored, dict)
            else None,
        },
    )


def _cost_row(
    row: Mapping[str, int], policy: Any, pool: str, period: float
) -> dict[str, Any]:
    cost = row.get("cost_micros", 0)
    baseline = row.get("baseline_micros", 0)
    fixed = fixed_cost_micros(policy, pool, period)
    return {
        "jobs": row.get("jobs", 0),
        "billed_minutes": row.get("billed_minutes", 0),
        "fallbacks": row.get("fallbacks", 0),
        "estimated_cost": cost / MICROS_PER_DOLLAR,
        "baseline_cost": baseline / MICROS_PER_DOLLAR,
        "savings": (baseline - cost) / MICROS_PER_DOLLAR,
        "fixed_cost": fixed / MICROS_PER_DOLLAR,
        "net_savings": (baseline - cost - fixed) / MICROS_PER_DOLLAR,
    }
