"""Read typed values from parsed policy tables, recording each problem found.

A read that fails reports a problem with the key path and returns None, an
empty value or the default, so that one pass finds every problem in a file.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .errors import Problem
from .globs import glob_problem
from .keylines import KeyLines, KeyPath, format_key


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return names.get(type(value), type(value).__name__)


def _toml_type(value: Any) -> str:
    names = {
        dict: "a table",
        list: "an array",
        str: "a string",
        bool: "a boolean",
        int: "an integer",
        float: "a float",
    }
    return names.get(type(value), f"a {type(value).__name__}")


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


class KeyReader:
    """Typed reads of policy keys that record a problem instead of raising."""

    def __init__(self, source: str, lines: KeyLines, fmt: str) -> None:
        self.source = source
        self.lines = lines
        self.fmt = fmt
        self.problems: list[Problem] = []

    def report(self, path: KeyPath, message: str) -> None:
        line = self.lines.line_of(path)
        self.problems.append(Problem(self.source, line, format_key(path), message))

    def type_name(self, value: Any) -> str:
        return _json_type(value) if self.fmt == "json" else _toml_type(value)

    def table_name(self) -> str:
        return "an object" if self.fmt == "json" else "a table"

    def wrong_type(self, path: KeyPath, expected: str, value: Any) -> None:
        self.report(path, f"must be {expected}, not {self.type_name(value)}")

    # Single keys ------------------------------------------------------------

    def known_keys(
        self, table: Mapping[str, Any], path: KeyPath, allowed: Sequence[str]
    ) -> None:
        for key in table:
            if key not in allowed:
                hint = _suggest(key, allowed) or f"; known keys: {', '.join(allowed)}"
                self.report((*path, key), f"unknown key {key!r}{hint}")

    def text(
        self,
        table: Mapping[str, Any],
        path: KeyPath,
        key: str,
        *,
        required: bool = False,
    ) -> str | None:
        """Return a non-empty string, or None when absent or invalid."""
        if key not in table:
            if required:
                self.report((*path, key), "is missing")
            return None
        value = table[key]
        if not isinstance(value, str):
            self.wrong_type((*path, key), "a string", value)
            return None
        if not value.strip():
            self.report((*path, key), "must not be empty")
            return None
        return self._encodable(value, (*path, key))

    def _encodable(self, value: str, path: KeyPath) -> str | None:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            self.report(
                path, "is not valid Unicode text because it contains a lone surrogate"
            )
            return None
        return value

    def description(self, table: Mapping[str, Any], path: KeyPath) -> str:
        value = table.get("description", "")
        if not isinstance(value, str):
            self.wrong_type((*path, "description"), "a string", value)
            return ""
        return self._encodable(value, (*path, "description")) or ""

    def choice(
        self, table: Mapping[str, Any], path: KeyPath, key: str, choices: Sequence[str]
    ) -> str | None:
        value = self.text(table, path, key)
        if value is not None and value not in choices:
            hint = (
                _suggest(value, choices) or f"; expected one of: {', '.join(choices)}"
            )
            self.report((*path, key), f"unknown value {value!r}{hint}")
            return None
        return value

    def number(
        self, table: Mapping[str, Any], path: KeyPath, key: str, default: float
    ) -> float:
        """Return a finite number of at least zero; `default` when absent or invalid."""
        if key not in table:
            return default
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.wrong_type((*path, key), "a number", value)
            return default
        if not math.isfinite(value):
            self.report((*path, key), f"must be a finite number, not {value!r}")
            return default
        if value < 0:
            self.report((*path, key), f"must not be negative, not {value!r}")
            return default
        return float(value)

    def count(self, table: Mapping[str, Any], path: KeyPath, key: str) -> int | None:
        if key not in table:
            return None
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, int):
            self.wrong_type((*path, key), "a whole number", value)
            return None
        if value < 1:
            self.report((*path, key), f"must be at least 1, not {value}")
            return None
        return value

    def flag(self, table: Mapping[str, Any], path: KeyPath, key: str) -> bool | None:
        if key not in table:
            return None
        value = table[key]
        if not isinstance(value, bool):
            self.wrong_type((*path, key), "true or false", value)
            return None
        return value

    def texts(
        self, table: Mapping[str, Any], path: KeyPath, key: str
    ) -> tuple[str, ...]:
        """Return a list of distinct non-empty strings; () when absent or invalid."""
        if key not in table:
            return ()
        values = table[key]
        if not isinstance(values, list):
            self.wrong_type((*path, key), "an array of strings", values)
            return ()
        found: list[str] = []
        for index, value in enumerate(values):
            where = (*path, key, index)
            if not isinstance(value, str):
                self.wrong_type(where, "a string", value)
            elif not value.strip():
                self.report(where, "must not be empty")
            elif not value.isprintable():
                self.report(where, f"{value!r} contains a control character")
            elif value in found:
                self.report(where, f"{value!r} is listed twice")
            elif self._encodable(value, where) is not None:
                found.append(value)
        return tuple(found)

    def globs(
        self, table: Mapping[str, Any], path: KeyPath, key: str
    ) -> tuple[str, ...]:
        """Return a list of valid glob patterns, `!` allowed; () when absent."""
        patterns = self.texts(table, path, key)
        for index, pattern in enumerate(table.get(key) or ()):
            if isinstance(pattern, str) and pattern in patterns:
                problem = glob_problem(pattern)
                if problem is not None:
                    self.report((*path, key, index), f"pattern {pattern!r} {problem}")
        if patterns and all(pattern.startswith("!") for pattern in patterns):
            self.report(
                (*path, key),
                "has only '!' patterns, which select nothing; start with a "
                "pattern that selects, such as '**'",
            )
        return patterns
