"""Format the reason and trace lines of a routing decision for a person to read."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .events import ChangeSet
from .policy import Policy, Rule

if TYPE_CHECKING:
    from .decide_rules import _Verdict

# Changed paths listed per rule in a trace before "and N more".
TRACE_PATHS_MAX = 10


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
