"""Pull request deliveries list their files from a GitHub API mock on 127.0.0.1."""

from __future__ import annotations

import json
import time

import pytest
from e2e_support import Emulator, MockServer, webhook_headers

from tests.payloads import encode

pytestmark = pytest.mark.e2e

REPO = "POWERFULMOVES/PMOVES.AI"
FILES = ["pmoves/services/ollama/Dockerfile.cuda", "docs/ollama.md", "README.md"]


def pull_request(number: int, changed_files: int, head_sha: str) -> bytes:
    return encode(
        {
            "action": "synchronize",
            "number": number,
            "pull_request": {
                "number": number,
                "draft": False,
                "title": "Build the CUDA image",
                "body": "",
                "changed_files": changed_files,
                "labels": [{"name": "gpu"}],
                "head": {"ref": "feat/cuda", "sha": head_sha},
                "base": {"ref": "main", "sha": "cd" * 20},
            },
            "repository": {"full_name": REPO},
        }
    )


@pytest.fixture
def github_worker(start_emulator, mock_server: MockServer) -> Emulator:
    return start_emulator(
        extra_vars={"GITHUB_API_URL": mock_server.url, "GITHUB_TOKEN": "e2e-gh-token"}
    )


def test_pull_request_files_come_from_api(github_worker, mock_server):
    mock_server.body = json.dumps([{"filename": name} for name in FILES]).encode()
    body = pull_request(12, len(FILES), "ab" * 20)
    reply = github_worker.request(
        "POST", "/webhook/github", body, webhook_headers(body, "pull_request", "pr-1")
    )
    assert reply.status == 200, reply.body
    answer = reply.json()
    assert answer["pool"] == "ai-lab"
    assert answer["files_seen"] == 3
    assert answer["conservative"] is False
    [request] = mock_server.requests
    assert request.path == f"/repos/{REPO}/pulls/12/files?per_page=100&page=1"
    assert request.headers["authorization"] == "Bearer e2e-gh-token"
    assert "e2e-gh-token" not in "\n".join(github_worker.logs)


def test_slow_api_gives_conservative_decision_in_time(github_worker, mock_server):
    mock_server.gate.clear()
    body = pull_request(13, 40, "ef" * 20)
    started = time.perf_counter()
    reply = github_worker.request(
        "POST", "/webhook/github", body, webhook_headers(body, "pull_request", "pr-2")
    )
    elapsed = time.perf_counter() - started
    mock_server.gate.set()
    assert reply.status == 200, reply.body
    answer = reply.json()
    assert answer["conservative"] is True
    assert answer["files_total"] == 40
    # GitHub gives up on a delivery after 10 s.
    assert elapsed < 10, elapsed


def test_api_error_gives_conservative_decision(github_worker, mock_server):
    mock_server.status = 500
    mock_server.body = b'{"message": "Server Error"}'
    body = pull_request(14, 2, "12" * 20)
    reply = github_worker.request(
        "POST", "/webhook/github", body, webhook_headers(body, "pull_request", "pr-3")
    )
    assert reply.status == 200
    assert reply.json()["conservative"] is True
