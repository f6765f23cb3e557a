"""Build string-method tests for simple globs and find literals every match contains.

Simple shapes: literal directories, `*` only inside the file name, `**` only
as the first or last directory. Each shape gives (test, needle,
needle_decides, matches_all) for regular values. Every other pattern gets
only the literal that `_required_literal` finds, and the regular expression
that wcmatch translates it to decides.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

Predicate = Callable[[str], bool]

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
