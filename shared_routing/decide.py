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

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .events import ChangeSet
from .matching import GlobList, PathSet, Selection, plan_needles
from .policy import Policy, Pool, Rule

# Changed paths listed per rule in a trace before "and N more".
TRACE_PATHS_MAX = 10
# Paths of an all-paths rule tested one by one before selecting them in bulk;
# one that fails settles the rule at once.
_ALL_PATHS_PROBES = 8


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


# ---------------------------------------------------------------------------
# Compiled rules


@dataclass(frozen=True)
class _CompiledRule:
    rule: Rule
    paths: GlobList
    branches: GlobList
    tags: GlobList
    base_branches: GlobList
    labels: frozenset[str]
    message_tags: tuple[str, ...]


@dataclass(frozen=True)
class _CompiledPolicy:
    rules: tuple[_CompiledRule, ...]
    # Needles that reuse a shorter needle's scan; see `plan_needles`.
    plan: dict[str, str]


def _compile(policy: Policy) -> _CompiledPolicy:
    rules = _compile_rules(policy)
    needles = [needle for rule in rules for needle in rule.paths.needles()]
    return _CompiledPolicy(rules, plan_needles(needles))


def _compile_rules(policy: Policy) -> tuple[_CompiledRule, ...]:
    return tuple(
        _CompiledRule(
            rule=rule,
            paths=GlobList(rule.paths),
            branches=GlobList(rule.branches),
            tags=GlobList(rule.tags),
            base_branches=GlobList(rule.base_branches),
            labels=frozenset(label.casefold() for label in rule.labels),
            message_tags=tuple(tag.casefold() for tag in rule.message_tags),
        )
        for rule in policy.rules
    )


# ---------------------------------------------------------------------------
# Evaluation


@dataclass(frozen=True)
class _Verdict:
    """The outcome of one rule: "match", "possible" (unseen files), "miss", "skip"."""

    status: str
    detail: str
    selection: Selection | None = None
    refused_for_truncation: bool = False


@dataclass
class _Context:
    change: ChangeSet
    policy: Policy
    plan: dict[str, str]
    messages: tuple[str, ...]
    _paths: PathSet | None = field(default=None)

    @property
    def paths(self) -> PathSet:
        if self._paths is None:
            self._paths = PathSet(self.change.paths, self.plan)
        return self._paths


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

    routed = _apply_mode(routed, policy, trace)
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


def _evaluate(compiled: _CompiledRule, context: _Context) -> _Verdict:
    """Check one rule's conditions, cheapest first, paths last."""
    rule = compiled.rule
    policy = context.policy
    pool = policy.pools.get(rule.pool)
    if policy.mode == "self-hosted-only" and pool is not None and pool.github_hosted:
        return _Verdict(
            "skip", f"skipped: routes to {rule.pool}, and the mode is self-hosted-only"
        )
    for check in _CONDITION_CHECKS:
        failure = check(compiled, context.change, context.messages)
        if failure is not None:
            return _Verdict("miss", f"no match: {failure}")
    if not rule.paths:
        return _Verdict("match", "match: " + _non_path_summary(rule, context.change))
    if rule.paths_match == "all":
        return _evaluate_all_paths(compiled, context)
    return _evaluate_any_path(compiled, context)


def _evaluate_any_path(compiled: _CompiledRule, context: _Context) -> _Verdict:
    change = context.change
    selection = compiled.paths.select(context.paths, stop_at_first=True)
    if selection.paths:
        count = len(selection.paths)
        more = "" if selection.complete else " or more"
        return _Verdict(
            "match", f"match: {count}{more} changed paths selected", selection
        )
    if change.truncated:
        return _Verdict(
            "possible",
            "no seen path selected, but it could match a file not seen "
            f"({_seen(change)})",
        )
    count = len(change.paths)
    return _Verdict("miss", f"no match: none of {count} changed paths is selected")


def _evaluate_all_paths(compiled: _CompiledRule, context: _Context) -> _Verdict:
    change = context.change
    if change.truncated:
        detail = f"no match: {_seen(change)}, so not every changed path can be checked"
        return _Verdict("miss", detail, refused_for_truncation=True)
    if not change.paths:
        return _Verdict("miss", "no match: no changed paths, and it needs all of them")
    for path in change.paths[:_ALL_PATHS_PROBES]:
        if not compiled.paths.test(path):
            return _Verdict("miss", f"no match: {path} is not selected")
    selection = compiled.paths.select(context.paths)
    missing = len(set(change.paths)) - len(selection.paths)
    if missing:
        example = next(path for path in change.paths if path not in selection.paths)
        return _Verdict(
            "miss", f"no match: {example} and {missing - 1} more paths are not selected"
        )
    count = len(selection.paths)
    return _Verdict("match", f"match: all {count} changed paths selected", selection)


# Conditions other than paths: each returns why the change fails it, or None.


def _check_event(
    compiled: _CompiledRule, change: ChangeSet, _: Sequence[str]
) -> str | None:
    events = compiled.rule.events
    if events and change.event not in events:
        return f"event {change.event} is not {_either(events)}"
    return None


def _check_ref(
    compiled: _CompiledRule, change: ChangeSet, _: Sequence[str]
) -> str | None:
    rule = compiled.rule
    if not rule.branches and not rule.tags:
        return None
    if change.branch is not None and rule.branches:
        if compiled.branches.test(change.branch):
            return None
        return f"branch {change.branch} does not match {_listing(rule.branches)}"
    if change.tag is not None and rule.tags:
        if compiled.tags.test(change.tag):
            return None
        return f"tag {change.tag} does not match {_listing(rule.tags)}"
    wanted = "branches" if rule.branches else "tags"
    return f"{change.ref} is not one of the rule's {wanted}"


