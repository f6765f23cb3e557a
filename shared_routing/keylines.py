"""Find the source line of each key path in a TOML or JSON document.

`tomllib` and `json` return values without positions, so validation messages
would have no line numbers. These scanners walk text that the standard parser
has already accepted and record, for each key path such as
`("rules", 2, "pool")` or `("pools", "vps", "fallback", 0)`, the line where
that key or array element starts. They follow TOML 1.0
(https://toml.io/en/v1.0.0): `[table]` and `[[array of tables]]` headers,
dotted and quoted keys, inline tables, and arrays spread over many lines. The
JSON scanner also reports keys repeated inside one object, which `json.loads`
silently collapses to the last value.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from json.decoder import scanstring  # type: ignore[attr-defined]

KeyPath = tuple[str | int, ...]

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_TOML_ESCAPES = {
    "b": "\b",
    "t": "\t",
    "n": "\n",
    "f": "\f",
    "r": "\r",
    "e": "\x1b",
    '"': '"',
    "\\": "\\",
}


@dataclass
class KeyLines:
    """Lines of the key paths in one document, and JSON keys given twice."""

    lines: dict[KeyPath, int] = field(default_factory=dict)
    duplicates: list[tuple[KeyPath, int]] = field(default_factory=list)

    def line_of(self, path: KeyPath) -> int | None:
        """Return the line of `path`, or of its closest ancestor found."""
        for end in range(len(path), 0, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None

    def record(self, path: KeyPath, line: int) -> None:
        self.lines.setdefault(path, line)


def format_key(path: KeyPath) -> str:
    """Return a key path as people write it: `rules[2].pool`, `pools.vps`."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
            continue
        name = part if _BARE_KEY.fullmatch(part) else json.dumps(part)
        text += f".{name}" if text else name
    return text


# ---------------------------------------------------------------------------
# TOML


