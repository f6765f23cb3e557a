"""Evaluate routing rules against a change: other conditions first, then paths.

`decide` compiles a policy's rules once per policy and tries them in order.
Each evaluation returns a verdict whose detail becomes one line of the trace.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from .decide_trace import _either, _listing, _non_path_summary, _seen
from .events import ChangeSet
from .matching import GlobList, PathSet, Selection, plan_needles
from .policy import Policy, Rule

# Paths of an all-paths rule tested one by one before selecting them in bulk;
# one that fails settles the rule at once.
_ALL_PATHS_PROBES = 8


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