def _check_base(
    compiled: _CompiledRule, change: ChangeSet, _: Sequence[str]
) -> str | None:
    patterns = compiled.rule.base_branches
    if not patterns:
        return None
    if change.base_branch is None:
        return "the change has no base branch"
    if compiled.base_branches.test(change.base_branch):
        return None
    return f"base branch {change.base_branch} does not match {_listing(patterns)}"


def _check_draft(
    compiled: _CompiledRule, change: ChangeSet, _: Sequence[str]
) -> str | None:
    draft = compiled.rule.draft
    if draft is None or change.draft == draft:
        return None
    return (
        "the pull request is a draft" if change.draft else "the change is not a draft"
    )


def _check_labels(
    compiled: _CompiledRule, change: ChangeSet, _: Sequence[str]
) -> str | None:
    if not compiled.labels:
        return None
    if any(label.casefold() in compiled.labels for label in change.labels):
        return None
    return f"no label {_either(compiled.rule.labels)}"


def _check_message_tags(
    compiled: _CompiledRule, _: ChangeSet, messages: Sequence[str]
) -> str | None:
    if not compiled.message_tags:
        return None
    for tag in compiled.message_tags:
        if any(tag in message for message in messages):
            return None
    tags = _either(compiled.rule.message_tags)
    return f"no commit message or pull request text contains {tags}"


_CONDITION_CHECKS = (
    _check_event,
    _check_ref,
    _check_base,
    _check_draft,
    _check_labels,
    _check_message_tags,
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
    for names, wanted, why in steps:
        for name in names:
            if availability.state(name) == wanted:
                if name == routed:
                    note = (
                        f"{routed} is saturated and no pool in its fallback chain is up"
                    )
                else:
                    note = f"{routed} is {state}; fell back to {name} ({why})"
                trace.append(f"fallback: {note}")
                return name, note
    note = f"every pool is down, so {routed} keeps the build"
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


# ---------------------------------------------------------------------------
# Wording


def _describe_change(change: ChangeSet, policy: Policy) -> str:
    if change.branch:
        kind, where = "branch", change.branch
    elif change.tag:
        kind, where = "tag", change.tag
    else:
        kind, where = "ref", change.ref
    return (
        f"policy {policy.label}, mode {policy.mode}: {change.event} on {kind} {where}, "
        f"{_files(change)}"
    )


def _files(change: ChangeSet) -> str:
    if change.truncated:
        return _seen(change)
    count = change.files_seen
    return f"{count} changed file" + ("" if count == 1 else "s")


def _seen(change: ChangeSet) -> str:
    if change.files_total is not None and change.files_total > change.files_seen:
        return f"saw {change.files_seen} of {change.files_total} files"
    return f"{change.files_seen} files seen, list truncated"


def _rule_reason(
    rule: Rule, verdict: _Verdict, change: ChangeSet, policy: Policy
) -> str:
    if verdict.status == "possible":
        if policy.conservative_pool is not None:
            return (
                f"rule {rule.name} could match a file not seen ({_seen(change)}), "
                f"so the conservative pool {policy.conservative_pool} builds it"
            )
        return (
            f"rule {rule.name} could match a file not seen ({_seen(change)}), "
            f"so {rule.pool} builds it to be safe"
        )
    if verdict.selection is None:
        return f"rule {rule.name} matched: {_non_path_summary(rule, change)}"
    paths = sorted(verdict.selection.paths)
    shown = paths[0] + (f" and {len(paths) - 1} more" if len(paths) > 1 else "")
    return f"rule {rule.name} matched {shown}"


def _non_path_summary(rule: Rule, change: ChangeSet) -> str:
    parts = []
    if rule.message_tags:
        parts.append(f"a message contains {_either(rule.message_tags)}")
    if rule.labels:
        parts.append(f"labelled {_either(rule.labels)}")
    if rule.branches or rule.tags:
        parts.append(f"{change.event} to {change.branch or change.tag}")
    elif rule.events:
        parts.append(f"event {change.event}")
    if rule.base_branches:
        parts.append(f"base branch {change.base_branch}")
    if rule.draft is not None:
        parts.append("draft" if rule.draft else "not a draft")
    return ", ".join(parts) or "the rule has no conditions"


def _match_lines(verdict: _Verdict) -> list[str]:
    """List which pattern selected which path, up to TRACE_PATHS_MAX paths."""
    if verdict.selection is None:
        return []
    final = verdict.selection.paths
    lines: list[str] = []
    listed = 0
    for step in verdict.selection.steps:
        paths = sorted(step.paths if step.negated else step.paths & final)
        if not paths:
            continue
        room = max(TRACE_PATHS_MAX - listed, 0)
        shown = paths[:room]
        listed += len(shown)
        verb = "excluded" if step.negated else "selected"
        text = ", ".join(shown) if shown else ""
        rest = len(paths) - len(shown)
        if rest:
            text += (" and " if text else "") + f"{rest} more"
        lines.append(f"  {step.pattern} {verb} {text}")
    if not verdict.selection.complete:
        lines.append(
            "  (stopped at the first selected path; later patterns not applied)"
        )
    return lines


def _either(values: Sequence[str]) -> str:
    return " or ".join(values)


def _listing(patterns: Sequence[str]) -> str:
    return ", ".join(patterns)
