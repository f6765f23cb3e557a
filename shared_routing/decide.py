"""Decide which runner pool builds a change: first matching rule, then fallback.

`decide` tries the policy's rules in order. The first whose conditions all
hold picks the pool, and a change that no rule matches goes to the default
pool. The routing mode then limits the pools. Self-hosted-only skips rules
that route to GitHub-hosted pools, and uses a GitHub-hosted pool only as the
last resort when every self-hosted pool is down. Github-hosted-only always
ends on a GitHub-hosted pool. Finally the pool's fallback chain replaces a
pool that is down or saturated. The decision carries a trace that a person
can read: each rule tried, the paths and patterns that matched, and the
fallback taken.

When the change set is truncated (GitHub left files out), a path rule that
no seen file matches could still match an unseen one. Such a rule wins as if
it matched, because the rules that need the most capable runners come first,
and a rule with `paths_match = "all"` never matches, because the unseen files
could fail it. The decision is then marked conservative. When the policy
names a `conservative_pool`, a rule that only could match sends the change
there instead of to its own pool, so an unknown change does not take a scarce
pool such as a single GPU machine.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .decide_rules import _compile, _Context, _evaluate
from .decide_trace import _describe_change, _match_lines, _rule_reason, _seen
from .events import ChangeSet
from .policy import Policy, Pool, Rule


@dataclass(frozen=True)
class Availability:
    """Pools that operators marked down (no runner) or saturated (long queue)."""

    down: frozenset[str] = frozenset()
    saturated: frozenset[str] = frozenset()

    def state(self, pool: str) -> str:
        """Return "down", "saturated" or "up"."""
        if pool in self.down:
            return "down"
        return "saturated" if pool in self.saturated else "up"


@dataclass(frozen=True)
class Decision:
    """The pool a change builds on, its runs-on labels, and the reasons.

    `pool` is None when there is nothing to build, such as a deleted branch.
    `routed_pool` is the pool the rules and the mode chose before any
    fallback, and `fallback` is true when availability moved the build.
    """

    pool: str | None
    labels: tuple[str, ...]
    rule: str | None
    reason: str
    fallback: bool
    routed_pool: str | None
    conservative: bool
    trace: tuple[str, ...]
    policy: str
    files_seen: int
    files_total: int | None


def decision_to_dict(decision: Decision) -> dict[str, Any]:
    """Return the decision as JSON-ready data; `labels` is the runs-on list."""
    return {
        "pool": decision.pool,
        "labels": list(decision.labels),
        "rule": decision.rule,
        "reason": decision.reason,
        "fallback": decision.fallback,
        "routed_pool": decision.routed_pool,
        "conservative": decision.conservative,
        "trace": list(decision.trace),
        "policy": decision.policy,
        "files_seen": decision.files_seen,
        "files_total": decision.files_total,
    }


def decide(
    change: ChangeSet, policy: Policy, availability: Availability = Availability()
) -> Decision:
    """Choose the pool for `change` under `policy` and the pools' availability."""
    trace = [_describe_change(change, policy)]
    if change.deleted:
        return _nothing_to_build(change, policy, trace)

    compiled_policy = policy.derived("decide", _compile)
    messages = tuple(message.casefold() for message in change.messages)
    context = _Context(change, policy, compiled_policy.plan, messages)
    rule: Rule | None = None
    possible = refused = False
    for compiled in compiled_policy.rules:
        verdict = _evaluate(compiled, context)
        trace.append(f"rule {compiled.rule.name}: {verdict.detail}")
        refused = refused or verdict.refused_for_truncation
        if verdict.status in ("match", "possible"):
            rule = compiled.rule
            possible = verdict.status == "possible"
            trace.extend(_match_lines(verdict))
            reason = _rule_reason(rule, verdict, change, policy)
            break
    if rule is None:
        reason = f"no rule matched, so the default pool {policy.default_pool} builds it"
        trace.append(f"no rule matched: default pool {policy.default_pool}")
    if refused and not possible:
        reason += f" ({_seen(change)}, so no rule that needs every file could match)"
    routed = policy.default_pool if rule is None else rule.pool
    if possible and policy.conservative_pool is not None:
        routed = policy.conservative_pool
        trace.append(f"file list incomplete: conservative pool {routed}")

    allowed = _apply_mode(routed, policy, trace)
    if allowed != routed:
        reason += f"; the mode {policy.mode} does not allow {routed}, so {allowed}"
    routed = allowed
    pool, note = _place(routed, policy, availability, trace)
    if note:
        reason += f"; {note}"
    return Decision(
        pool=pool,
        labels=policy.pools[pool].labels,
        rule=None if rule is None else rule.name,
        reason=reason,
        fallback=pool != routed,
        routed_pool=routed,
        conservative=possible or refused,
        trace=tuple(trace),
        policy=policy.label,
        files_seen=change.files_seen,
        files_total=change.files_total,
    )


