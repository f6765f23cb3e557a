"""Compile one glob pattern into an exact test and a literal prefilter.

Semantics come from wcmatch with GLOBSTAR, DOTGLOB, BRACE and case-sensitive
Unix paths: `*` and `?` stay inside one path segment, `**` as a whole segment
crosses directories, dotfiles match, and `{a,b}` expands. Simple shapes
(`**/*.md`, `docs/**`, `**/Dockerfile*`) are checked with string methods
(`glob_shapes`), and every other pattern with the regular expression that
wcmatch translates it to. The tests compare every shape with
`wcmatch.glob.globmatch`. Paths that git never reports (empty, with `.` or
`..` segments, `//`, a leading or trailing `/`, or a line break) skip the
shortcuts and go through the regular expression.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import bracex
from wcmatch import glob

from .glob_shapes import Predicate, _required_literal, _simple_shape

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
