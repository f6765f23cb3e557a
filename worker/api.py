"""The JSON API: health, routing for workflows, decisions, policy and pools."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared_routing import __version__
from shared_routing.decide import Availability, decide, decision_to_dict
from shared_routing.errors import BadRequest, NotFound
from shared_routing.events import ChangeSet, parse_route_request
from shared_routing.fields import load_json
from shared_routing.policy import policy_to_dict

from .app import Router, Services
from .http import Request, Response, json_response
from .policies import (
    VERSION_ID,
    VERSION_PREFIX,
    ActivePolicy,
    list_policy_versions,
    load_active_policy,
    store_policy,
)
from .pools import (
    availability_to_dict,
    load_availability,
    parse_availability,
    store_availability,
)
from .store import get_json, list_all
from .webhooks import decision_key, decision_record

MAX_JSON_BYTES = 1024 * 1024
SHA_CHARS = frozenset("0123456789abcdef")


def register(router: Router) -> None:
    """Register the API routes."""
    router.add("GET", "/health", health, auth="none")
    router.add("POST", "/api/route", route)
    router.add("GET", "/api/decisions/{sha}", decisions_for_commit)
    router.add("GET", "/api/policy", get_policy)
    router.add("PUT", "/api/policy", put_policy)
    router.add("GET", "/api/policy/versions", get_policy_versions)
    router.add("GET", "/api/policy/versions/{version}", get_policy_version)
    router.add("GET", "/api/pools", get_pools)
    router.add("PUT", "/api/pools/status", put_pool_status)


def read_json_body(request: Request) -> Any:
    """Decode a JSON request body, or raise `BadRequest` naming the problem."""
    if len(request.body) > MAX_JSON_BYTES:
        raise BadRequest(
            f"body is {len(request.body)} bytes; the limit is {MAX_JSON_BYTES}"
        )
    try:
        text = request.body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BadRequest(f"body is not valid UTF-8 at byte {error.start}") from error
    return load_json(text, "body")


async def health(
    request: Request, services: Services, params: Mapping[str, str]
) -> Response:
    """Report the version, environment and the policy in force."""
    active = await load_active_policy(services.store)
    return json_response(
        200,
        {
            "status": "ok",
            "version": __version__,
            "environment": services.config.environment,
            "policy": active.policy.name,
            "policy_version": active.policy.version,
            "policy_source": active.source,
        },
    )


async def route(
    request: Request, services: Services, params: Mapping[str, str]
) -> Response:
    """Return the runner labels for a workflow run, as `runs-on` accepts them.

    Without a file list, the router returns the decision stored from the
    webhook for the same repository, commit and push or pull request, so the
    workflow runs where it was routed. It decides again when the policy has
    changed since, or when that pool is now down or saturated.
    """
    data = read_json_body(request)
    change = parse_route_request(data)
    active = await load_active_policy(services.store)
    availability = await load_availability(services.store)
    if not (isinstance(data, Mapping) and "files" in data):
        stored = await stored_decisions(services, change.sha)
        matching = [record for record in stored if same_change(record, change)]
        if matching and still_valid(matching[-1], active, availability):
            return json_response(200, {**matching[-1], "source": "webhook"})
    decision = decide(change, active.policy, availability)
    record = decision_record(
        decision_to_dict(decision), change, "api", services.clock(), active.identity
    )
    return json_response(200, {**record, "source": "api"})


def same_change(record: Mapping[str, Any], change: ChangeSet) -> bool:
    """Tell whether a stored webhook decision was made for the change requested.

    The repository and the kind of event must agree, and so must the pull
    request number or, for a push, the ref.
    """
    repository = record.get("repository")
    if not isinstance(repository, str):
        return False
    # GitHub compares owner and repository names without regard to case.
    if repository.casefold() != change.repository.casefold():
        return False
    if change.pr_number is not None or change.event == "pull_request":
        return (
            record.get("event") == "pull_request"
            and change.pr_number is not None
            and record.get("pr_number") == change.pr_number
        )
    return record.get("event") == change.event and record.get("ref") == change.ref


def still_valid(
    record: Mapping[str, Any], active: ActivePolicy, availability: Availability
) -> bool:
    """Tell whether a stored decision is still right under the policy and pools now."""
    pool = record.get("pool")
    unavailable = availability.down | availability.saturated
    return (
        record.get("policy_id") == active.identity
        and pool in active.policy.pools
        and pool not in unavailable
    )


def check_sha(sha: str) -> str:
    """Return `sha` lower-cased, or raise `BadRequest` when it is not hexadecimal."""
    lowered = sha.lower()
    if len(lowered) not in (40, 64) or not set(lowered) <= SHA_CHARS:
        raise BadRequest(
            f"commit {sha[:80]!r} is not a full SHA (40 or 64 hexadecimal digits)"
        )
    return lowered


async def stored_decisions(services: Services, sha: str) -> list[dict[str, Any]]:
    """Return the decisions stored for commit `sha`, oldest first."""
    keys = await list_all(services.store, decision_key(sha, ""))
    records = [await get_json(services.store, key) for key in keys]
    found = [record for record in records if isinstance(record, dict)]
    return sorted(found, key=lambda record: record.get("decided_at") or 0)


async def decisions_for_commit(
    request: Request, services: Services, params: Mapping[str, str]
) -> Response:
    """Return every stored decision for one commit."""
    sha = check_sha(params["sha"])
    decisions = await stored_decisions(services, sha)
    if not decisions:
        raise NotFound(f"no decisions stored for commit {sha}")
    return json_response(200, {"sha": sha, "decisions": decisions})


async def get_policy(
    request: Request, services: Services, params: Mapping[str, str]
) -> Response:
    """Return the policy in force as JSON, with where it came from."""
    active = await load_active_policy(services.store)
    return json_response(
        200,
        {
            "policy": policy_to_dict(active.policy),
            "source": active.source,
            "version_id": active.version_id,
            "uploaded_at": active.uploaded_at,
        },
    )


async def put_policy(
    request: Request, services: Services, params: Mapping[str, str]
) -> Response:
    """Validate and store a new policy; a bad one gets 422 with every problem."""
    record = await store_policy(
        services.store, request.body, request.header("content-type"), services.clock()
    )
    summary = {key: value for key, value in record.items() if key != "text"}
    return json_response(201, {"stored": True, **summary})


async def get_policy_versions(
    request: Request, services: Services, params: Mapping[str, str]
) -> Response:
    """List the ids of every stored policy version, oldest first."""
    return json_response(200, {"versions": await list_policy_versions(services.store)})


async def get_policy_version(
    request: Request, services: Services, params: Mapping[str, str]
) -> Response:
    """Return one stored policy version with its text."""
    version = params["version"]
    if not VERSION_ID.fullmatch(version):
        raise BadRequest(
            f"policy version id {version[:80]!r} is invalid; "
            "GET /api/policy/versions lists the stored ids"
        )
    record = await get_json(services.store, VERSION_PREFIX + version)
    if record is None:
        raise NotFound(f"no policy version {params['version'][:80]!r}")
    return json_response(200, record)


async def get_pools(
    request: Request, services: Services, params: Mapping[str, str]
) -> Response:
    """Return the policy's pools with their labels and current availability."""
    active = await load_active_policy(services.store)
    availability = await load_availability(services.store)
    pools = [
        {
            "name": pool.name,
            "labels": list(pool.labels),
            "kind": pool.kind,
            "fallback": list(pool.fallback),
            "down": pool.name in availability.down,
            "saturated": pool.name in availability.saturated,
        }
        for pool in active.policy.pools.values()
    ]
    return json_response(200, {"pools": pools, **availability_to_dict(availability)})


async def put_pool_status(
    request: Request, services: Services, params: Mapping[str, str]
) -> Response:
    """Set which pools are down or saturated; decisions fall back from them."""
    active = await load_active_policy(services.store)
    availability = parse_availability(read_json_body(request), active.policy)
    record = await store_availability(services.store, availability, services.clock())
    return json_response(200, record)