def _nothing_to_build(change: ChangeSet, policy: Policy, trace: list[str]) -> Decision:
    kind = "tag" if change.tag is not None else "branch"
    name = change.tag or change.branch or change.ref
    reason = f"{kind} {name} was deleted: nothing to build"
    trace.append(reason)
    return Decision(
        pool=None,
        labels=(),
        rule=None,
        reason=reason,
        fallback=False,
        routed_pool=None,
        conservative=False,
        trace=tuple(trace),
        policy=policy.label,
        files_seen=change.files_seen,
        files_total=change.files_total,
    )


# ---------------------------------------------------------------------------
# Mode and fallback


def _allowed(pool: Pool, mode: str) -> bool:
    if mode == "self-hosted-only":
        return not pool.github_hosted
    if mode == "github-hosted-only":
        return pool.github_hosted
    return True


def _apply_mode(routed: str, policy: Policy, trace: list[str]) -> str:
    """Return the pool the mode allows in place of `routed`."""
    mode = policy.mode
    pools = policy.pools
    if _allowed(pools[routed], mode):
        return routed
    if mode == "github-hosted-only":
        default = pools[policy.default_pool]
        candidates = [default] if default.github_hosted else []
    else:
        candidates = []
    candidates += [pool for pool in pools.values() if _allowed(pool, mode)]
    chosen = candidates[0].name
    trace.append(f"mode {mode}: {routed} is not allowed, so {chosen} takes it")
    return chosen


def _place(
    routed: str, policy: Policy, availability: Availability, trace: list[str]
) -> tuple[str, str]:
    """Return the pool that builds and a note on any fallback taken.

    Preference goes, in order, to:
    - the routed pool when it is up;
    - the first pool up in its fallback chain, followed breadth-first;
    - the first saturated pool in the chain, the routed pool first;
    - any other pool the mode allows, up before saturated;
    - in self-hosted-only mode, a GitHub-hosted pool as the last resort;
    - the routed pool, when every pool is down.
    """
    state = availability.state(routed)
    if state == "up":
        return routed, ""
    mode = policy.mode
    pools = policy.pools
    chain = _chain(routed, pools, mode)
    others = [
        name
        for name, pool in pools.items()
        if _allowed(pool, mode) and name not in chain
    ]
    last_resort = []
    if mode == "self-hosted-only":
        last_resort = [name for name, pool in pools.items() if pool.github_hosted]
    steps: tuple[tuple[Iterable[str], str, str], ...] = (
        (chain[1:], "up", "next up in its fallback chain"),
        (chain, "saturated", "saturated, the least busy choice in its fallback chain"),
        (others, "up", "the fallback chain is down, so another pool that is up"),
        (others, "saturated", "the fallback chain is down, so another saturated pool"),
        (
            last_resort,
            "up",
            "every self-hosted pool is down, so the GitHub-hosted last resort",
        ),
        (
            last_resort,
            "saturated",
            "every self-hosted pool is down, so the GitHub-hosted last resort",
        ),
    )
    for names, required_state, explanation in steps:
        for name in names:
            if availability.state(name) == required_state:
                if name == routed:
                    note = (
                        f"{routed} is saturated and no pool in its fallback chain is up"
                    )
                else:
                    note = f"{routed} is {state}; fell back to {name} ({explanation})"
                trace.append(f"fallback: {note}")
                return name, note
    scope = "every pool" if mode == "hybrid" else f"every pool the mode {mode} allows"
    note = f"{scope} is down, so {routed} keeps the build"
    trace.append(f"fallback: {note}")
    return routed, note


def _chain(routed: str, pools: Mapping[str, Pool], mode: str) -> list[str]:
    """Return `routed` and its fallbacks, breadth-first, that the mode allows."""
    chain = [routed]
    index = 0
    while index < len(chain):
        for name in pools[chain[index]].fallback:
            pool = pools.get(name)
            if pool is not None and name not in chain and _allowed(pool, mode):
                chain.append(name)
        index += 1
    return chain
