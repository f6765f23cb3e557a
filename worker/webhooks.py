"""Receive GitHub webhook deliveries: verify, dedupe, decide, store, respond.

https://docs.github.com/en/webhooks/webhook-events-and-payloads describes the
headers and payloads; GitHub waits at most 10 s for a response, so everything slow
beyond the pull-request file listing is deferred with `Services.defer`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from shared_routing.decide import Availability, decide, decision_to_dict
from shared_routing.errors import BadRequest, PayloadTooLarge
from shared_routing.events import (
    ChangeSet,
    decode_payload,
    parse_pull_request,
    parse_push,
)
from shared_routing.signature import SIGNATURE_HEADER, verify_signature

from .app import Delivery, Router, Services
from .github import fetch_pull_request_files
from .http import Request, Response, json_response
from .policies import load_active_policy
from .pools import load_availability
from .store import get_json, put_json
from .tracking import record_delivery

log = logging.getLogger("router")

EVENT_HEADER = "X-GitHub-Event"
DELIVERY_HEADER = "X-GitHub-Delivery"
# GitHub caps webhook payloads at 25 MB.
MAX_BODY_BYTES = 25 * 1024 * 1024
DECISION_TTL_SECONDS = 90 * 24 * 3600

# Events GitHub sends that the router accepts without acting on them.
ACKNOWLEDGED_EVENTS = frozenset(
    {
        "check_run",
        "check_suite",
        "create",
        "delete",
        "deployment",
        "installation",
        "installation_repositories",
        "issue_comment",
        "issues",
        "meta",
        "pull_request_review",
        "pull_request_review_comment",
        "release",
        "repository",
        "repository_dispatch",
        "status",
        "workflow_dispatch",
    }
)


def decision_key(sha: str, delivery_id: str) -> str:
    """Return the KV key of the decision made for `sha` by one delivery."""
    return f"decision:{sha}:{delivery_id}"


def register(router: Router) -> None:
    """Register the webhook endpoint and the push and pull_request handlers."""

    async def receive(
        request: Request, services: Services, params: Mapping[str, str]
    ) -> Response:
        return await receive_webhook(request, services, router)

    router.add("POST", "/webhook/github", receive, auth="none")
    router.add_event("push", route_push)
    router.add_event("pull_request", route_pull_request)


# GitHub's event names are lower-case words joined by underscores, and its
# delivery ids are GUIDs; both end up in KV keys and metric labels.
EVENT_NAME = re.compile(r"[a-z][a-z_]{0,63}")
DELIVERY_ID = re.compile(r"[!-~]{1,200}")


def required_header(request: Request, name: str, pattern: re.Pattern[str]) -> str:
    """Return the header's value, or raise `BadRequest` when missing or malformed."""
    value = (request.header(name) or "").strip()
    if not value:
        raise BadRequest(f"missing {name} header")
    if not pattern.fullmatch(value):
        raise BadRequest(
            f"{name} header {value[:80]!r} is invalid; expected {pattern.pattern}"
        )
    return value


async def receive_webhook(
    request: Request, services: Services, router: Router
) -> Response:
    """Verify a delivery and hand it to the handler registered for its event."""
    if len(request.body) > MAX_BODY_BYTES:
        raise PayloadTooLarge(
            f"body is {len(request.body)} bytes; GitHub sends at most 25 MB"
        )
    # The signature is checked before anything in the body or headers is trusted.
    verify_signature(
        request.body, request.header(SIGNATURE_HEADER), services.config.webhook_secrets
    )
    event = required_header(request, EVENT_HEADER, EVENT_NAME)
    delivery_id = required_header(request, DELIVERY_HEADER, DELIVERY_ID)
    payload = decode_payload(request.body, request.header("content-type"))
    delivery = Delivery(delivery_id, event, payload, services.clock())
    if event == "ping":
        await record_delivery(services, delivery_id, event, "ok", delivery.received_at)
        return json_response(200, ping_answer(delivery))
    handler = router.events.get(event)
    if handler is not None:
        return await handler(delivery, services)
    known = event in ACKNOWLEDGED_EVENTS
    note = "event accepted, nothing to route" if known else "event not handled"
    result = "ignored" if known else "unknown"
    await record_delivery(services, delivery_id, event, result, delivery.received_at)
    return json_response(202, {"delivery": delivery_id, "event": event, "note": note})


def ping_answer(delivery: Delivery) -> dict[str, Any]:
    """Return the response body for GitHub's `ping`, sent when a webhook is created."""
    hook = delivery.payload.get("hook")
    hook_id = hook.get("id") if isinstance(hook, Mapping) else None
    return {
        "delivery": delivery.id,
        "event": "ping",
        "hook_id": hook_id,
        "zen": delivery.payload.get("zen"),
        "ok": True,
    }


async def route_push(delivery: Delivery, services: Services) -> Response:
    """Decide the pool for a push."""
    change = parse_push(delivery.payload)
    return await route_change(delivery, change, services)


async def route_pull_request(delivery: Delivery, services: Services) -> Response:
    """Decide the pool for a pull request, listing its files from the REST API."""
    change = parse_pull_request(delivery.payload)
    stored = await stored_decision(services, change, delivery)
    if stored is not None:
        return stored
    change = await fetch_pull_request_files(change, services)
    return await route_change(delivery, change, services, checked=True)


async def stored_decision(
    services: Services, change: ChangeSet, delivery: Delivery
) -> Response | None:
    """Return the response stored for a redelivery, or None for a new delivery."""
    record = await get_json(services.store, decision_key(change.sha, delivery.id))
    if record is None:
        return None
    return json_response(200, {**record, "redelivery": True})


async def route_change(
    delivery: Delivery, change: ChangeSet, services: Services, checked: bool = False
) -> Response:
    """Decide, store the decision under its delivery, and return it."""
    if not checked:
        stored = await stored_decision(services, change, delivery)
        if stored is not None:
            return stored
    active = await load_active_policy(services.store)
    availability: Availability = await load_availability(services.store)
    decision = decide(change, active.policy, availability)
    record = decision_record(
        decision_to_dict(decision),
        change,
        delivery.id,
        delivery.received_at,
        active.identity,
    )
    await put_json(
        services.store,
        decision_key(change.sha, delivery.id),
        record,
        DECISION_TTL_SECONDS,
    )
    await record_delivery(
        services, delivery.id, delivery.event, "routed", delivery.received_at
    )
    log.info(
        "delivery %s %s %s@%s -> %s (%s)",
        delivery.id,
        delivery.event,
        change.repository,
        change.sha[:12],
        decision.pool,
        decision.rule,
    )
    return json_response(200, {**record, "redelivery": False})


def decision_record(
    decision: dict[str, Any],
    change: ChangeSet,
    source: str,
    decided_at: float,
    policy_id: str,
) -> dict[str, Any]:
    """Return the stored and returned form of a decision, with its context.

    `policy_id` is the stored policy version the decision was made under, so a
    later upload, even one that keeps the policy's name and version, is seen.
    """
    return {
        **decision,
        "policy_id": policy_id,
        "delivery": source,
        "repository": change.repository,
        "sha": change.sha,
        "ref": change.ref,
        "event": change.event,
        "pr_number": change.pr_number,
        "decided_at": round(decided_at, 3),
    }
