"""Tests for pool attribution and cost estimates."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared_routing.costs import (
    SECONDS_PER_MONTH,
    billed_minutes,
    fixed_cost_micros,
    is_routed_job,
    job_cost,
    requested_pool,
    runner_pool,
)
from shared_routing.lifecycle import AttemptState
from shared_routing.policy import default_policy
from tests.core.tracking_policy import finished_attempt, rate_policy

POLICY: Any = rate_policy()


@pytest.mark.parametrize(
    ("labels", "pool"),
    [
        (["self-hosted", "vps"], "vps"),
        (["self-hosted", "vps", "kvm4", "production"], "kvm4"),
        (["Self-Hosted", "VPS", "kvm2", "backup"], "kvm2"),
        (["self-hosted", "ai-lab", "gpu"], "ai-lab"),
        (["self-hosted", "ai-lab", "gpu", "linux"], "ai-lab"),
        (["ubuntu-latest"], "github-hosted"),
        (["ubuntu-24.04"], "github-hosted"),
        (["ubuntu-latest-4-cores"], "github-large"),
        (["self-hosted", "gpu"], "ai-lab"),
        (["self-hosted", "k8s"], None),
        ([], None),
    ],
)
def test_requested_pool_most_specific(labels: list[str], pool: str | None) -> None:
    assert requested_pool(labels, POLICY) == pool


def state(**values: Any) -> AttemptState:
    return finished_attempt(**values)


@pytest.mark.parametrize(
    ("values", "pool"),
    [
        ({}, "vps"),
        ({"runner_name": "kvm2-runner-3"}, "kvm2"),
        ({"runner_name": "runner-7", "runner_group": "kvm4"}, "kvm4"),
        (
            {"runner_name": "GitHub Actions 12", "runner_group": "GitHub Actions"},
            "github-hosted",
        ),
        (
            {"labels": ("ubuntu-latest-4-cores",), "runner_group": "GitHub Actions"},
            "github-large",
        ),
        ({"labels": ("self-hosted", "vps"), "runner_name": "kvm22"}, "vps"),
        ({"labels": ("self-hosted", "k8s"), "runner_name": "pod-1"}, "unknown"),
    ],
)
def test_runner_pool_from_runner(values: dict[str, Any], pool: str) -> None:
    assert runner_pool(state(**values), POLICY) == pool


@pytest.mark.parametrize(
    ("seconds", "minutes"),
    [(0, 1), (1, 1), (59, 1), (60, 1), (60.5, 2), (61, 2), (198, 4), (3600, 60)],
)
def test_billed_minutes_round_up(seconds: float, minutes: int) -> None:
    assert billed_minutes(seconds) == minutes


@given(st.floats(min_value=0, max_value=10**7, allow_nan=False))
def test_billed_minutes_cover_run_time(seconds: float) -> None:
    minutes = billed_minutes(seconds)
    assert minutes * 60 >= seconds
    assert minutes == 1 or (minutes - 1) * 60 < seconds


def test_github_hosted_cost_per_started_minute() -> None:
    cost = job_cost(198.0, "github-hosted", POLICY)
    assert cost.billed_minutes == 4
    assert cost.cost_micros == 24_000
    assert cost.baseline_micros == 24_000
    assert cost.savings_micros == 0


def test_larger_runner_costs_more_than_baseline() -> None:
    cost = job_cost(61.0, "github-large", POLICY)
    assert cost.cost_micros == 2 * 12_000
    assert cost.baseline_micros == 2 * 6_000
    assert cost.savings_micros == -12_000


def test_self_hosted_marginal_exact_time() -> None:
    cost = job_cost(90.0, "vps", POLICY)
    assert cost.billed_minutes == 2
    assert cost.cost_micros == 1_500
    assert cost.baseline_micros == 12_000
    assert cost.savings_micros == 10_500
    free = job_cost(90.0, "ai-lab", POLICY)
    assert free.cost_micros == 0


def test_job_that_never_ran_costs_nothing() -> None:
    cost = job_cost(None, "vps", POLICY)
    assert (cost.billed_minutes, cost.cost_micros, cost.baseline_micros) == (0, 0, 0)


def test_unknown_pool_has_only_baseline() -> None:
    cost = job_cost(120.0, "unknown", POLICY)
    assert cost.cost_micros == 0
    assert cost.baseline_micros == 12_000


def test_fixed_cost_prorated() -> None:
    assert fixed_cost_micros(POLICY, "vps", SECONDS_PER_MONTH) == 20_000_000
    assert fixed_cost_micros(POLICY, "vps", SECONDS_PER_MONTH / 4) == 5_000_000
    assert fixed_cost_micros(POLICY, "github-hosted", SECONDS_PER_MONTH) == 0


def test_routed_job_by_labels_or_pool() -> None:
    decision = {
        "pool": "vps",
        "routed_pool": "ai-lab",
        "labels": ["self-hosted", "vps"],
    }
    assert is_routed_job(state(), "vps", decision)
    assert is_routed_job(state(labels=("x",)), "ai-lab", decision)
    assert not is_routed_job(
        state(labels=("ubuntu-latest",)), "github-hosted", decision
    )
    assert not is_routed_job(state(), "vps", None)


@pytest.mark.parametrize(
    ("labels", "pool"),
    [
        (["self-hosted", "ai-lab", "gpu"], "ai-lab"),
        (["self-hosted", "vps"], "vps"),
        (["self-hosted", "vps", "cloudstartup", "staging"], "cloudstartup"),
        (["self-hosted", "vps", "kvm4", "production"], "kvm4"),
        (["self-hosted", "vps", "kvm2", "backup"], "kvm2"),
        (["ubuntu-latest"], "github-hosted"),
    ],
)
def test_default_policy_pools_by_labels(labels: list[str], pool: str) -> None:
    assert requested_pool(labels, default_policy()) == pool


def test_default_policy_linux_rate() -> None:
    cost = job_cost(198.0, "github-hosted", default_policy())
    assert cost.billed_minutes == 4
    assert cost.cost_micros == 4 * 6_000
    assert cost.baseline_micros == 4 * 6_000
