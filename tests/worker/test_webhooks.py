"""Webhook endpoint under CPython: signatures, dedupe, decisions, errors."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from fakes import FakeHttp, MemoryStore, make_services, run
from payloads import encode, make_push

from shared_routing.signature import compute_signature
from worker.app import build_router, handle
from worker.http import Request, Response
from worker.outbound import OutboundResponse

SECRET = "test-secret"
ROUTER = build_router()


def delivery(
    event: str,
    body: bytes,
    delivery_id: str = "d-1",
    secret: str = SECRET,
    content_type: str = "application/json",
    signature: str | None = None,
) -> Request:
    headers = {
        "x-github-event": event,
        "x-github-delivery": delivery_id,
        "content-type": content_type,
        "x-hub-signature-256": signature or compute_signature(body, secret),
    }
    return Request("POST", "/webhook/github", {}, headers, body)


def send(request: Request, services=None) -> Response:
    services = services or make_services()
    return run(handle(request, services, ROUTER))


def test_push_gets_decision_and_is_stored():
    store = MemoryStore()
    payload = make_push("refs/heads/feat/x", ["services/ollama/Dockerfile.cuda"])
    response = send(delivery("push", encode(payload)), make_services(store))
    assert response.status == 200
    answer = response.json()
    assert answer["pool"] == "ai-lab"
    assert answer["labels"] == ["self-hosted", "ai-lab", "gpu"]
    assert answer["delivery"] == "d-1"
    assert answer["redelivery"] is False
    assert {"rule", "reason"} <= set(answer)
    key = f"decision:{payload['after']}:d-1"
    assert store.json(key)["pool"] == "ai-lab"
    assert store.ttls[key] is not None


def test_redelivery_returns_stored_decision_without_writing():
    store = MemoryStore()
    services = make_services(store)
    body = encode(make_push("refs/heads/main", ["src/app.py"]))
    first = send(delivery("push", body), services)
    store.reset_counts()
    second = send(delivery("push", body), services)
    assert second.status == 200
    assert store.ops["put"] == 0
    assert second.json()["redelivery"] is True
    assert second.json()["pool"] == first.json()["pool"] == "kvm4"


def test_form_encoded_body_is_accepted():
    payload = make_push("refs/heads/develop", ["src/app.py"])
    body = urlencode({"payload": json.dumps(payload)}).encode()
    response = send(
        delivery("push", body, content_type="application/x-www-form-urlencoded")
    )
    assert response.status == 200
    assert response.json()["pool"] == "cloudstartup"


@pytest.mark.parametrize(
    ("name", "signature"),
    [
        ("wrong secret", None),
        ("sha1 only", "sha1=" + "a" * 40),
        ("truncated", "sha256=abc123"),
        ("missing", ""),
    ],
)
def test_bad_signature_is_401(name, signature):
    body = encode(make_push("refs/heads/main", ["a.py"]))
    if signature is None:
        request = delivery("push", body, secret="other-secret")
    else:
        request = delivery("push", body, signature=signature or " ")
    response = send(request)
    assert response.status == 401, name
    assert response.json()["code"] == "invalid_signature"
    assert "error" in response.json()


def test_body_changed_after_signing_is_401():
    body = encode(make_push("refs/heads/main", ["a.py"]))
    signature = compute_signature(body, SECRET)
    tampered = body.replace(b"a.py", b"b.py")
    response = send(delivery("push", tampered, signature=signature))
    assert response.status == 401


def test_rotated_secret_is_accepted():
    services = make_services(webhook_secrets=("new-secret", SECRET))
    body = encode(make_push("refs/heads/main", ["a.py"]))
    response = send(delivery("push", body, secret=SECRET), services)
    assert response.status == 200


def test_malformed_json_is_400_naming_problem():
    body = b'{"ref": "refs/heads/main",'
    response = send(delivery("push", body))
    assert response.status == 400
    assert "JSON" in response.json()["error"]


def test_missing_event_header_is_400():
    body = encode(make_push("refs/heads/main", ["a.py"]))
    request = delivery("push", body)
    headers = {k: v for k, v in request.headers.items() if k != "x-github-event"}
    response = send(Request("POST", request.path, {}, headers, body))
    assert response.status == 400
    assert "X-GitHub-Event" in response.json()["error"]


def test_ping_is_200():
    body = encode(
        {"zen": "Keep it logically awesome.", "hook_id": 1, "hook": {"id": 1}}
    )
    response = send(delivery("ping", body))
    assert response.status == 200
    assert response.json()["zen"] == "Keep it logically awesome."


def test_known_unrouted_event_is_202_and_recorded():
    store = MemoryStore()
    response = send(
        delivery("release", encode({"action": "published"})), make_services(store)
    )
    assert response.status == 202
    assert "note" in response.json()
    [key] = store.keys("ev:")
    assert ":release:ignored:" in key
    assert key.endswith(":d-1")


def test_unknown_event_is_202():
    response = send(delivery("made_up_event", encode({})))
    assert response.status == 202
    assert response.json()["note"] == "event not handled"


def pull_request_payload(changed_files: int) -> dict:
    return {
        "action": "opened",
        "number": 7,
        "pull_request": {
            "number": 7,
            "draft": False,
            "title": "Build the CUDA image",
            "body": None,
            "changed_files": changed_files,
            "labels": [],
            "head": {"ref": "feat/cuda", "sha": "ab" * 20},
            "base": {"ref": "main", "sha": "cd" * 20},
        },
        "repository": {"full_name": "POWERFULMOVES/PMOVES.AI"},
    }


def test_pull_request_files_are_listed_page_by_page():
    files = [f"docs/page{i}.md" for i in range(230)] + [
        "services/ollama/Dockerfile.cuda"
    ]

    def github(method, url, headers, body):
        page = int(url.rsplit("page=", 1)[1])
        chunk = files[(page - 1) * 100 : page * 100]
        return OutboundResponse(
            200, {}, json.dumps([{"filename": f} for f in chunk]).encode()
        )

    http = FakeHttp(github)
    services = make_services(http=http, github_api_url="http://127.0.0.1:9")
    body = encode(pull_request_payload(len(files)))
    response = send(delivery("pull_request", body), services)
    assert response.status == 200
    assert len(http.requests) == 3
    answer = response.json()
    assert answer["pool"] == "ai-lab"
    assert answer["files_seen"] == len(files)
    assert answer["conservative"] is False


def test_pull_request_listing_failure_is_conservative():
    def github(method, url, headers, body):
        return OutboundResponse(502, {}, b"bad gateway")

    services = make_services(http=FakeHttp(github), github_api_url="http://127.0.0.1:9")
    response = send(delivery("pull_request", encode(pull_request_payload(3))), services)
    assert response.status == 200
    answer = response.json()
    assert answer["conservative"] is True
    assert answer["files_total"] == 3


def test_deliveries_are_counted_in_metrics():
    from worker.rollup import run_rollup
    from worker.tracking import active_policy

    services = make_services()
    push = encode(make_push("refs/heads/main", ["src/app.py"]))
    assert send(delivery("push", push, "c-1"), services).status == 200
    assert send(delivery("push", push, "c-1"), services).status == 200
    assert send(delivery("ping", encode({"zen": "z"}), "c-2"), services).status == 200
    assert send(delivery("made_up_event", encode({}), "c-3"), services).status == 202
    run(run_rollup(services, run(active_policy(services))))
    metrics = Request("GET", "/metrics", {}, {"authorization": "Bearer test-token"})
    text = send(metrics, services).body.decode()
    counted = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("pmoves_ci_webhook_deliveries_total{")
    }
    assert counted == {
        'pmoves_ci_webhook_deliveries_total{event="push",result="routed"}': 1,
        'pmoves_ci_webhook_deliveries_total{event="ping",result="ok"}': 1,
        'pmoves_ci_webhook_deliveries_total{event="made_up_event",result="unknown"}': 1,
    }


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("x-github-delivery", "caf\u00e9"),
        ("x-github-delivery", "has space"),
        ("x-github-delivery", "x" * 201),
        ("x-github-event", "Push"),
        ("x-github-event", "push:evil"),
    ],
)
def test_malformed_event_or_delivery_header_is_400(header, value):
    body = encode(make_push("refs/heads/main", ["a.py"]))
    request = delivery("push", body)
    headers = {**request.headers, header: value}
    response = send(Request("POST", request.path, {}, headers, body))
    assert response.status == 400
    assert "invalid" in response.json()["error"]
