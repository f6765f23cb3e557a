"""Apply ordered glob lists to changed paths, branch names and tag names, fast.

A leading `!` negates, and a `GlobList` applies its patterns in order so that
a later pattern overrides an earlier one, as the `paths`, `branches` and
`tags` filters of GitHub Actions do:
https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-syntax#filter-pattern-cheat-sheet

Speed comes from how patterns are applied, not from a second glob dialect. A
`PathSet` joins its paths once into one newline-separated text. Each pattern
is evaluated by a C-level `str.find` of a literal that every match contains
(a suffix such as `.md\\n`, a prefix such as `\\ndocs/`, or a substring such
as `Dockerfile`), and only the lines found are checked further. `globs`
compiles each pattern into that literal and an exact test.
"""

from __future__ import annotations

import bisect
import itertools
import operator
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from .globs import Glob, _is_regular, compile_glob

# Below this many selected paths, a negated pattern tests each of them rather
# than scanning the whole change set.
_NEGATION_SCAN_THRESHOLD = 64

# Lines a needle scan collects before a pass over every path takes over.
_SCAN_HITS_MIN = 64

# Shortest needle, without its `\n`, that other needles may share a scan of.
_PLAN_BASE_MIN = 4

# Selected paths tested against later negations before a list gives up on
# stopping early.
_SURVIVOR_PROBES = 16


@dataclass(frozen=True)
class Pattern:
    """One entry of a pattern list: the source text, negation and compiled glob."""

    source: str
    negated: bool
    glob: Glob


@dataclass(frozen=True)
class Step:
    """The effect of one list pattern: the paths it added, or removed if negated."""

    pattern: str
    negated: bool
    paths: frozenset[str]


@dataclass(frozen=True)
class Selection:
    """The paths a pattern list selects, and the step each pattern took.

    `complete` is false when selection stopped once some path was selected for
    good, so that later patterns were not applied.
    """

    paths: frozenset[str]
    steps: tuple[Step, ...]
    complete: bool


