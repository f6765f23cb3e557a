"""Match glob patterns against changed paths, branch names and tag names, fast.

Semantics come from wcmatch with GLOBSTAR, DOTGLOB, BRACE and case-sensitive
Unix paths: `*` and `?` stay inside one path segment, `**` as a whole segment
crosses directories, dotfiles match, and `{a,b}` expands. A leading `!`
negates, and a `GlobList` applies its patterns in order so that a later pattern
overrides an earlier one, as the `paths`, `branches` and `tags` filters of
GitHub Actions do:
https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-syntax#filter-pattern-cheat-sheet

Speed comes from how patterns are applied, not from a second glob dialect. A
`PathSet` joins its paths once into one newline-separated text. Each pattern
is evaluated by a C-level `str.find` of a literal that every match contains
(a suffix such as `.md\\n`, a prefix such as `\\ndocs/`, or a substring such
as `Dockerfile`), and only the lines found are checked further. Simple shapes
(`**/*.md`, `docs/**`, `**/Dockerfile*`) are checked with string methods, and
every other pattern with the regular expression that wcmatch translates it to.
The tests compare every shape with `wcmatch.glob.globmatch`. Paths that git
never reports (empty, with `.` or `..` segments, `//`, a leading or trailing
`/`, or a line break) skip the shortcuts and go through the regular expression.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import operator
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import bracex
from wcmatch import glob

# Braces are expanded here, with the same bracex call wcmatch makes, so that
# each expansion gets its own prefilter. REFERENCE_FLAGS adds BRACE back for
# callers that want wcmatch's own result.
GLOB_FLAGS = glob.GLOBSTAR | glob.DOTGLOB | glob.CASE | glob.FORCEUNIX
REFERENCE_FLAGS = GLOB_FLAGS | glob.BRACE

# Brace expansions allowed per pattern; `{a,b}{c,d}` counts 4.
EXPANSION_LIMIT = 256

# Sequences that only occur in a path git never reports, seen with the
# newlines that surround each path in the joined text.
_IRREGULAR_MARKERS = (
    "\n\n",
    "//",
    "\n/",
    "/\n",
    "\n./",
    "/./",
    "/.\n",
    "\n.\n",
    "\n../",
    "/../",
    "/..\n",
    "\n..\n",
)

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

Predicate = Callable[[str], bool]


class GlobError(ValueError):
    """A glob pattern is invalid or can never match a path."""


@dataclass(frozen=True)
class _Variant:
    """One brace expansion of a pattern, ready for single and bulk tests.

    `test` is exact for regular values. `needle` is a literal that every
    regular match contains, with `\\n` marking the start or end of the value.
    `needle_decides` means that containing the needle proves the match.
    """

    text: str
    source: str
    test: Predicate
    needle: str | None
    needle_decides: bool
    matches_all: bool

    @functools.cached_property
    def regex(self) -> re.Pattern[str]:
        """The compiled wcmatch translation, compiled on first use."""
        return re.compile(self.source)


class Glob:
    """One glob pattern, without its `!`, compiled for single and bulk tests."""

    __slots__ = ("text", "variants")

    def __init__(self, text: str, variants: tuple[_Variant, ...]) -> None:
        self.text = text
        self.variants = variants

    def __repr__(self) -> str:
        return f"Glob({self.text!r})"

    def test(self, value: str) -> bool:
        """Return whether `value` (a path, branch or tag name) matches."""
        if _is_regular(value):
            return any(variant.test(value) for variant in self.variants)
        return any(variant.regex.fullmatch(value) for variant in self.variants)


def _is_regular(value: str) -> bool:
    if not value or "\n" in value:
        return False
    wrapped = "\n" + value + "\n"
    return not any(marker in wrapped for marker in _IRREGULAR_MARKERS)


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


@functools.lru_cache(maxsize=1024)
def compile_glob(text: str) -> Glob:
    """Compile one glob pattern, given without `!`; raise `GlobError` if invalid."""
    problem = _structure_problem(text)
    if problem is not None:
        raise GlobError(problem)
    try:
        expansions = bracex.iexpand(
            text, keep_escapes=True, limit=EXPANSION_LIMIT, return_empty=True
        )
        unique = list(dict.fromkeys(expansions))
    except bracex.ExpansionLimitException as error:
        raise GlobError(
            f"braces expand to more than {EXPANSION_LIMIT} patterns"
        ) from error
    variants = []
    for expansion in unique:
        problem = _structure_problem(expansion)
        if problem is not None:
            raise GlobError(f"expands to {expansion!r}, which {problem}")
        variants.append(_compile_variant(expansion))
    # wcmatch writes a character class that matches nothing, such as a
    # reversed range, as the empty lookahead `(?!)`.
    if all("(?!)" in variant.source for variant in variants):
        raise GlobError("has a character class that matches nothing, such as [z-a]")
    return Glob(text, tuple(variants))


def glob_problem(pattern: str) -> str | None:
    """Return why a list entry (a glob, `!` allowed) is invalid, or None."""
    if not pattern:
        return "is empty"
    if pattern == "!":
        return "negates an empty pattern"
    try:
        compile_glob(pattern.removeprefix("!"))
    except GlobError as error:
        return str(error)
    return None


def _structure_problem(text: str) -> str | None:
    """Return why a pattern can never match a changed path, or None."""
    if not text:
        return "is empty"
    if "\n" in text or "\r" in text:
        return "contains a line break"
    if text.startswith("/"):
        return "starts with '/', but paths are relative to the repository root"
    if text.endswith("/"):
        return "ends with '/' and so matches no file; end it with '/**'"
    if (len(text) - len(text.rstrip("\\"))) % 2 == 1:
        return "ends with an unescaped '\\'"
    for segment in text.split("/"):
        if segment in (".", ".."):
            return f"has a {segment!r} segment, which no changed path has"
        if "**" in segment and segment != "**":
            return (
                f"has '**' inside the segment {segment!r}; '**' crosses "
                "directories only as a whole segment, as in '**/*.js'"
            )
    return None


def _compile_variant(text: str) -> _Variant:
    positive, _negative = glob.translate(text, flags=GLOB_FLAGS)
    shape = _simple_shape(text)
    if shape is not None:
        return _Variant(text, positive[0], *shape)
    regex = re.compile(positive[0])

    def fullmatch(value: str) -> bool:
        return regex.fullmatch(value) is not None

    return _Variant(text, positive[0], fullmatch, _required_literal(text), False, False)


# ---------------------------------------------------------------------------
# Simple shapes: literal directories, `*` only inside the file name, `**` only
# as the first or last directory. Each shape gives (test, needle,
# needle_decides, matches_all) for regular values.

_Shape = tuple[Predicate, "str | None", bool, bool]


@dataclass(frozen=True)
class _Name:
    """A file-name segment made of literals and `*`: what it starts and ends with.

    `kind` is "equal" (no `*`), "any" (`*`), "suffix" (`*tail`), "prefix"
    (`head*`), "prefix-suffix" (`head*tail`) or "infix" (`*head*`).
    """

    kind: str
    head: str
    tail: str

    def test(self) -> Predicate:
        head, tail = self.head, self.tail
        if self.kind == "equal":
            return lambda name: name == head
        if self.kind == "any":
            return lambda name: True
        if self.kind == "suffix":
            return lambda name: name.endswith(tail)
        if self.kind == "prefix":
            return lambda name: name.startswith(head)
        if self.kind == "infix":
            return lambda name: head in name
        size = len(head) + len(tail)
        return lambda name: (
            len(name) >= size and name.startswith(head) and name.endswith(tail)
        )

    def end_needle(self) -> str | None:
        """Return the literal the path ends with, with its `\n`, if any."""
        if self.kind == "equal":
            return self.head + "\n"
        if self.kind in ("suffix", "prefix-suffix"):
            return self.tail + "\n"
        return None


def _parse_name(segment: str) -> _Name | None:
    parts = segment.split("*")
    if len(parts) == 1:
        return _Name("equal", segment, segment)
    if len(parts) == 2:
        head, tail = parts
        kinds = {(False, False): "any", (False, True): "suffix"}
        kinds.update({(True, False): "prefix", (True, True): "prefix-suffix"})
        return _Name(kinds[(bool(head), bool(tail))], head, tail)
    if len(parts) == 3 and not parts[0] and not parts[2] and parts[1]:
        return _Name("infix", parts[1], "")
    return None


def _literal(segments: list[str]) -> bool:
    return not any("*" in segment for segment in segments)


def _simple_shape(text: str) -> _Shape | None:
    if any(char in text for char in "?[\\"):
        return None
    segments = text.split("/")
    if "" in segments:
        return None
    *dirs, base = segments
    if base == "**":
        return _tree_shape(dirs)
    name = _parse_name(base)
    if name is None:
        return None
    if not dirs:
        return _root_shape(name)
    if dirs == ["**"]:
        return _anywhere_shape(name)
    if _literal(dirs):
        return _dir_shape("/".join(dirs) + "/", name)
    if dirs[-1] == "**" and _literal(dirs[:-1]):
        return _under_shape("/".join(dirs[:-1]) + "/", name)
    if dirs[0] == "**" and _literal(dirs[1:]):
        return _subdir_shape("/".join(dirs[1:]), name)
    return None


def _tree_shape(dirs: list[str]) -> _Shape | None:
    """Shapes that end in `/**`: everything below a directory."""
    if not dirs:
        return (lambda path: True), None, True, True
    if _literal(dirs):
        prefix = "/".join(dirs) + "/"
        return (lambda path: path.startswith(prefix)), "\n" + prefix, True, False
    if dirs[0] == "**" and len(dirs) > 1 and _literal(dirs[1:]):
        middle = "/".join(dirs[1:]) + "/"
        inner = "/" + middle

        def below(path: str) -> bool:
            return path.startswith(middle) or inner in path

        return below, middle, False, False
    return None


def _root_shape(name: _Name) -> _Shape:
    """`name`: a file at the repository root."""
    test_name = name.test()

    def at_root(path: str) -> bool:
        return "/" not in path and test_name(path)

    if name.kind == "equal":
        return at_root, "\n" + name.head + "\n", True, False
    start = "\n" + name.head if name.head and name.kind != "infix" else None
    middle = name.head if name.kind == "infix" else None
    return at_root, _longest(start, name.end_needle(), middle), False, False


def _anywhere_shape(name: _Name) -> _Shape:
    """`**/name`: a file in any directory."""
    test_name = name.test()

    def anywhere(path: str) -> bool:
        return test_name(path[path.rfind("/") + 1 :])

    if name.kind == "any":
        return anywhere, None, True, True
    needle = _longest(name.end_needle(), name.head)
    # Every line ending in `*tail`'s tail has a file name ending in it, since
    # the tail contains no `/`.
    return anywhere, needle, name.kind == "suffix", False


def _dir_shape(prefix: str, name: _Name) -> _Shape:
    """`dir/name`: a file directly in one directory."""
    test_name = name.test()
    start = len(prefix)

    def in_dir(path: str) -> bool:
        return (
            path.startswith(prefix)
            and path.find("/", start) < 0
            and test_name(path[start:])
        )

    if name.kind == "equal":
        return in_dir, "\n" + prefix + name.head + "\n", True, False
    head = name.head if name.kind != "infix" else ""
    needle = _longest("\n" + prefix + head, name.end_needle())
    return in_dir, needle, False, False


def _under_shape(prefix: str, name: _Name) -> _Shape:
    """`dir/**/name`: a file anywhere below one directory."""
    test_name = name.test()

    def under(path: str) -> bool:
        return path.startswith(prefix) and test_name(path[path.rfind("/") + 1 :])

    if name.kind == "any":
        return under, "\n" + prefix, True, False
    return under, _longest("\n" + prefix, name.end_needle(), name.head), False, False


def _subdir_shape(directory: str, name: _Name) -> _Shape:
    """`**/dir/name`: a file directly in a directory of that name, anywhere."""
    test_name = name.test()
    tail = "/" + directory

    def in_subdir(path: str) -> bool:
        cut = path.rfind("/")
        if cut < 0:
            return False
        parent = path[:cut]
        return (parent == directory or parent.endswith(tail)) and test_name(
            path[cut + 1 :]
        )

    needle = _longest(directory + "/", name.end_needle(), name.head)
    return in_subdir, needle, False, False


def _longest(*needles: str | None) -> str | None:
    best: str | None = None
    for needle in needles:
        if needle and (best is None or len(needle) > len(best)):
            best = needle
    return best


def _required_literal(text: str) -> str | None:
    """Return a literal every match of `text` contains, with `\n` anchors.

    Runs of plain characters inside one segment qualify. A backslash or a
    bracket ends a run, so an escape or class never turns into a wrong literal.
    """
    segments = text.split("/")
    candidates: list[str] = []
    for index, segment in enumerate(segments):
        runs = _plain_runs(segment)
        for start, run in runs:
            needle = run
            if index == 0 and start == 0 and segment != "**":
                needle = "\n" + needle
            if index == len(segments) - 1 and start + len(run) == len(segment):
                needle = needle + "\n"
            candidates.append(needle)
    return _longest(*candidates)


def _plain_runs(segment: str) -> list[tuple[int, str]]:
    """Return (offset, text) of each run of characters that match themselves."""
    runs: list[tuple[int, str]] = []
    start = 0
    index = 0
    while index <= len(segment):
        char = segment[index] if index < len(segment) else ""
        if char in ("", "*", "?", "[", "\\"):
            if index > start:
                runs.append((start, segment[start:index]))
            if char == "[":
                close = segment.rfind("]", index + 1)
                index = close if close > index else index
            elif char == "\\":
                index += 1
            start = index + 1
        index += 1
    return runs
