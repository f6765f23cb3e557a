"""Replay a repository history through a policy and total builds, minutes and cost.

Every commit is routed as a push of that one commit to `branch`, with every
path it changed (renames count both names). Minutes per build are the winning
rule's `estimated_minutes`, or the policy's `default_estimated_minutes` for the
default pool. A pool costs its minutes times its marginal rate, plus its fixed
`monthly_cost` prorated over the days between the first and the last commit.
The baseline runs every build on GitHub-hosted runners at the policy's
baseline rate. All figures are estimates built from the policy's numbers.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .costs import MICROS_PER_DOLLAR, fixed_cost_micros, job_cost
from .decide import Availability, Decision, decide
from .events import BRANCH_PREFIX, ChangeSet
from .history import HistoryCommit
from .policy import Policy

DEFAULT_BRANCH = "feature"
DEFAULT_REPOSITORY = "local/history"

# Mean length of a Gregorian month, used to prorate monthly costs.
SECONDS_PER_DAY = 86_400

# Key of the rule-hit count for decisions that no rule made (the default pool).
NO_RULE = "(no rule)"


@dataclass(frozen=True)
class PoolUsage:
    """Builds, minutes and estimated cost of one pool over the history."""

    pool: str
    kind: str
    builds: int
    minutes: float
    minute_rate: float
    variable_cost: float
    fixed_cost: float

    @property
    def cost(self) -> float:
        """Return the pool's total estimated cost: marginal plus prorated fixed."""
        return self.variable_cost + self.fixed_cost


@dataclass(frozen=True)
class SimulationReport:
    """Totals of routing one history with one policy: builds, minutes and cost."""

    policy: str
    branch: str
    commits: int
    builds: int
    skipped: int
    fallbacks: int
    conservative: int
    first_commit_at: datetime | None
    last_commit_at: datetime | None
    span_days: float
    pools: tuple[PoolUsage, ...]
    rule_hits: tuple[tuple[str, int], ...]
    minutes: float
    cost: float
    baseline_size: str
    baseline_rate: float
    baseline_cost: float

    @property
    def savings(self) -> float:
        """Return the baseline cost minus the policy's cost, in USD."""
        return self.baseline_cost - self.cost

    def builds_by_pool(self) -> dict[str, int]:
        """Return the number of builds routed to each pool, pools in policy order."""
        return {usage.pool: usage.builds for usage in self.pools}


def commit_change_set(
    commit: HistoryCommit,
    *,
    branch: str = DEFAULT_BRANCH,
    repository: str = DEFAULT_REPOSITORY,
) -> ChangeSet:
    """Return the change set of a push of `commit` alone to `branch`."""
    paths = commit.paths
    return ChangeSet(
        event="push",
        repository=repository,
        ref=BRANCH_PREFIX + branch,
        sha=commit.sha,
        before=commit.parents[0] if commit.parents else None,
        paths=paths,
        messages=(commit.subject,) if commit.subject else (),
        files_total=len(paths),
        commit_count=1,
    )


def simulate(
    commits: Iterable[HistoryCommit],
    policy: Policy,
    *,
    branch: str = DEFAULT_BRANCH,
    repository: str = DEFAULT_REPOSITORY,
    availability: Availability | None = None,
    on_commit: Callable[[int], None] | None = None,
) -> SimulationReport:
    """Route every commit with `policy` and total the result.

    `on_commit`, when given, is called with the number of commits done after
    each one, so a caller can show progress.
    """
    available = availability if availability is not None else Availability()
    tally = _Tally(policy)
    for count, commit in enumerate(commits, start=1):
        change = commit_change_set(commit, branch=branch, repository=repository)
        tally.add(commit, decide(change, policy, available))
        if on_commit is not None:
            on_commit(count)
    return tally.report(branch)


