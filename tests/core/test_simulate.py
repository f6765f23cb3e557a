"""Tests for simulating a policy over a commit history."""

from __future__ import annotations

import functools
import json
import tomllib
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import PROJECT_ROOT, shared_fixture
from wcmatch import glob

from shared_routing.decide import Availability
from shared_routing.history import HistoryCommit, parse_history
from shared_routing.policy import default_policy, load_policy
from shared_routing.simulate import (
    NO_RULE,
    commit_change_set,
    format_table,
    report_to_dict,
    simulate,
)

START = datetime(2025, 11, 1, tzinfo=UTC)

# Fixed cost 365.2425 USD a month is 12 USD a day, so 10 days cost exactly 120.
SMALL_POLICY = """
name = "small"
version = "3"
mode = "hybrid"
default_pool = "cloud"
baseline_size = "linux"
default_estimated_minutes = 7.0

[pools.gpu]
kind = "self-hosted"
labels = ["self-hosted", "gpu"]
fallback = ["cloud"]
monthly_cost = 365.2425
minute_cost = 0.01

[pools.cloud]
kind = "github-hosted"
labels = ["ubuntu-latest"]
runner_size = "linux"

[[rules]]
name = "gpu"
pool = "gpu"
paths = ["**/Dockerfile.cuda"]
estimated_minutes = 20.0

[[rules]]
name = "docs"
pool = "cloud"
paths = ["**/*.md"]
paths_match = "all"
estimated_minutes = 2.0
"""


def commit(
    sha: str, days: float, *paths: str, subject: str = "change"
) -> HistoryCommit:
    return HistoryCommit(
        sha=sha * 40,
        parents=(),
        committed_at=START + timedelta(days=days),
        subject=subject,
        added=(),
        modified=tuple(paths),
        removed=(),
        renamed=(),
    )


SMALL_HISTORY = [
    commit("a", 0, "services/ollama/Dockerfile.cuda"),
    commit("b", 5, "README.md"),
    commit("c", 10, "src/app.py"),
]


def test_commit_change_set_fields() -> None:
    history_commit = HistoryCommit(
        sha="b" * 40,
        parents=("a" * 40, "c" * 40),
        committed_at=START,
        subject="docs: rename",
        added=("x.md",),
        modified=(),
        removed=(),
        renamed=(("old.md", "new.md"),),
    )
    change = commit_change_set(history_commit, branch="develop", repository="o/r")
    assert change.event == "push"
    assert change.ref == "refs/heads/develop"
    assert change.branch == "develop"
    assert change.repository == "o/r"
    assert change.sha == "b" * 40
    assert change.before == "a" * 40
    assert change.paths == ("new.md", "old.md", "x.md")
    assert change.messages == ("docs: rename",)
    assert change.truncated is False
    assert change.files_total == 3


def test_simulate_small_history_known_totals() -> None:
    policy = load_policy(SMALL_POLICY, "small.toml")
    report = simulate(SMALL_HISTORY, policy)
    gpu, cloud = report.pools
    assert report.policy == "small@3"
    assert report.commits == 3
    assert report.builds == 3
    assert report.skipped == 0
    assert report.span_days == 10.0
    assert report.builds_by_pool() == {"gpu": 1, "cloud": 2}
    assert gpu.minutes == 20.0
    assert gpu.variable_cost == pytest.approx(0.20)
    assert gpu.fixed_cost == pytest.approx(120.0)
    assert cloud.minutes == 9.0
    assert cloud.minute_rate == 0.006
    assert cloud.variable_cost == pytest.approx(0.054)
    assert cloud.fixed_cost == 0.0
    assert report.minutes == 29.0
    assert report.cost == pytest.approx(120.254)
    assert report.baseline_cost == pytest.approx(0.174)
    assert report.savings == pytest.approx(-120.08)
    assert dict(report.rule_hits) == {"gpu": 1, "docs": 1, NO_RULE: 1}


def test_simulate_fallback_keeps_rule_minutes() -> None:
    policy = load_policy(SMALL_POLICY, "small.toml")
    report = simulate(
        SMALL_HISTORY, policy, availability=Availability(down=frozenset({"gpu"}))
    )
    assert report.builds_by_pool() == {"gpu": 0, "cloud": 3}
    assert report.fallbacks == 1
    assert report.pools[1].minutes == 29.0


def test_simulate_progress_callback() -> None:
    policy = load_policy(SMALL_POLICY, "small.toml")
    seen: list[int] = []
    simulate(SMALL_HISTORY, policy, on_commit=seen.append)
    assert seen == [1, 2, 3]


def test_simulate_empty_history() -> None:
    report = simulate([], load_policy(SMALL_POLICY, "small.toml"))
    assert report.commits == 0
    assert report.span_days == 0.0
    assert report.cost == 0.0
    assert report.first_commit_at is None
    assert report_to_dict(report)["first_commit_at"] is None


