"""A real Prometheus scrapes the Worker's /metrics; every dashboard query has data.

Signed workflow_job deliveries go into the emulator, the cron trigger rolls them
up, and then `promtool check metrics`, prometheus_client's parser and a
Prometheus server on 127.0.0.1 (temp config and storage) read the exposition.
"""

from __future__ import annotations

import http.client
import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from e2e_support import API_TOKEN, PROJECT_ROOT, Emulator, webhook_headers

from tests.payloads import make_push

pytestmark = pytest.mark.e2e

DASHBOARD = PROJECT_ROOT / "dashboards" / "grafana-ci-router.json"
SCRAPE_INTERVAL_S = 1
# Grafana replaces $__rate_interval with at least four scrape intervals.
RATE_INTERVAL = "10s"
READY_TIMEOUT_S = 60.0
REPO = "POWERFULMOVES/PMOVES.AI"


def free_port() -> int:
    """Return a port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def dashboard_queries() -> list[str]:
    """Return every PromQL expression of the dashboard's panels."""
    data = json.loads(DASHBOARD.read_text())
    return [t["expr"] for panel in data["panels"] for t in panel["targets"]]


def iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def job_payload(
    run_id: int,
    status: str,
    labels: list[str],
    runner: str | None,
    conclusion: str,
    sha: str,
) -> dict[str, Any]:
    now = time.time()
    created, started, completed = now - 900, now - 840, now - 600
    return {
        "action": status,
        "repository": {"full_name": REPO},
        "workflow_job": {
            "id": run_id,
            "run_id": run_id,
            "run_attempt": 1,
            "name": "build",
            "status": status,
            "conclusion": conclusion if status == "completed" else None,
            "head_sha": sha,
            "head_branch": "main",
            "labels": labels,
            "runner_name": runner,
            "runner_group_name": "GitHub Actions"
            if runner and runner.startswith("GitHub")
            else "Default",
            "created_at": iso(created),
            "started_at": iso(started),
            "completed_at": iso(completed) if status == "completed" else None,
        },
    }


def post_delivery(emulator: Emulator, event: str, payload: Any, delivery: str) -> int:
    body = json.dumps(payload).encode()
    headers = webhook_headers(body, event, delivery)
    return emulator.request("POST", "/webhook/github", body, headers).status


@pytest.fixture(scope="module")
def metrics_text(emulator: Emulator) -> str:
    """Route a push, deliver its jobs on four pools, run the rollup, get /metrics.

    The default policy routes a push to main to kvm4; the kvm4-labelled job
    that a kvm2 runner took is a fallback.
    """
    push = make_push("refs/heads/main", ["src/app.py"], "fix: handle retries")
    assert post_delivery(emulator, "push", push, "push-1") == 200
    sha = push["after"]
    production = ["self-hosted", "vps", "kvm4", "production"]
    jobs = [
        (1, ["self-hosted", "vps"], "vps-runner-1", "success"),
        (2, production, "kvm2-runner-1", "failure"),
        (3, ["self-hosted", "ai-lab", "gpu"], "ai-lab-gpu-1", "success"),
        (4, ["ubuntu-latest"], "GitHub Actions 2", "success"),
    ]
    for run_id, labels, runner, conclusion in jobs:
        for status in ("queued", "in_progress", "completed"):
            payload = job_payload(run_id, status, labels, runner, conclusion, sha)
            code = post_delivery(
                emulator, "workflow_job", payload, f"{run_id}-{status}"
            )
            assert code == 202
    assert emulator.scheduled("*/5 * * * *").status == 200
    emulator.drain()
    headers = {"authorization": f"Bearer {API_TOKEN}"}
    reply = emulator.request("GET", "/metrics", headers=headers)
    assert reply.status == 200, reply.body
    assert reply.headers["content-type"].startswith("text/plain; version=0.0.4")
    return reply.body.decode()


def test_metrics_parse_with_client(metrics_text: str) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    families = {f.name: f for f in text_string_to_metric_families(metrics_text)}
    jobs = families["pmoves_ci_jobs"]
    counted = {
        (s.labels["runner"], s.labels["conclusion"]): s.value for s in jobs.samples
    }
    assert counted == {
        ("vps", "success"): 1,
        ("kvm2", "failure"): 1,
        ("ai-lab", "success"): 1,
        ("github-hosted", "success"): 1,
    }
    durations = {
        s.labels["runner"]: s.value
        for s in families["pmoves_ci_build_duration_seconds"].samples
        if s.name.endswith("_sum")
    }
    assert durations["vps"] == 240
    fallbacks = {
        (s.labels["routed_pool"], s.labels["runner"]): s.value
        for s in families["pmoves_ci_fallbacks"].samples
    }
    assert fallbacks == {("kvm4", "kvm2"): 1}
    print(f"\n/metrics sample:\n{metrics_text[:1500]}")


def test_promtool_check_metrics(metrics_text: str) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian package prometheus)")
    result = subprocess.run(
        [promtool, "check", "metrics"],
        input=metrics_text,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def prometheus(emulator: Emulator, tmp_path: Path) -> Iterator[str]:
    """Run Prometheus on 127.0.0.1 scraping the emulator; yield its URL."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("prometheus is not installed (Debian package prometheus)")
    token_file = tmp_path / "token"
    token_file.write_text(API_TOKEN)
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n"
        f"  scrape_interval: {SCRAPE_INTERVAL_S}s\n"
        "scrape_configs:\n"
        "  - job_name: router\n"
        "    metrics_path: /metrics\n"
        "    authorization:\n"
        f"      credentials_file: {token_file}\n"
        "    static_configs:\n"
        f"      - targets: ['127.0.0.1:{emulator.port}']\n"
    )
    port = free_port()
    log = (tmp_path / "prometheus.log").open("w")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def query(address: str, expr: str) -> dict[str, Any]:
    """Run an instant PromQL query against Prometheus' HTTP API."""
    host, port = address.split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request("GET", "/api/v1/query?" + urlencode({"query": expr}))
        response = connection.getresponse()
        data: dict[str, Any] = json.loads(response.read())
        return data
    except (OSError, ValueError):
        return {"status": "unreachable"}
    finally:
        connection.close()


def wait_for(address: str, expr: str) -> dict[str, Any]:
    """Poll until `expr` returns a non-empty result, bounded by READY_TIMEOUT_S."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    answer: dict[str, Any] = {}
    while time.monotonic() < deadline:
        answer = query(address, expr)
        if answer.get("status") == "success" and answer["data"]["result"]:
            return answer
        time.sleep(0.5)
    raise AssertionError(f"no data for {expr!r} within {READY_TIMEOUT_S} s: {answer}")


def test_dashboard_queries_return_data(metrics_text: str, prometheus: str) -> None:
    wait_for(prometheus, 'up{job="router"} == 1')
    # Rates need two samples inside RATE_INTERVAL.
    wait_for(
        prometheus,
        f"count_over_time(pmoves_ci_rollup_timestamp_seconds[{RATE_INTERVAL}]) >= 3",
    )
    empty = []
    for expr in dashboard_queries():
        answer = query(prometheus, expr.replace("$__rate_interval", RATE_INTERVAL))
        assert answer["status"] == "success", (expr, answer)
        if not answer["data"]["result"]:
            empty.append(expr)
    assert empty == []
