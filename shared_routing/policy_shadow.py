"""Decide whether an earlier rule makes a later one unreachable.

Rules are tried in order, so a rule is dead when some earlier rule matches
every change that it matches. Deciding that in general means comparing glob
languages, so this module recognises only the cases it can prove. These are
an earlier rule with no conditions, identical conditions, and earlier
conditions that are each absent or plainly broader (a superset of events or
labels, the same patterns plus more, or a `**` pattern). It never reports a
rule that can still match, but it can miss a dead rule whose patterns overlap
in a subtler way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .policy import RULE_CONDITION_FIELDS, Rule


def shadowing_rule(earlier: Rule, later: Rule) -> str | None:
    """Return why `earlier` matches every change `later` matches, or None.

    The reason completes the sentence "rule E comes first and ...".
    """
    if not earlier.conditions:
        return "has no conditions, so it matches every change"
    if all(
        getattr(earlier, name) == getattr(later, name) for name in RULE_CONDITION_FIELDS
    ):
        return "has the same conditions"
    if all(covers(earlier, later) for covers in _COVERS):
        return f"matches every change that {later.name!r} matches"
    return None


def _globs_cover(earlier: Sequence[str], later: Sequence[str]) -> bool:
    """Return True when every value `later` selects is selected by `earlier`."""
    if tuple(earlier) == tuple(later):
        return True
    if any(pattern.startswith("!") for pattern in earlier):
        return False
    if "**" in earlier:
        return True
    # Later negations only remove values, so its positive patterns bound it.
    # A list of negations alone is reported as such, not as shadowed.
    selecting = {pattern for pattern in later if not pattern.startswith("!")}
    return bool(selecting) and selecting <= set(earlier)


def _optional_globs_cover(earlier: Sequence[str], later: Sequence[str]) -> bool:
    if not earlier:
        return True
    return bool(later) and _globs_cover(earlier, later)


def _paths_cover(earlier: Rule, later: Rule) -> bool:
    if not earlier.paths:
        return True
    if not later.paths:
        return False
    # "all" on the earlier rule requires more than "any" on the later one.
    if earlier.paths_match == "all" and later.paths_match == "any":
        return False
    return _globs_cover(earlier.paths, later.paths)


def _refs_cover(earlier: Rule, later: Rule) -> bool:
    if not earlier.branches and not earlier.tags:
        return True
    if not later.branches and not later.tags:
        return False
    if later.branches and not (
        earlier.branches and _globs_cover(earlier.branches, later.branches)
    ):
        return False
    return not later.tags or bool(
        earlier.tags and _globs_cover(earlier.tags, later.tags)
    )


def _base_cover(earlier: Rule, later: Rule) -> bool:
    return _optional_globs_cover(earlier.base_branches, later.base_branches)


def _events_cover(earlier: Rule, later: Rule) -> bool:
    if not earlier.events:
        return True
    return bool(later.events) and set(later.events) <= set(earlier.events)


def _labels_cover(earlier: Rule, later: Rule) -> bool:
    if not earlier.labels:
        return True
    wanted = {label.casefold() for label in earlier.labels}
    later_labels = {label.casefold() for label in later.labels}
    return bool(later_labels) and later_labels <= wanted


def _draft_cover(earlier: Rule, later: Rule) -> bool:
    return earlier.draft is None or earlier.draft == later.draft


def _message_tags_cover(earlier: Rule, later: Rule) -> bool:
    # A message that contains one of the later tags contains an earlier tag
    # when that earlier tag is part of it.
    if not earlier.message_tags:
        return True
    tags = [tag.casefold() for tag in earlier.message_tags]
    return bool(later.message_tags) and all(
        any(tag in later_tag.casefold() for tag in tags)
        for later_tag in later.message_tags
    )


_COVERS: tuple[Callable[[Rule, Rule], bool], ...] = (
    _paths_cover,
    _refs_cover,
    _base_cover,
    _events_cover,
    _labels_cover,
    _draft_cover,
    _message_tags_cover,
)
