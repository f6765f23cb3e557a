"""Attribute jobs to runner pools and estimate what each one cost.

Money is counted in integer micro-dollars, so sums over any number of jobs in
any order are exact. GitHub rounds the minutes and partial minutes each job
uses up to the nearest whole minute on GitHub-hosted runners
(https://docs.github.com/en/billing/reference/actions-minute-multipliers);
`billed_minutes` follows that. A self-hosted pool costs a fixed monthly amount
plus an optional marginal per-minute amount, counted on the exact run time
because no bill rounds it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .lifecycle import AttemptState
from .policy import Policy

MICROS_PER_DOLLAR = 1_000_000
GITHUB_HOSTED = "github-hosted"
SELF_HOSTED = "self-hosted"
UNKNOWN_POOL = "unknown"
# GitHub names the runner group of its hosted runners "GitHub Actions", and
# hosted runner names start with it ("GitHub Actions 5").
GITHUB_RUNNER_GROUP = "GitHub Actions"
# Labels of GitHub's hosted images, such as ubuntu-latest or windows-2025.
_GITHUB_IMAGE = re.compile(r"(ubuntu|windows|macos)-[a-z0-9.\-]+")
# An average Gregorian month, for prorating monthly costs over a period.
SECONDS_PER_MONTH = 365.2425 / 12 * 86400


def requested_pool(labels: Iterable[str], policy: Policy) -> str | None:
    """Return the pool a job's runs-on labels select, or None when none fits.

    A pool fits when all of its labels are among the job's labels; the fitting
    pool with the most labels is the most specific and wins, ties going to the
    pool listed first. Without a fit, GitHub image labels select the first
    GitHub-hosted pool, and otherwise the smallest pool whose labels include
    all of the job's labels is one whose runners could take the job.
    """
    wanted = {label.lower() for label in labels}
    if not wanted:
        return None
    best: tuple[int, str] | None = None
    for name, pool in policy.pools.items():
        have = {label.lower() for label in pool.labels}
        if have and have <= wanted and (best is None or len(have) > best[0]):
            best = (len(have), name)
    if best is not None:
        return best[1]
    if any(_GITHUB_IMAGE.fullmatch(label) for label in wanted):
        return first_pool_of_kind(policy, GITHUB_HOSTED)
    supersets = [
        (len(pool.labels), name)
        for name, pool in policy.pools.items()
        if wanted <= {label.lower() for label in pool.labels}
    ]
    return min(supersets, key=lambda item: item[0])[1] if supersets else None


def first_pool_of_kind(policy: Policy, kind: str) -> str | None:
    """Return the first pool of `kind` in the policy, or None."""
    return next((n for n, p in policy.pools.items() if p.kind == kind), None)


def is_github_runner(runner_name: str | None, runner_group: str | None) -> bool:
    """Return True when GitHub's own hosted runner took the job."""
    if runner_group == GITHUB_RUNNER_GROUP:
        return True
    return runner_name is not None and runner_name.startswith(GITHUB_RUNNER_GROUP)


def runner_pool(state: AttemptState, policy: Policy) -> str:
    """Return the pool of the runner that took a job, or where it was headed.

    GitHub's payload names the runner and its group but not the runner's own
    labels, so a self-hosted runner belongs to the pool whose name appears as a
    whole word in the runner or group name (the longest such name wins).
    Failing that, the job is placed in the pool its labels asked for.
    """
    wanted = requested_pool(state.labels, policy)
    if is_github_runner(state.runner_name, state.runner_group):
        pool = policy.pools.get(wanted or "")
        if pool is not None and pool.kind == GITHUB_HOSTED:
            return wanted or UNKNOWN_POOL
        return first_pool_of_kind(policy, GITHUB_HOSTED) or UNKNOWN_POOL
    text = " ".join(t.lower() for t in (state.runner_name, state.runner_group) if t)
    named = [
        name
        for name, pool in policy.pools.items()
        if pool.kind != GITHUB_HOSTED and _word(name.lower()).search(text)
    ]
    if named:
        return max(named, key=len)
    return wanted or UNKNOWN_POOL


def _word(name: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![a-z0-9]){re.escape(name)}(?![a-z0-9])")


def billed_minutes(seconds: float) -> int:
    """Return the minutes GitHub bills for a job that ran `seconds`.

    Every started minute counts: partial minutes round up, and a job that ran
    at all is billed at least one minute, because timestamps are whole seconds.
    """
    return max(1, math.ceil(seconds / 60))


def dollars_to_micros(dollars: float) -> int:
    """Return `dollars` as whole micro-dollars."""
    return round(dollars * MICROS_PER_DOLLAR)


@dataclass(frozen=True)
class JobCost:
    """The estimated cost of one finished job and its all-GitHub-hosted baseline."""

    billed_minutes: int
    cost_micros: int
    baseline_micros: int

    @property
    def savings_micros(self) -> int:
        """Return the baseline minus the estimated cost."""
        return self.baseline_micros - self.cost_micros


def job_cost(seconds: float | None, pool_name: str, policy: Policy) -> JobCost:
    """Estimate the cost of a job that ran `seconds` on `pool_name`.

    A job that never ran on a runner (`seconds` None) costs nothing in either
    column. A job on an unknown pool has only its baseline.
    """
    if seconds is None:
        return JobCost(0, 0, 0)
    minutes = billed_minutes(seconds)
    baseline = dollars_to_micros(minutes * policy.baseline_rate())
    pool = policy.pools.get(pool_name)
    if pool is None:
        return JobCost(minutes, 0, baseline)
    rate = policy.minute_rate(pool_name)
    if pool.kind == GITHUB_HOSTED:
        return JobCost(minutes, dollars_to_micros(minutes * rate), baseline)
    return JobCost(minutes, dollars_to_micros(rate * seconds / 60), baseline)


def fixed_cost_micros(policy: Policy, pool_name: str, seconds: float) -> int:
    """Return a pool's fixed monthly cost prorated over `seconds`."""
    pool = policy.pools.get(pool_name)
    if pool is None or not pool.monthly_cost:
        return 0
    return dollars_to_micros(pool.monthly_cost * seconds / SECONDS_PER_MONTH)


def routed_pool(decision: Mapping[str, Any] | None) -> str | None:
    """Return the pool a stored routing decision's rule chose, before any fallback."""
    if decision is None:
        return None
    for key in ("routed_pool", "pool"):
        value = decision.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def is_routed_job(
    state: AttemptState, wanted: str | None, decision: Mapping[str, Any] | None
) -> bool:
    """Return True when a job requested the labels its commit's decision returned.

    A workflow also has jobs that do not use the routed labels, such as the job
    that requests the labels from the router, and only routed jobs can fall back.
    """
    if decision is None:
        return False
    labels = decision.get("labels")
    if isinstance(labels, list) and labels:
        decided = {str(label).lower() for label in labels}
        if decided == set(state.labels):
            return True
    return wanted is not None and wanted in (
        decision.get("pool"),
        routed_pool(decision),
    )
