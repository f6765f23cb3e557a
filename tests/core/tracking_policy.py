"""A small policy with known rates, and job attempts, for the cost and metrics tests.

It has the attributes and methods of `shared_routing.policy.Policy` that cost
estimation reads, with round numbers, so expected costs are easy to compute.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared_routing.lifecycle import AttemptState


@dataclass(frozen=True)
class RatePool:
    """The pool fields cost estimation reads."""

    name: str
    labels: tuple[str, ...]
    kind: str
    capacity: int | None = None
    monthly_cost: float = 0.0
    minute_cost: float = 0.0
    runner_size: str | None = None


@dataclass(frozen=True)
class RatePolicy:
    """A policy stand-in: pools in order, GitHub rates and the baseline size."""

    pools: Mapping[str, RatePool]
    github_rates: Mapping[str, float] = field(
        default_factory=lambda: {"linux-2-core": 0.006, "linux-4-core": 0.012}
    )
    baseline_size: str = "linux-2-core"
    name: str = "test"
    version: str = "1"

    def minute_rate(self, pool_name: str) -> float:
        """Return the marginal USD per minute of a pool."""
        pool = self.pools[pool_name]
        if pool.kind == "github-hosted":
            return self.github_rates[pool.runner_size or self.baseline_size]
        return pool.minute_cost

    def baseline_rate(self) -> float:
        """Return the USD per minute of the baseline runner size."""
        return self.github_rates[self.baseline_size]


def rate_policy() -> RatePolicy:
    """Return the pools of the design's table with simple costs."""
    pools = [
        RatePool("ai-lab", ("self-hosted", "ai-lab", "gpu"), "self-hosted", 1, 40.0),
        RatePool("vps", ("self-hosted", "vps"), "self-hosted", 4, 20.0, 0.001),
        RatePool(
            "cloudstartup",
            ("self-hosted", "vps", "cloudstartup", "staging"),
            "self-hosted",
            1,
            10.0,
        ),
        RatePool(
            "kvm4", ("self-hosted", "vps", "kvm4", "production"), "self-hosted", 1, 15.0
        ),
        RatePool(
            "kvm2", ("self-hosted", "vps", "kvm2", "backup"), "self-hosted", 1, 8.0
        ),
        RatePool(
            "github-hosted",
            ("ubuntu-latest",),
            "github-hosted",
            None,
            runner_size="linux-2-core",
        ),
        RatePool(
            "github-large",
            ("ubuntu-latest-4-cores",),
            "github-hosted",
            None,
            runner_size="linux-4-core",
        ),
    ]
    return RatePolicy({pool.name: pool for pool in pools})


def finished_attempt(**values: Any) -> AttemptState:
    """Return a completed, successful job attempt on a VPS; `values` override fields."""
    base: dict[str, Any] = {
        "attempt": 1,
        "status": "completed",
        "conclusion": "success",
        "name": "build",
        "github_id": 1,
        "run_id": 1,
        "workflow": None,
        "sha": "a" * 40,
        "ref": "main",
        "labels": ("self-hosted", "vps"),
        "runner_name": "vps-1",
        "runner_group": "Default",
        "created_at": 0.0,
        "started_at": 30.0,
        "completed_at": 150.0,
        "deliveries": ("d1",),
    }
    base.update(values)
    return AttemptState(**base)