class _TomlScanner:
    """Walk valid TOML text and record the line of each key and element."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line = 1
        self.found = KeyLines()
        self.table: KeyPath = ()
        # How many elements each array of tables has so far, by resolved path.
        self.array_sizes: dict[KeyPath, int] = {}

    def scan(self) -> KeyLines:
        while True:
            self._skip_blank(newlines=True)
            if self.pos >= len(self.text):
                return self.found
            if self._peek() == "[":
                self._header()
            else:
                self._key_value(self.table)

    # Characters ------------------------------------------------------------

    def _peek(self, offset: int = 0) -> str:
        index = self.pos + offset
        return self.text[index] if index < len(self.text) else ""

    def _advance(self, count: int = 1) -> None:
        self.line += self.text.count("\n", self.pos, self.pos + count)
        self.pos += count

    def _skip_blank(self, *, newlines: bool) -> None:
        """Skip spaces and tabs, comments, and line breaks when allowed."""
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char in " \t":
                self.pos += 1
            elif char == "#":
                end = self.text.find("\n", self.pos)
                self.pos = len(self.text) if end < 0 else end
            elif newlines and char in "\r\n":
                self._advance()
            else:
                return

    # Structure -------------------------------------------------------------

    def _header(self) -> None:
        line = self.line
        is_array = self._peek(1) == "["
        self._advance(2 if is_array else 1)
        self._skip_blank(newlines=False)
        keys = self._key()
        self._skip_blank(newlines=False)
        self._advance(2 if is_array else 1)
        path = self._resolve(keys)
        for end in range(1, len(path)):
            self.found.record(path[:end], line)
        if is_array:
            index = self.array_sizes.get(path, 0)
            self.array_sizes[path] = index + 1
            self.found.record(path, line)
            path = (*path, index)
        self.found.record(path, line)
        self.table = path

    def _resolve(self, keys: list[str]) -> KeyPath:
        """Turn header keys into a path, entering the last element of arrays."""
        path: KeyPath = ()
        for position, key in enumerate(keys):
            path = (*path, key)
            size = self.array_sizes.get(path)
            if size is not None and position < len(keys) - 1:
                path = (*path, size - 1)
        return path

    def _key_value(self, table: KeyPath) -> None:
        line = self.line
        keys = self._key()
        path = (*table, *keys)
        for end in range(len(table) + 1, len(path) + 1):
            self.found.record(path[:end], line)
        self._skip_blank(newlines=False)
        self._advance()  # "="
        self._skip_blank(newlines=False)
        self._value(path)

    def _key(self) -> list[str]:
        keys = [self._simple_key()]
        while True:
            self._skip_blank(newlines=False)
            if self._peek() != ".":
                return keys
            self._advance()
            self._skip_blank(newlines=False)
            keys.append(self._simple_key())

    def _simple_key(self) -> str:
        char = self._peek()
        if char in "\"'":
            return self._string()
        match = _BARE_KEY.match(self.text, self.pos)
        if match is None:
            raise ValueError(f"no key at line {self.line}")
        self.pos = match.end()
        return match.group()

    def _value(self, path: KeyPath) -> None:
        char = self._peek()
        if char in "\"'":
            self._string()
        elif char == "[":
            self._array(path)
        elif char == "{":
            self._inline_table(path)
        else:
            while self.pos < len(self.text) and self.text[self.pos] not in ",]}#\r\n":
                self.pos += 1

    def _array(self, path: KeyPath) -> None:
        self._advance()  # "["
        index = 0
        while True:
            self._skip_blank(newlines=True)
            if self._peek() == "]":
                self._advance()
                return
            self.found.record((*path, index), self.line)
            self._value((*path, index))
            index += 1
            self._skip_blank(newlines=True)
            if self._peek() == ",":
                self._advance()

    def _inline_table(self, path: KeyPath) -> None:
        self._advance()  # "{"
        while True:
            self._skip_blank(newlines=True)
            if self._peek() == "}":
                self._advance()
                return
            self._key_value(path)
            self._skip_blank(newlines=True)
            if self._peek() == ",":
                self._advance()

    def _string(self) -> str:
        quote = self._peek()
        if self.text.startswith(quote * 3, self.pos):
            return self._multiline_string(quote)
        start = self.pos + 1
        if quote == "'":
            end = self.text.index("'", start)
            self.pos = end + 1
            return self.text[start:end]
        chars: list[str] = []
        index = start
        while self.text[index] != '"':
            if self.text[index] == "\\":
                char, index = _toml_escape(self.text, index)
                chars.append(char)
            else:
                chars.append(self.text[index])
                index += 1
        self.pos = index + 1
        return "".join(chars)

    def _multiline_string(self, quote: str) -> str:
        delimiter = quote * 3
        index = self.pos + 3
        while True:
            index = self.text.index(delimiter, index)
            escaped = quote == '"' and _odd_backslashes_before(self.text, index)
            if not escaped:
                break
            index += 1
        # Up to two quotes may directly precede the closing delimiter.
        end = index
        while self.text.startswith(quote, end + 3):
            end += 1
        self._advance(end + 3 - self.pos)
        return ""


def _toml_escape(text: str, index: int) -> tuple[str, int]:
    """Decode the escape at `index`; return the character and the next index."""
    code = text[index + 1]
    if code in "uU":
        width = 4 if code == "u" else 8
        value = int(text[index + 2 : index + 2 + width], 16)
        return chr(value), index + 2 + width
    return _TOML_ESCAPES.get(code, code), index + 2


def _odd_backslashes_before(text: str, index: int) -> bool:
    count = 0
    while index - count - 1 >= 0 and text[index - count - 1] == "\\":
        count += 1
    return count % 2 == 1


def toml_key_lines(text: str) -> KeyLines:
    """Return the line of every key path in TOML text that `tomllib` accepts."""
    return _TomlScanner(text).scan()


# ---------------------------------------------------------------------------
# JSON

_JSON_SCALAR_END = re.compile(r"[\s,\]}]")


class _JsonScanner:
    """Walk valid JSON text and record the line of each key and element."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line = 1
        self.found = KeyLines()

    def scan(self) -> KeyLines:
        self._skip_space()
        self._value(())
        return self.found

    def _skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t\r\n":
            if self.text[self.pos] == "\n":
                self.line += 1
            self.pos += 1

    def _value(self, path: KeyPath) -> None:
        char = self.text[self.pos]
        if char == "{":
            self._object(path)
        elif char == "[":
            self._array(path)
        elif char == '"':
            self._string()
        else:
            match = _JSON_SCALAR_END.search(self.text, self.pos)
            self.pos = len(self.text) if match is None else match.start()

    def _object(self, path: KeyPath) -> None:
        self.pos += 1
        seen: set[str] = set()
        while True:
            self._skip_space()
            if self.text[self.pos] == "}":
                self.pos += 1
                return
            if self.text[self.pos] == ",":
                self.pos += 1
                continue
            line = self.line
            key = self._string()
            child = (*path, key)
            if key in seen:
                self.found.duplicates.append((child, line))
            seen.add(key)
            self.found.record(child, line)
            self._skip_space()
            self.pos += 1  # ":"
            self._skip_space()
            self._value(child)

    def _array(self, path: KeyPath) -> None:
        self.pos += 1
        index = 0
        while True:
            self._skip_space()
            if self.text[self.pos] == "]":
                self.pos += 1
                return
            if self.text[self.pos] == ",":
                self.pos += 1
                continue
            self.found.record((*path, index), self.line)
            self._value((*path, index))
            index += 1

    def _string(self) -> str:
        value: str
        value, self.pos = scanstring(self.text, self.pos + 1)
        return value


def json_key_lines(text: str) -> KeyLines:
    """Return the line of every key path in JSON text that `json` accepts."""
    return _JsonScanner(text).scan()
