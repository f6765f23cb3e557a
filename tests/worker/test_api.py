"""JSON API under CPython: auth, route, decisions, policy upload and pools."""

from __future__ import annotations

import json
from pathlib import Path

from fakes import MemoryStore, make_services, run
from payloads import encode, make_push

from shared_routing.signature import compute_signature
from worker.app import build_router, handle
from worker.config import Config
from worker.http import Request, Response

ROUTER = build_router()
AUTH = {"authorization": "Bearer test-token"}
SHA = "4f2d8b6a1c3e5f7092b4d6f8a1c3e5b7d9f0a2c4"


def call(method, path, body=b"", headers=None, services=None, query=None) -> Response:
    services = services or make_services()
    request = Request(method, path, query or {}, {**AUTH, **(headers or {})}, body)
    return run(handle(request, services, ROUTER))


def test_health_reports_version_and_policy():
    response = call("GET", "/health", headers={"authorization": ""})
    assert response.status == 200
    assert response.json()["status"] == "ok"
    assert response.json()["policy_source"] == "built-in"


def test_api_needs_bearer_token():
    for headers in ({"authorization": ""}, {"authorization": "Bearer nope"}):
        response = call("GET", "/api/policy", headers=headers)
        assert response.status == 401
        assert response.json()["code"] == "unauthorized"


def test_unknown_path_is_json_404():
    response = call("GET", "/nowhere")
    assert response.status == 404
    assert response.json()["error"] == "no endpoint at /nowhere"


def test_wrong_method_is_405():
    response = call("DELETE", "/api/policy")
    assert response.status == 405
    assert response.json()["allowed"] == ["GET", "HEAD", "OPTIONS", "PUT"]
    assert response.headers["allow"] == "GET, HEAD, OPTIONS, PUT"


def test_missing_token_names_bearer_scheme():
    response = call("GET", "/api/policy", headers={"authorization": ""})
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_cors_preflight_for_allowed_origin():
    services = make_services(allowed_origins=("https://ops.example",))
    headers = {"origin": "https://ops.example", "authorization": ""}
    response = call("OPTIONS", "/api/policy", headers=headers, services=services)
    assert response.status == 204
    assert response.headers["access-control-allow-origin"] == "https://ops.example"
    assert response.headers["access-control-allow-methods"] == "GET, HEAD, OPTIONS, PUT"
    assert "Authorization" in response.headers["access-control-allow-headers"]
    assert response.headers["vary"] == "Origin"


def test_configured_origin_is_normalized():
    config = Config.from_env({"ALLOWED_ORIGINS": " https://Ops.Example/ ,"})
    assert config.allowed_origins == ("https://ops.example",)


def test_cors_headers_absent_for_other_origin():
    services = make_services(allowed_origins=("https://ops.example",))
    headers = {"origin": "https://evil.example"}
    response = call("GET", "/health", headers=headers, services=services)
    assert "access-control-allow-origin" not in response.headers
    assert response.headers["vary"] == "Origin"
    preflight = call("OPTIONS", "/nowhere", headers=headers, services=services)
    assert preflight.status == 404


def route_body(**fields) -> bytes:
    data = {
        "repository": "POWERFULMOVES/PMOVES.AI",
        "ref": "refs/heads/feat/x",
        "sha": SHA,
    }
    data.update(fields)
    return json.dumps(data).encode()


def test_route_with_files_returns_runs_on_labels():
    response = call(
        "POST", "/api/route", route_body(files=["services/agent-zero/Dockerfile"])
    )
    assert response.status == 200
    answer = response.json()
    assert answer["pool"] == "vps"
    assert answer["labels"] == ["self-hosted", "vps"]
    assert answer["source"] == "api"


def test_route_returns_webhook_decision_for_known_commit():
    store = MemoryStore()
    services = make_services(store)
    payload = make_push("refs/heads/feat/x", ["services/ollama/Dockerfile.cuda"])
    body = encode(payload)
    webhook = Request(
        "POST",
        "/webhook/github",
        {},
        {
            "x-github-event": "push",
            "x-github-delivery": "d-9",
            "content-type": "application/json",
            "x-hub-signature-256": compute_signature(body, "test-secret"),
        },
        body,
    )
    assert run(handle(webhook, services, ROUTER)).status == 200
    response = call(
        "POST", "/api/route", route_body(sha=payload["after"]), services=services
    )
    assert response.json()["source"] == "webhook"
    assert response.json()["pool"] == "ai-lab"
    decisions = call("GET", f"/api/decisions/{payload['after']}", services=services)
    assert decisions.status == 200
    assert [d["delivery"] for d in decisions.json()["decisions"]] == ["d-9"]


def store_push_decision(services, files=("services/ollama/Dockerfile.cuda",)):
    payload = make_push("refs/heads/feat/x", list(files))
    body = encode(payload)
    headers = {
        "x-github-event": "push",
        "x-github-delivery": "d-10",
        "content-type": "application/json",
        "x-hub-signature-256": compute_signature(body, "test-secret"),
    }
    webhook = Request("POST", "/webhook/github", {}, headers, body)
    assert run(handle(webhook, services, ROUTER)).status == 200
    return payload["after"]


