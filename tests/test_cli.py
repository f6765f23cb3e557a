"""Tests of the `python -m shared_routing` command line, run as a subprocess."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest
from conftest import PROJECT_FIXTURES, PROJECT_ROOT, shared_fixture

PUSH = PROJECT_FIXTURES / "github" / "push"
DECISION_FIELDS = {
    "pool",
    "labels",
    "rule",
    "reason",
    "fallback",
    "routed_pool",
    "conservative",
    "trace",
    "policy",
    "files_seen",
    "files_total",
}
ERROR_LINE = re.compile(r"^hybrid-router: error: ")


def run(
    *args: str | Path, check_status: int | None = 0
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "shared_routing", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
        timeout=120,
    )
    if check_status is not None:
        assert result.returncode == check_status, result.stderr
    return result


def run_json(*args: str | Path) -> Any:
    return json.loads(run(*args).stdout)


def history_line(sha: str, when: str, *paths: str, subject: str = "change") -> str:
    return json.dumps(
        {
            "sha": sha * 40,
            "parents": [],
            "committed_at": when,
            "message_subject": subject,
            "added": [],
            "modified": list(paths),
            "removed": [],
            "renamed": [],
        }
    )


# ---------------------------------------------------------------------------
# route and explain


def test_route_ref_files_json_fields() -> None:
    output = run_json(
        "route",
        "--ref",
        "refs/heads/feature",
        "--files",
        "services/ollama/Dockerfile.cuda",
        "--format",
        "json",
    )
    assert set(output) >= DECISION_FIELDS
    assert output["pool"] == "ai-lab"
    assert output["labels"] == ["self-hosted", "ai-lab", "gpu"]
    assert output["fallback"] is False
    assert output["files_seen"] == 1
    assert output["files_total"] == 1
    assert output["ref"] == "refs/heads/feature"
    assert output["event"] == "push"
    assert output["sha"] == "0" * 40
    assert output["repository"] == "local/repository"


@pytest.mark.parametrize(
    ("ref", "files", "pool"),
    [
        ("feature", ["services/agent-zero/Dockerfile"], "vps"),
        ("feature", ["README.md", "docs/setup.md"], "github-hosted"),
        ("feature", [".github/workflows/ci.yml"], "github-hosted"),
        ("main", ["pmoves/services/publisher/app.py"], "kvm4"),
        ("develop", ["pmoves/services/publisher/app.py"], "cloudstartup"),
        ("feature", ["pmoves/services/ollama/Dockerfile.cuda"], "ai-lab"),
    ],
)
def test_route_design_examples(ref: str, files: list[str], pool: str) -> None:
    output = run_json("route", "--ref", ref, "--files", *files, "--format", "json")
    assert output["pool"] == pool


def test_route_payload_json() -> None:
    output = run_json(
        "route", "--payload", PUSH / "new-branch.json", "--format", "json"
    )
    assert output["pool"] == "ai-lab"
    assert output["ref"] == "refs/heads/feat/ollama-cuda"
    assert output["files_seen"] == 2


def test_route_payload_form_encoded() -> None:
    form = PUSH / "new-branch.form-urlencoded"
    from_form = run_json("route", "--payload", form, "--format", "json")
    from_json = run_json(
        "route", "--payload", PUSH / "new-branch.json", "--format", "json"
    )
    assert from_form == from_json


def test_route_deleted_branch_no_build() -> None:
    output = run_json(
        "route", "--payload", PUSH / "deleted-branch.json", "--format", "json"
    )
    assert output["pool"] is None
    assert output["labels"] == []


def test_route_down_pool_falls_back() -> None:
    output = run_json(
        "route",
        "--ref",
        "feature",
        "--files",
        "services/ollama/Dockerfile.cuda",
        "--down",
        "ai-lab",
        "--format",
        "json",
    )
    assert output["fallback"] is True
    assert output["routed_pool"] == "ai-lab"
    assert output["pool"] != "ai-lab"


def test_route_text_output() -> None:
    stdout = run("route", "--ref", "main", "--files", "app.py").stdout
    assert "pool: kvm4\n" in stdout
    assert 'runs-on: ["self-hosted", "vps", "kvm4", "production"]\n' in stdout


def test_explain_prints_trace() -> None:
    args = ("--ref", "feature", "--files", "docs/ollama.md")
    stdout = run("explain", *args).stdout
    trace = run_json("route", *args, "--format", "json")["trace"]
    assert trace
    assert stdout.endswith("".join(f"  {line}\n" for line in trace))
    assert "trace:\n" in stdout


# ---------------------------------------------------------------------------
# validate


def default_policy_file() -> Path:
    return PROJECT_ROOT / "shared_routing" / "default_policy.toml"


def test_validate_default_policy() -> None:
    result = run("validate", default_policy_file())
    assert result.stdout.startswith(f"{default_policy_file()}: valid policy ")
    assert "6 pools" in result.stdout


def test_validate_reports_problems(tmp_path: Path) -> None:
    text = default_policy_file().read_text()
    broken = tmp_path / "broken.toml"
    broken.write_text(text.replace('default_pool = "', 'default_pool = "nowhere-', 1))
    result = run("validate", broken, check_status=1)
    lines = result.stdout.splitlines()
    assert lines
    for line in lines:
        assert re.match(rf"^{re.escape(str(broken))}:(\d+|\?)?:? ?\S+: .+", line), line
    assert "nowhere-" in result.stdout


def test_validate_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "absent.toml"
    result = run("validate", missing, check_status=1)
    assert result.stderr == f"hybrid-router: error: {missing}: file not found\n"


# ---------------------------------------------------------------------------
# Errors


def test_route_missing_payload_file(tmp_path: Path) -> None:
    missing = tmp_path / "nothing.json"
    result = run("route", "--payload", missing, check_status=1)
    assert result.stderr == f"hybrid-router: error: {missing}: file not found\n"
    assert result.stdout == ""


def test_route_invalid_json_names_line(tmp_path: Path) -> None:
    payload = tmp_path / "push.json"
    payload.write_text('{\n  "ref": "refs/heads/main",\n  "after": }\n')
    result = run("route", "--payload", payload, check_status=1)
    assert result.stderr == (
        f"hybrid-router: error: {payload}:3: "
        "invalid JSON: Expecting value (column 12)\n"
    )


def test_route_payload_field_error(tmp_path: Path) -> None:
    payload = tmp_path / "push.json"
    data = json.loads((PUSH / "forced.json").read_text())
    del data["repository"]["full_name"]
    payload.write_text(json.dumps(data))
    result = run("route", "--payload", payload, check_status=1)
    assert result.stderr == (
        f"hybrid-router: error: {payload}: payload.repository.full_name is missing\n"
    )


def test_route_bad_policy_lists_problems(tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    text = default_policy_file().read_text()
    policy.write_text(text.replace('default_pool = "', 'default_pool = "nowhere-', 1))
    result = run("route", "--ref", "main", "--policy", policy, check_status=1)
    lines = result.stderr.splitlines()
    assert lines
    for line in lines:
        assert line.startswith(f"hybrid-router: error: {policy}:"), line


def test_route_unknown_pool_in_down() -> None:
    result = run("route", "--ref", "main", "--down", "gpu-farm", check_status=2)
    assert result.stderr.startswith(
        "hybrid-router: error: unknown pool 'gpu-farm' in --down (pools: "
    )
    assert "ai-lab" in result.stderr


def test_route_invalid_sha() -> None:
    result = run("route", "--ref", "main", "--sha", "xyz", check_status=1)
    assert result.stderr == (
        "hybrid-router: error: --sha must be a commit SHA of 40 or 64 hex digits, "
        "not 'xyz'\n"
    )


def test_route_needs_payload_or_ref() -> None:
    result = run("route", check_status=2)
    assert "one of the arguments --payload --ref is required" in result.stderr


def test_route_unsupported_payload_event() -> None:
    result = run(
        "route", "--payload", PUSH / "forced.json", "--event", "release", check_status=2
    )
    assert result.stderr == (
        "hybrid-router: error: --event 'release' cannot be read from a payload "
        "(supported: push, pull_request)\n"
    )


def test_route_form_body_invalid_json(tmp_path: Path) -> None:
    payload = tmp_path / "push.form"
    payload.write_text("payload=" + quote_plus('{"ref": '))
    result = run("route", "--payload", payload, check_status=1)
    assert ERROR_LINE.match(result.stderr)
    assert f"{payload}: payload field is not valid JSON: " in result.stderr


# ---------------------------------------------------------------------------
# simulate


def test_simulate_small_history_json(tmp_path: Path) -> None:
    history = tmp_path / "small.jsonl"
    history.write_text(
        "\n".join(
            [
                history_line(
                    "a", "2025-11-30T00:00:00+00:00", "services/ollama/Dockerfile.cuda"
                ),
                history_line(
                    "b", "2025-11-20T00:00:00+00:00", "services/agent-zero/Dockerfile"
                ),
                history_line("c", "2025-11-10T00:00:00+00:00", "README.md"),
                history_line("d", "2025-11-01T00:00:00+00:00", "docs/ollama.md"),
            ]
        )
        + "\n"
    )
    report = run_json("simulate", "--history", history, "--format", "json")
    builds = {entry["pool"]: entry["builds"] for entry in report["pools"]}
    assert report["commits"] == 4
    assert report["builds"] == 4
    assert builds["ai-lab"] == 1
    assert builds["vps"] == 1
    assert builds["github-hosted"] == 2
    assert report["span_days"] == 29.0
    assert report["branch"] == "feature"
    assert report["savings"] == pytest.approx(
        report["baseline"]["cost"] - report["cost"], abs=0.02
    )


def test_simulate_table_and_progress(tmp_path: Path) -> None:
    history = tmp_path / "one.jsonl"
    history.write_text(
        history_line("a", "2025-11-30T00:00:00+00:00", "README.md") + "\n"
    )
    result = run("simulate", "--history", history, "--progress")
    assert "simulating [" in result.stderr
    assert "1/1 commits" in result.stderr
    assert result.stdout.startswith("policy ")
    assert "all GitHub-hosted baseline" in result.stdout


def test_simulate_no_progress_when_not_a_terminal(tmp_path: Path) -> None:
    history = tmp_path / "one.jsonl"
    history.write_text(
        history_line("a", "2025-11-30T00:00:00+00:00", "README.md") + "\n"
    )
    assert run("simulate", "--history", history).stderr == ""


def test_simulate_invalid_line(tmp_path: Path) -> None:
    history = tmp_path / "bad.jsonl"
    history.write_text(
        history_line("a", "2025-11-30T00:00:00+00:00", "x") + "\n{oops\n"
    )
    result = run("simulate", "--history", history, check_status=1)
    assert result.stderr == (
        f"hybrid-router: error: {history}:2: invalid JSON: "
        "Expecting property name enclosed in double quotes (column 2)\n"
    )


def test_simulate_bad_field(tmp_path: Path) -> None:
    history = tmp_path / "bad.jsonl"
    history.write_text(history_line("a", "not a date", "x") + "\n")
    result = run("simulate", "--history", history, check_status=1)
    assert result.stderr == (
        f"hybrid-router: error: {history}:1: commit.committed_at is not an ISO 8601 "
        "timestamp: 'not a date'\n"
    )


def test_simulate_missing_history(tmp_path: Path) -> None:
    missing = tmp_path / "none.jsonl"
    result = run("simulate", "--history", missing, check_status=1)
    assert result.stderr == f"hybrid-router: error: {missing}: file not found\n"


def test_simulate_recorded_history_json() -> None:
    history = shared_fixture("history", "pmoves-ai-commits.jsonl")
    report = run_json("simulate", "--history", history, "--format", "json")
    assert report["commits"] == 1000
    assert sum(entry["builds"] for entry in report["pools"]) == report["builds"]
    assert sum(report["rule_hits"].values()) == report["builds"]


def test_console_script_installed() -> None:
    script = shutil.which("hybrid-router", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("hybrid-router is not installed in this environment")
    result = subprocess.run(
        [script, "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    assert result.stdout.startswith("usage: hybrid-router")
