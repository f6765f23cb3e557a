"""Signed GitHub deliveries through the emulator: decisions, KV, errors, restart."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from e2e_support import API_TOKEN, Emulator, sign, webhook_headers

from tests.conftest import SHARED_FIXTURES, shared_fixture
from tests.payloads import encode, make_commit, make_push

pytestmark = pytest.mark.e2e

AUTH = {"authorization": f"Bearer {API_TOKEN}"}

# The routing table of the default policy: commit, changed files, ref, pool.
ROUTING_EXAMPLES = [
    (
        "feat(ollama)",
        ["services/ollama/Dockerfile.cuda"],
        "refs/heads/feat/x",
        "ai-lab",
    ),
    ("fix(agent-zero)", ["services/agent-zero/Dockerfile"], "refs/heads/fix/y", "vps"),
    (
        "docs: update README",
        ["README.md", "docs/setup.md", "docs/usage.md"],
        "refs/heads/docs/z",
        "github-hosted",
    ),
    (
        "ci: update workflows",
        [".github/workflows/build.yml", ".github/workflows/test.yml"],
        "refs/heads/ci/w",
        "github-hosted",
    ),
    ("push to main", ["src/app.py", "tests/test_app.py"], "refs/heads/main", "kvm4"),
    ("push to develop", ["src/app.py"], "refs/heads/develop", "cloudstartup"),
    (
        "prefixed GPU build",
        ["pmoves/services/ollama/Dockerfile.cuda"],
        "refs/heads/feat/x",
        "ai-lab",
    ),
]
POOL_LABELS = {
    "ai-lab": ["self-hosted", "ai-lab", "gpu"],
    "vps": ["self-hosted", "vps"],
    "cloudstartup": ["self-hosted", "vps", "cloudstartup", "staging"],
    "kvm4": ["self-hosted", "vps", "kvm4", "production"],
    "github-hosted": ["ubuntu-latest"],
}


def deliver(emulator: Emulator, event: str, body: bytes, delivery: str, **headers):
    merged = {k.lower(): v for k, v in webhook_headers(body, event, delivery).items()}
    merged.update(headers)
    merged = {k: v for k, v in merged.items() if v is not None}
    return emulator.request("POST", "/webhook/github", body, merged)


def recorded_payloads() -> list[Path]:
    folder = SHARED_FIXTURES / "github"
    return sorted(folder.glob("*/*.json")) if folder.is_dir() else []


def test_every_recorded_payload_is_answered(emulator: Emulator):
    shared_fixture("github")
    answered = {}
    for number, path in enumerate(recorded_payloads()):
        event = path.parent.name
        reply = deliver(emulator, event, path.read_bytes(), f"replay-{number}")
        answered[f"{event}/{path.name}"] = reply.status
        assert reply.status < 500, (path, reply.body)
        answer = reply.json()
        if event == "ping":
            assert reply.status == 200
        elif event in ("push", "pull_request"):
            assert reply.status == 200, (path, answer)
            assert "pool" in answer
            assert answer["delivery"] == f"replay-{number}"
            if answer["pool"] is not None:
                assert answer["labels"] == POOL_LABELS.get(
                    answer["pool"], answer["labels"]
                )
        else:
            assert reply.status in (200, 202), (path, answer)
    events = {name.split("/")[0] for name in answered}
    assert {"push", "pull_request", "ping", "workflow_job"} <= events


@pytest.mark.parametrize(("message", "files", "ref", "pool"), ROUTING_EXAMPLES)
def test_routing_example(emulator: Emulator, message, files, ref, pool):
    payload = make_push(ref, files, message)
    reply = deliver(
        emulator, "push", encode(payload), f"example-{message.replace(' ', '-')}"
    )
    assert reply.status == 200, reply.body
    answer = reply.json()
    assert answer["pool"] == pool
    assert answer["labels"] == POOL_LABELS[pool]
    assert answer["rule"]
    assert answer["reason"]


def test_docs_about_ollama_is_not_gpu_build(emulator: Emulator):
    payload = make_push("refs/heads/feat/x", ["docs/ollama.md"], "docs: ollama notes")
    answer = deliver(emulator, "push", encode(payload), "ollama-docs").json()
    assert answer["pool"] == "github-hosted"


def test_redelivery_returns_stored_decision(emulator: Emulator):
    payload = make_push("refs/heads/main", ["src/redelivered.py"])
    body = encode(payload)
    first = deliver(emulator, "push", body, "redeliver-1")
    second = deliver(emulator, "push", body, "redeliver-1")
    assert first.status == second.status == 200
    assert first.json()["redelivery"] is False
    assert second.json()["redelivery"] is True
    assert second.json()["decided_at"] == first.json()["decided_at"]
    stored = emulator.request("GET", f"/api/decisions/{payload['after']}", headers=AUTH)
    assert [d["delivery"] for d in stored.json()["decisions"]] == ["redeliver-1"]


def test_signature_failures_are_401(emulator: Emulator):
    body = encode(make_push("refs/heads/main", ["src/app.py"]))
    cases = {
        "wrong secret": {"x-hub-signature-256": sign(body, "not-the-secret")},
        "sha1 only": {
            "x-hub-signature-256": None,
            "x-hub-signature": "sha1=" + "0" * 40,
        },
        "truncated": {"x-hub-signature-256": sign(body)[:30]},
    }
    for name, headers in cases.items():
        reply = deliver(
            emulator, "push", body, f"bad-{name.replace(' ', '-')}", **headers
        )
        assert reply.status == 401, name
        assert reply.json()["code"] == "invalid_signature", name
        assert reply.json()["error"], name
    missing = deliver(
        emulator, "push", body, "bad-missing", **{"x-hub-signature-256": None}
    )
    assert "missing" in missing.json()["error"]
    tampered = body.replace(b"src/app.py", b"src/evil.py")
    reply = emulator.request(
        "POST", "/webhook/github", tampered, webhook_headers(body, "push", "bad-tamper")
    )
    assert reply.status == 401


def test_rotated_secret_is_accepted(start_emulator):
    rotated = start_emulator(
        extra_vars={"GITHUB_WEBHOOK_SECRET": "new-secret, e2e-webhook-secret"}
    )
    body = encode(make_push("refs/heads/main", ["src/app.py"]))
    old = deliver(rotated, "push", body, "rotate-old")
    assert old.status == 200
    new = deliver(
        rotated,
        "push",
        body,
        "rotate-new",
        **{"x-hub-signature-256": sign(body, "new-secret")},
    )
    assert new.status == 200


def test_malformed_body_is_400(emulator: Emulator):
    reply = deliver(emulator, "push", b'{"ref": ', "malformed")
    assert reply.status == 400
    assert "JSON" in reply.json()["error"]


def test_decisions_survive_restart(start_emulator):
    worker = start_emulator()
    payload = make_push(
        "refs/heads/develop",
        commits=[
            make_commit("one", modified=["a.py"]),
            make_commit("two", added=["b.py"]),
        ],
    )
    assert deliver(worker, "push", encode(payload), "persist-1").status == 200
    worker.restart()
    stored = worker.request("GET", f"/api/decisions/{payload['after']}", headers=AUTH)
    assert stored.status == 200
    [decision] = stored.json()["decisions"]
    assert decision["pool"] == "cloudstartup"
    assert decision["delivery"] == "persist-1"


def test_delivery_latency_is_reported(emulator: Emulator):
    """Print the time per delivery; a benchmark figure, not an assertion."""
    timings = []
    for number in range(30):
        body = encode(make_push("refs/heads/feat/t", [f"src/file{number}.py"]))
        started = time.perf_counter()
        reply = deliver(emulator, "push", body, f"latency-{number}")
        timings.append(time.perf_counter() - started)
        assert reply.status == 200
    timings.sort()
    print(
        f"\ndelivery latency over {len(timings)} pushes: "
        f"p50 {timings[len(timings) // 2] * 1000:.1f} ms, "
        f"max {timings[-1] * 1000:.1f} ms"
    )
    assert json.loads(reply.body)["pool"]