class _Tally:
    """Running totals of a simulation."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.minutes_by_rule = {
            rule.name: rule.estimated_minutes for rule in policy.rules
        }
        self.commits = 0
        self.skipped = 0
        self.fallbacks = 0
        self.conservative = 0
        self.first: datetime | None = None
        self.last: datetime | None = None
        self.builds: Counter[str] = Counter()
        self.minutes: defaultdict[str, float] = defaultdict(float)
        self.cost_micros: Counter[str] = Counter()
        self.baseline_micros = 0
        self.rule_hits: Counter[str] = Counter()

    def add(self, commit: HistoryCommit, decision: Decision) -> None:
        self.commits += 1
        moment = commit.committed_at
        if self.first is None or moment < self.first:
            self.first = moment
        if self.last is None or moment > self.last:
            self.last = moment
        if decision.pool is None:
            self.skipped += 1
            return
        self.rule_hits[decision.rule or NO_RULE] += 1
        self.builds[decision.pool] += 1
        minutes = self._build_minutes(decision)
        cost = job_cost(minutes * 60, decision.pool, self.policy)
        self.minutes[decision.pool] += minutes
        self.cost_micros[decision.pool] += cost.cost_micros
        self.baseline_micros += cost.baseline_micros
        self.fallbacks += decision.fallback
        self.conservative += decision.conservative

    def _build_minutes(self, decision: Decision) -> float:
        if decision.rule is not None and decision.rule in self.minutes_by_rule:
            return self.minutes_by_rule[decision.rule]
        return self.policy.default_estimated_minutes

    def report(self, branch: str) -> SimulationReport:
        policy = self.policy
        span_days = 0.0
        if self.first is not None and self.last is not None:
            span_days = (self.last - self.first).total_seconds() / SECONDS_PER_DAY
        span_seconds = span_days * SECONDS_PER_DAY
        pools = tuple(
            PoolUsage(
                pool=name,
                kind=pool.kind,
                builds=self.builds[name],
                minutes=self.minutes[name],
                minute_rate=policy.minute_rate(name),
                variable_cost=self.cost_micros[name] / MICROS_PER_DOLLAR,
                fixed_cost=fixed_cost_micros(policy, name, span_seconds)
                / MICROS_PER_DOLLAR,
            )
            for name, pool in policy.pools.items()
        )
        rule_order = [rule.name for rule in policy.rules] + [NO_RULE]
        minutes = sum(usage.minutes for usage in pools)
        return SimulationReport(
            policy=f"{policy.name}@{policy.version}",
            branch=branch,
            commits=self.commits,
            builds=sum(self.builds.values()),
            skipped=self.skipped,
            fallbacks=self.fallbacks,
            conservative=self.conservative,
            first_commit_at=self.first,
            last_commit_at=self.last,
            span_days=span_days,
            pools=pools,
            rule_hits=tuple(
                (name, self.rule_hits[name])
                for name in rule_order
                if self.rule_hits[name]
            ),
            minutes=minutes,
            cost=sum(usage.cost for usage in pools),
            baseline_size=policy.baseline_size,
            baseline_rate=policy.baseline_rate(),
            baseline_cost=self.baseline_micros / MICROS_PER_DOLLAR,
        )


def report_to_dict(report: SimulationReport) -> dict[str, Any]:
    """Return the report as JSON-ready data, with money in USD and time in minutes."""
    return {
        "policy": report.policy,
        "branch": report.branch,
        "commits": report.commits,
        "builds": report.builds,
        "skipped": report.skipped,
        "fallbacks": report.fallbacks,
        "conservative": report.conservative,
        "first_commit_at": _isoformat(report.first_commit_at),
        "last_commit_at": _isoformat(report.last_commit_at),
        "span_days": round(report.span_days, 3),
        "pools": [
            {
                "pool": usage.pool,
                "kind": usage.kind,
                "builds": usage.builds,
                "minutes": round(usage.minutes, 2),
                "minute_rate": usage.minute_rate,
                "variable_cost": round(usage.variable_cost, 2),
                "fixed_cost": round(usage.fixed_cost, 2),
                "cost": round(usage.cost, 2),
            }
            for usage in report.pools
        ],
        "rule_hits": dict(report.rule_hits),
        "minutes": round(report.minutes, 2),
        "cost": round(report.cost, 2),
        "baseline": {
            "runner_size": report.baseline_size,
            "minute_rate": report.baseline_rate,
            "cost": round(report.baseline_cost, 2),
        },
        "savings": round(report.savings, 2),
    }


def _isoformat(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def format_table(report: SimulationReport) -> str:
    """Return the report as an aligned plain-text table for a terminal."""
    lines = [
        f"policy {report.policy}, branch {report.branch}: {report.commits} commits, "
        f"{report.builds} builds, {report.skipped} without a build",
        f"history {_day(report.first_commit_at)} to {_day(report.last_commit_at)} "
        f"({report.span_days:.1f} days), {report.fallbacks} fallbacks, "
        f"{report.conservative} conservative decisions",
        "",
        f"{'pool':<16} {'kind':<14} {'builds':>7} {'minutes':>10} "
        f"{'$/min':>7} {'variable $':>11} {'fixed $':>9} {'total $':>9}",
    ]
    for usage in report.pools:
        lines.append(
            f"{usage.pool:<16} {usage.kind:<14} {usage.builds:>7} "
            f"{usage.minutes:>10.1f} {usage.minute_rate:>7.4f} "
            f"{usage.variable_cost:>11.2f} {usage.fixed_cost:>9.2f} {usage.cost:>9.2f}"
        )
    lines.append(
        f"{'all pools':<16} {'':<14} {report.builds:>7} {report.minutes:>10.1f} "
        f"{'':>7} {'':>11} {'':>9} {report.cost:>9.2f}"
    )
    lines += [
        "",
        f"all GitHub-hosted baseline ({report.baseline_size}, "
        f"${report.baseline_rate:.4f}/min): ${report.baseline_cost:.2f}",
        f"estimated savings: ${report.savings:.2f}",
        "",
        f"{'rule':<32} {'builds':>7}",
    ]
    lines += [f"{name:<32} {hits:>7}" for name, hits in report.rule_hits]
    return "\n".join(lines) + "\n"


def _day(moment: datetime | None) -> str:
    return "-" if moment is None else moment.date().isoformat()