def test_route_ignores_decision_of_other_repository_or_event():
    services = make_services()
    sha = store_push_decision(services)
    other_repo = route_body(sha=sha, repository="someone/fork")
    answer = call("POST", "/api/route", other_repo, services=services).json()
    assert answer["source"] == "api"
    as_pull = route_body(sha=sha, ref="refs/pull/7/merge", event="pull_request")
    answer = call("POST", "/api/route", as_pull, services=services).json()
    assert answer["source"] == "api"
    # Without files the fresh decision is conservative.
    assert answer["conservative"] is True
    assert answer["pool"] == "vps"


def test_route_decides_again_when_stored_pool_is_down():
    services = make_services()
    sha = store_push_decision(services)
    down = json.dumps({"down": ["ai-lab"]}).encode()
    assert call("PUT", "/api/pools/status", down, services=services).status == 200
    answer = call("POST", "/api/route", route_body(sha=sha), services=services).json()
    assert answer["source"] == "api"
    assert answer["pool"] != "ai-lab"


def test_route_decides_again_after_policy_change():
    services = make_services()
    sha = store_push_decision(services)
    headers = {"content-type": "application/toml"}
    assert (
        call("PUT", "/api/policy", POLICY.encode(), headers, services=services).status
        == 201
    )
    answer = call("POST", "/api/route", route_body(sha=sha), services=services).json()
    assert answer["source"] == "api"
    assert answer["pool"] == "hosted"
    assert answer["policy"] == "tiny@1"


GPU_DESCRIPTION = "CUDA or GPU images, GPU compose files and CUDA sources."


def test_route_decides_again_after_upload_with_same_version():
    services = make_services()
    sha = store_push_decision(services)
    project = Path(__file__).resolve().parents[2]
    default = (project / "shared_routing" / "default_policy.toml").read_text()
    gpu_rule = f'name = "gpu"\ndescription = "{GPU_DESCRIPTION}"\npool = '
    edited = default.replace(gpu_rule + '"ai-lab"', gpu_rule + '"kvm2"')
    assert edited != default
    headers = {"content-type": "application/toml"}
    upload = call("PUT", "/api/policy", edited.encode(), headers, services=services)
    assert upload.status == 201
    answer = call("POST", "/api/route", route_body(sha=sha), services=services).json()
    assert answer["policy"] == "pmoves-hybrid@1"
    assert answer["source"] == "api"
    assert answer["policy_id"] == upload.json()["version_id"]


def test_policy_version_id_is_checked():
    response = call("GET", "/api/policy/versions/" + "a" * 600)
    assert response.status == 400
    assert "invalid" in response.json()["error"]
    missing = call("GET", "/api/policy/versions/000000000000001-0123456789ab")
    assert missing.status == 404


def test_route_rejects_bad_body():
    response = call("POST", "/api/route", b"[1, 2")
    assert response.status == 400
    assert "line 1" in response.json()["error"]
    response = call("POST", "/api/route", json.dumps({"ref": "main"}).encode())
    assert response.status == 400
    assert "repository" in response.json()["error"]


def test_decisions_for_unknown_commit_is_404():
    assert call("GET", f"/api/decisions/{SHA}").status == 404
    assert call("GET", "/api/decisions/not-a-sha").status == 400


POLICY = """
name = "tiny"
version = "1"
default_pool = "hosted"

[pools.hosted]
kind = "github-hosted"
labels = ["ubuntu-latest"]
runner_size = "linux"
"""


def test_policy_upload_validates_and_keeps_versions():
    store = MemoryStore()
    services = make_services(store)
    bad = call(
        "PUT", "/api/policy", b"name = 1\n[pools.x]\nlabls = []\n", services=services
    )
    assert bad.status == 422
    assert bad.json()["problems"]
    assert (
        call("GET", "/api/policy/versions", services=services).json()["versions"] == []
    )

    headers = {"content-type": "application/toml"}
    first = call("PUT", "/api/policy", POLICY.encode(), headers, services=services)
    assert first.status == 201, first.json()
    second_text = POLICY.replace('version = "1"', 'version = "2"').encode()
    second = call("PUT", "/api/policy", second_text, headers, services=services)
    assert second.status == 201
    versions = call("GET", "/api/policy/versions", services=services).json()["versions"]
    assert versions == [first.json()["version_id"], second.json()["version_id"]]
    active = call("GET", "/api/policy", services=services).json()
    assert active["policy"]["version"] == "2"
    assert active["source"] == "uploaded"
    old = call("GET", f"/api/policy/versions/{versions[0]}", services=services).json()
    assert old["text"] == POLICY


def test_pool_status_drives_fallback():
    services = make_services()
    status = call(
        "PUT",
        "/api/pools/status",
        json.dumps({"down": ["ai-lab"]}).encode(),
        services=services,
    )
    assert status.status == 200
    response = call(
        "POST",
        "/api/route",
        route_body(files=["services/ollama/Dockerfile.cuda"]),
        services=services,
    )
    answer = response.json()
    assert answer["fallback"] is True
    assert answer["routed_pool"] == "ai-lab"
    assert answer["pool"] != "ai-lab"


def test_pool_status_rejects_unknown_pool():
    response = call(
        "PUT", "/api/pools/status", json.dumps({"down": ["gpu-farm"]}).encode()
    )
    assert response.status == 422
    assert "gpu-farm" in response.json()["error"]


def test_route_rejects_deeply_nested_json():
    body = b"[" * 20_000 + b"]" * 20_000
    response = call("POST", "/api/route", body)
    assert response.status == 400
    assert "deeper" in response.json()["error"]