def test_report_to_dict_and_table() -> None:
    report = simulate(SMALL_HISTORY, load_policy(SMALL_POLICY, "small.toml"))
    data = report_to_dict(report)
    assert json.loads(json.dumps(data)) == data
    assert data["pools"][0] == {
        "pool": "gpu",
        "kind": "self-hosted",
        "builds": 1,
        "minutes": 20.0,
        "minute_rate": 0.01,
        "variable_cost": 0.2,
        "fixed_cost": 120.0,
        "cost": 120.2,
    }
    assert data["baseline"] == {
        "runner_size": "linux",
        "minute_rate": 0.006,
        "cost": 0.17,
    }
    assert data["savings"] == -120.08
    assert data["first_commit_at"] == "2025-11-01T00:00:00+00:00"
    assert data["rule_hits"] == {"gpu": 1, "docs": 1, NO_RULE: 1}
    table = format_table(report)
    assert "gpu              self-hosted          1       20.0" in table
    assert "estimated savings: $-120.08" in table


# ---------------------------------------------------------------------------
# The recorded history against a reference classifier
#
# The reference reads default_policy.toml with tomllib and matches every path
# with wcmatch's own matcher, one pattern at a time, so it shares no code with
# the policy loader's validation or the production matcher.

REFERENCE_FLAGS = glob.GLOBSTAR | glob.DOTGLOB | glob.CASE | glob.FORCEUNIX | glob.BRACE
MODELLED_RULE_KEYS = {
    "name",
    "description",
    "pool",
    "paths",
    "paths_match",
    "branches",
    "events",
    "message_tags",
    "estimated_minutes",
}


@functools.cache
def pattern_matcher(pattern: str) -> Any:
    return glob.compile(pattern, flags=REFERENCE_FLAGS)


@functools.cache
def path_selected(path: str, patterns: tuple[str, ...]) -> bool:
    """Apply patterns in order, so the last match decides and `!` excludes."""
    selected = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        if pattern_matcher(pattern.removeprefix("!")).match(path):
            selected = not negated
    return selected


def reference_rule(
    rules: list[dict[str, Any]], commit: HistoryCommit, branch: str
) -> str | None:
    for rule in rules:
        tags = [tag.casefold() for tag in rule.get("message_tags", [])]
        if tags and not any(tag in commit.subject.casefold() for tag in tags):
            continue
        if rule.get("events") and "push" not in rule["events"]:
            continue
        branches = rule.get("branches", [])
        if branches and not any(glob.globmatch(branch, b) for b in branches):
            continue
        patterns = tuple(rule.get("paths", ()))
        if patterns:
            paths = commit.paths
            if rule.get("paths_match", "any") == "all":
                if not paths or not all(path_selected(p, patterns) for p in paths):
                    continue
            elif not any(path_selected(p, patterns) for p in paths):
                continue
        return str(rule["name"])
    return None


def test_recorded_history_matches_reference() -> None:
    history_path = shared_fixture("history", "pmoves-ai-commits.jsonl")
    commits = list(
        parse_history(history_path.read_text().splitlines(), str(history_path))
    )
    policy_path = PROJECT_ROOT / "shared_routing" / "default_policy.toml"
    data = tomllib.loads(policy_path.read_text())
    rules = data["rules"]
    for rule in rules:
        unmodelled = set(rule) - MODELLED_RULE_KEYS
        assert not unmodelled, (
            f"reference does not model {unmodelled} in {rule['name']}"
        )
    assert data["mode"] == "hybrid"

    pools_by_rule = {rule["name"]: rule["pool"] for rule in rules}
    minutes_by_rule = {rule["name"]: rule["estimated_minutes"] for rule in rules}
    expected_builds: Counter[str] = Counter()
    expected_minutes: Counter[str] = Counter()
    expected_hits: Counter[str] = Counter()
    for history_commit in commits:
        rule = reference_rule(rules, history_commit, "feature")
        pool = data["default_pool"] if rule is None else pools_by_rule[rule]
        expected_builds[pool] += 1
        expected_hits[rule or NO_RULE] += 1
        minutes = (
            data["default_estimated_minutes"] if rule is None else minutes_by_rule[rule]
        )
        expected_minutes[pool] += minutes

    report = simulate(commits, default_policy(), branch="feature")
    assert report.commits == 1000
    assert report.builds_by_pool() == {
        name: expected_builds[name] for name in data["pools"]
    }
    assert dict(report.rule_hits) == dict(expected_hits)
    for usage in report.pools:
        assert usage.minutes == pytest.approx(expected_minutes[usage.pool]), usage.pool

    first = min(c.committed_at for c in commits)
    last = max(c.committed_at for c in commits)
    # A month is an average Gregorian month: 365.2425 days / 12.
    months = (last - first).total_seconds() / 86_400 / (365.2425 / 12)
    fixed = sum(pool["monthly_cost"] * months for pool in data["pools"].values())
    rates = data["github_rates"]
    variable = 0.0
    for name, pool in data["pools"].items():
        if pool["kind"] == "github-hosted":
            size = pool.get("runner_size", data["baseline_size"])
            variable += expected_minutes[name] * rates[size]
        else:
            variable += expected_minutes[name] * pool.get("minute_cost", 0.0)
    assert report.cost == pytest.approx(fixed + variable)
    baseline_rate = rates[data["baseline_size"]]
    assert report.baseline_cost == pytest.approx(
        sum(expected_minutes.values()) * baseline_rate
    )
