"""No input makes the Worker return 5xx: arbitrary requests and signed payloads."""

from __future__ import annotations

import json

from fakes import make_services, run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared_routing.signature import compute_signature
from worker.app import build_router, handle
from worker.http import Request

ROUTER = build_router()
EVENTS = [
    "push",
    "pull_request",
    "ping",
    "workflow_job",
    "workflow_run",
    "deployment_status",
    "release",
    "nonsense",
]
PATHS = [
    "/webhook/github",
    "/api/route",
    "/api/policy",
    "/api/pools/status",
    "/api/decisions/abc",
    "/api/builds",
    "/api/costs",
    "/metrics",
    "/health",
    "/",
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=12), children, max_size=6)
    ),
    max_leaves=30,
)

# Payload-shaped objects: the keys GitHub uses, with arbitrary values.
payload_keys = st.sampled_from(
    [
        "ref",
        "before",
        "after",
        "commits",
        "head_commit",
        "repository",
        "pull_request",
        "action",
        "number",
        "workflow_job",
        "workflow_run",
        "deployment_status",
        "deployment",
        "created",
        "deleted",
        "forced",
    ]
)
payloads = st.dictionaries(payload_keys, json_values, max_size=8)


def answer(request: Request) -> int:
    return run(handle(request, make_services(), ROUTER)).status


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH"]),
    path=st.sampled_from(PATHS) | st.text(max_size=40).map(lambda s: "/" + s),
    headers=st.dictionaries(
        st.sampled_from(
            ["authorization", "content-type", "x-github-event", "x-hub-signature-256"]
        ),
        st.text(max_size=40),
    ),
    body=st.binary(max_size=200),
)
def test_arbitrary_request_never_5xx(method, path, headers, body):
    assert answer(Request(method, path, {}, headers, body)) < 500


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event=st.sampled_from(EVENTS), payload=payloads)
def test_signed_payload_never_5xx(event, payload):
    body = json.dumps(payload).encode()
    headers = {
        "x-github-event": event,
        "x-github-delivery": "fuzz-1",
        "content-type": "application/json",
        "x-hub-signature-256": compute_signature(body, "test-secret"),
    }
    assert answer(Request("POST", "/webhook/github", {}, headers, body)) < 500


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=json_values | payloads)
def test_route_request_never_5xx(data):
    body = json.dumps(data).encode()
    headers = {"authorization": "Bearer test-token", "content-type": "application/json"}
    assert answer(Request("POST", "/api/route", {}, headers, body)) < 500