class PathSet:
    """Changed paths prepared once so that many patterns apply to them fast.

    Lines found per needle and paths selected per pattern are cached, so a
    pattern or literal that several rules share costs one scan per change set.
    `plan` (from `plan_needles`) lets a needle reuse the lines of a shorter
    needle it contains, in place of a scan of its own.
    """

    __slots__ = (
        "paths",
        "_sorted",
        "_blob",
        "_irregular",
        "_lines",
        "_selected",
        "_plan",
    )

    def __init__(
        self, paths: Iterable[str], plan: Mapping[str, str] | None = None
    ) -> None:
        self.paths: tuple[str, ...] = tuple(paths)
        self._plan: Mapping[str, str] = plan or {}
        ordered = sorted(self.paths)
        blob = "\n" + "\n".join(ordered) + "\n" if ordered else "\n"
        irregular: tuple[str, ...] = ()
        if _may_hold_irregular(blob, len(ordered)):
            irregular = tuple(path for path in ordered if not _is_regular(path))
            if irregular:
                ordered = [path for path in ordered if _is_regular(path)]
                blob = "\n" + "\n".join(ordered) + "\n" if ordered else "\n"
        self._sorted = ordered
        self._blob = blob
        self._irregular = irregular
        self._lines: dict[str, list[str]] = {}
        self._selected: dict[str, frozenset[str]] = {}

    def __len__(self) -> int:
        return len(self.paths)

    def select(self, pattern: Glob) -> frozenset[str]:
        """Return the paths that `pattern` matches."""
        found = self._selected.get(pattern.text)
        if found is None:
            found = frozenset(self._select(pattern))
            self._selected[pattern.text] = found
        return found

    def _select(self, pattern: Glob) -> set[str]:
        found: set[str] = set()
        for variant in pattern.variants:
            if variant.matches_all:
                found.update(self._sorted)
                continue
            lines = (
                self._sorted if variant.needle is None else self._find(variant.needle)
            )
            if variant.needle_decides:
                found.update(lines)
            else:
                found.update(filter(variant.test, lines))
        for path in self._irregular:
            if any(variant.regex.fullmatch(path) for variant in pattern.variants):
                found.add(path)
        return found

    def _find(self, needle: str) -> list[str]:
        """Return the regular paths that contain `needle` (`\\n` = start or end)."""
        lines = self._lines.get(needle)
        if lines is not None:
            return lines
        core = needle.strip("\n")
        base = self._plan.get(needle)
        if base is not None:
            found = self._find(base)
            if needle.endswith("\n"):
                lines = [line for line in found if line.endswith(core)]
            else:
                lines = [line for line in found if core in line]
        elif needle.startswith("\n"):
            lines = _with_prefix(self._sorted, core)
            if needle.endswith("\n"):
                lines = [line for line in lines if line == core]
        else:
            # A scan costs a little per line found, a pass over every path a
            # little per path; stop scanning once the first costs more.
            limit = max(_SCAN_HITS_MIN, len(self._sorted) // 16)
            lines = list(itertools.islice(_scan(self._blob, needle), limit))
            if len(lines) == limit:
                test = str.endswith if needle.endswith("\n") else operator.contains
                mask = map(test, self._sorted, itertools.repeat(core))
                lines = list(itertools.compress(self._sorted, mask))
        self._lines[needle] = lines
        return lines


def _separator_map() -> bytes:
    """Build a table that keeps `/` and `.`, maps `\\n` to `/`, the rest to `a`."""
    table = bytearray(b"a" * 256)
    table[ord("/")] = ord("/")
    table[ord(".")] = ord(".")
    table[ord("\n")] = ord("/")
    return bytes(table)


# In the joined paths mapped by this table both separators read as `/`. One
# search then finds every `//`, `/./` and `/../`, and these cover an empty
# path, a leading or trailing `/`, and `.` or `..` segments.
_SEPARATOR_MAP = _separator_map()
_IRREGULAR_MARK = re.compile(rb"/(?:/|\.\.?/)")


def _may_hold_irregular(blob: str, count: int) -> bool:
    """Return True if some path of the joined text may be irregular.

    False positives only cost a per-path check.
    """
    if blob.count("\n") != count + 1:
        return True
    marked = blob.encode("utf-8", "surrogatepass").translate(_SEPARATOR_MAP)
    return _IRREGULAR_MARK.search(marked) is not None


def _with_prefix(ordered: list[str], prefix: str) -> list[str]:
    """Return the entries of a sorted list that start with `prefix`."""
    low = bisect.bisect_left(ordered, prefix)
    last = ord(prefix[-1])
    if last < 0x10FFFF:
        # Every string that starts with `prefix` sorts before this bound.
        bound = prefix[:-1] + chr(last + 1)
        return ordered[low : bisect.bisect_left(ordered, bound, low)]
    high = low
    while high < len(ordered) and ordered[high].startswith(prefix):
        high += 1
    return ordered[low:high]


def _scan(blob: str, needle: str) -> Iterator[str]:
    """Yield each line of `blob` that contains `needle`, once per line."""
    find = blob.find
    rfind = blob.rfind
    leading = needle.startswith("\n")
    # Offset from a hit to where the search for the line's end starts.
    tail = len(needle) - 1 if needle.endswith("\n") else len(needle)
    pos = find(needle)
    while pos >= 0:
        start = pos + 1 if leading else rfind("\n", 0, pos) + 1
        end = find("\n", pos + tail)
        yield blob[start:end]
        pos = find(needle, end)


def plan_needles(needles: Iterable[str]) -> dict[str, str]:
    """Map needles to shorter needles of the same set that find all their lines.

    A line that contains `docker-compose.cuda` contains `compose`, so when both
    are needed one scan for `compose` serves both. A needle that starts a line
    is left out because sorted ranges find it without a scan. Bases shorter
    than _PLAN_BASE_MIN characters would match too many lines to pay off.
    """
    unique = sorted({needle for needle in needles if needle}, key=len)
    bases = [
        needle
        for needle in unique
        if not needle.startswith("\n") and len(needle.strip("\n")) >= _PLAN_BASE_MIN
    ]
    plan: dict[str, str] = {}
    for needle in unique:
        if needle.startswith("\n"):
            continue
        core = needle.strip("\n")
        for base in bases:
            if len(base) >= len(needle):
                break
            if base.endswith("\n"):
                fits = needle.endswith("\n") and core.endswith(base[:-1])
            else:
                fits = base in core
            if fits:
                plan[needle] = base
                break
    return plan


class GlobList:
    """An ordered list of patterns where a later pattern overrides an earlier one.

    A value matches when the last pattern that matches it is not negated. A
    list of negations alone matches nothing, because nothing selects first.
    """

    __slots__ = ("patterns", "_later_negations")

    def __init__(self, patterns: Sequence[str]) -> None:
        self.patterns = tuple(
            Pattern(text, text.startswith("!"), compile_glob(text.removeprefix("!")))
            for text in patterns
        )
        self._later_negations = tuple(
            tuple(entry for entry in self.patterns[index + 1 :] if entry.negated)
            for index in range(len(self.patterns))
        )

    def __len__(self) -> int:
        return len(self.patterns)

    def needles(self) -> set[str]:
        """Return the literals this list searches for, for `plan_needles`."""
        return {
            variant.needle
            for entry in self.patterns
            for variant in entry.glob.variants
            if variant.needle
        }

    def test(self, value: str) -> bool:
        """Return whether `value` matches the list."""
        for entry in reversed(self.patterns):
            if entry.glob.test(value):
                return not entry.negated
        return False

    def select(self, paths: PathSet, *, stop_at_first: bool = False) -> Selection:
        """Return the paths the list selects, with the step of each pattern.

        With `stop_at_first`, stop once a selected path survives every later
        negation. Later negations are still applied, so each path returned is
        selected, but later patterns may have selected more (`complete` is
        false).
        """
        selected: set[str] = set()
        steps: list[Step] = []
        last = len(self.patterns) - 1
        for index, entry in enumerate(self.patterns):
            if entry.negated:
                removed = _matching(entry.glob, selected, paths)
                selected -= removed
                steps.append(Step(entry.source, True, frozenset(removed)))
                continue
            added = paths.select(entry.glob) - selected
            selected |= added
            steps.append(Step(entry.source, False, added))
            if index < last and stop_at_first and self._survives(selected, index):
                for later in self._later_negations[index]:
                    removed = _matching(later.glob, selected, paths)
                    selected -= removed
                    steps.append(Step(later.source, True, frozenset(removed)))
                return Selection(frozenset(selected), tuple(steps), False)
        return Selection(frozenset(selected), tuple(steps), True)

    def _survives(self, selected: set[str], index: int) -> bool:
        """Return whether one of a few selected paths escapes every later `!`."""
        later = self._later_negations[index]
        for path in itertools.islice(selected, _SURVIVOR_PROBES):
            if not any(entry.glob.test(path) for entry in later):
                return True
        return False


def _matching(pattern: Glob, selected: set[str], paths: PathSet) -> set[str]:
    if len(selected) <= _NEGATION_SCAN_THRESHOLD:
        return {path for path in selected if pattern.test(path)}
    return selected & paths.select(pattern)
