"""Decode JSON from outside and read typed fields, naming the field path in errors.

Webhook payloads and API bodies arrive from outside, so the text can be invalid
or nested deep enough to overflow the parser, and any field can be absent, null
or of the wrong JSON type. `load_json` turns every such text into BadRequest.
`JsonObject` wraps one decoded object together with its path (such as
`payload.commits[3]`) and raises BadRequest with that path, so a hostile value
never surfaces as a KeyError or TypeError.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from itertools import accumulate
from typing import Any

from .errors import BadRequest

_SHOWN_CHARS = 60

# Deepest nesting of arrays and objects that load_json accepts. GitHub payloads
# nest about 6 levels. The C JSON parser recurses once per level, and under
# Pyodide 314.0.7 in Node 22 a depth of 10,000 overflows the WebAssembly stack
# and kills the interpreter instead of raising RecursionError.
MAX_JSON_DEPTH = 100

_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = bytes(code for code in range(256) if code not in b"[]{}")
_DEPTH_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def load_json(text: str, what: str) -> Any:
    """Decode the JSON document `text`; `what` names it in errors, such as "body".

    Raises BadRequest for invalid JSON (with line and column), for NaN and
    Infinity, for nesting deeper than MAX_JSON_DEPTH, and for integers longer
    than Python converts (4300 digits by default since Python 3.11).
    """
    if not text.strip():
        raise BadRequest(f"{what} is empty")
    # Counting brackets inside strings too is fast and can only overestimate,
    # so the exact count runs only when the fast one is over the limit.
    if bracket_depth(text) > MAX_JSON_DEPTH and json_depth(text) > MAX_JSON_DEPTH:
        raise BadRequest(f"{what} nests arrays or objects deeper than {MAX_JSON_DEPTH}")
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as error:
        raise BadRequest(
            f"{what} is not valid JSON: {error.msg} "
            f"at line {error.lineno} column {error.colno}"
        ) from error
    except RecursionError as error:
        raise BadRequest(f"{what} nests arrays or objects too deeply") from error
    except ValueError as error:
        # The only ValueError json.loads raises besides JSONDecodeError is for an
        # integer longer than sys.get_int_max_str_digits().
        raise BadRequest(f"{what} contains a number with too many digits") from error


def json_depth(text: str) -> int:
    """Return the deepest nesting of arrays and objects in the JSON `text`.

    Brackets inside strings do not count. For unbalanced or unterminated input
    the result is only approximate.
    """
    return bracket_depth(_JSON_STRING.sub("", text))


def bracket_depth(text: str) -> int:
    """Return the deepest nesting of `[`/`{` in `text`, counting brackets in strings."""
    # bytes.translate and accumulate keep the scan in C. On a 6 MB push payload
    # under CPython 3.11 it took a third of the time json.loads took.
    # UTF-8 never uses a bracket byte inside a multi-byte character.
    brackets = text.encode("utf-8", "surrogatepass").translate(None, _NOT_BRACKET)
    return max(accumulate(map(_DEPTH_STEP.__getitem__, brackets)), default=0)


def _reject_constant(name: str) -> Any:
    raise BadRequest(f"JSON does not allow {name}")


def json_type(value: Any) -> str:
    """Return the JSON name of a decoded value's type, such as "object" or "null"."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return type(value).__name__


def show(value: str) -> str:
    """Return `value` quoted for an error message, shortened when it is long."""
    if len(value) <= _SHOWN_CHARS:
        return repr(value)
    return repr(value[:_SHOWN_CHARS]) + "..."


def wrong_type(path: str, expected: str, value: Any) -> BadRequest:
    """Return the error for a field at `path` whose value has the wrong JSON type."""
    return BadRequest(f"{path} must be {expected}, not {json_type(value)}")


class JsonObject:
    """A decoded JSON object and the path that names it in error messages."""

    def __init__(self, data: Any, path: str) -> None:
        if not isinstance(data, Mapping):
            raise wrong_type(path, "an object", data)
        self.data: Mapping[Any, Any] = data
        self.path = path

    def field_path(self, key: str) -> str:
        """Return the path of the field `key` inside this object."""
        return f"{self.path}.{key}"

    def get(self, key: str) -> Any:
        """Return the raw value of `key`, or None when it is absent."""
        return self.data.get(key)

    def require(self, key: str) -> Any:
        """Return the value of `key`, raising BadRequest when it is absent or null."""
        value = self.data.get(key)
        if value is None:
            raise BadRequest(f"{self.field_path(key)} is missing")
        return value

    def text(self, key: str) -> str:
        """Return the non-empty string at `key`."""
        value = self.require(key)
        if not isinstance(value, str):
            raise wrong_type(self.field_path(key), "a string", value)
        if not value:
            raise BadRequest(f"{self.field_path(key)} must not be empty")
        return value

    def optional_text(self, key: str) -> str | None:
        """Return the string at `key`, or None when it is absent or null."""
        value = self.data.get(key)
        if value is None or isinstance(value, str):
            return value
        raise wrong_type(self.field_path(key), "a string", value)

    def flag(self, key: str, default: bool = False) -> bool:
        """Return the boolean at `key`, or `default` when it is absent or null."""
        value = self.data.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise wrong_type(self.field_path(key), "a boolean", value)
        return value

    def optional_count(self, key: str) -> int | None:
        """Return the non-negative integer at `key`, or None when absent or null."""
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise wrong_type(self.field_path(key), "an integer", value)
        if value < 0:
            raise BadRequest(f"{self.field_path(key)} must not be negative")
        return value

    def child(self, key: str) -> JsonObject:
        """Return the object at `key`."""
        return JsonObject(self.require(key), self.field_path(key))

    def optional_child(self, key: str) -> JsonObject | None:
        """Return the object at `key`, or None when it is absent or null."""
        value = self.data.get(key)
        if value is None:
            return None
        return JsonObject(value, self.field_path(key))

    def array(self, key: str) -> list[Any]:
        """Return the array at `key`, or an empty list when it is absent or null."""
        value = self.data.get(key)
        if value is None:
            return []
        if not isinstance(value, list | tuple):
            raise wrong_type(self.field_path(key), "an array", value)
        return list(value)

    def objects(self, key: str) -> list[JsonObject]:
        """Return the array of objects at `key`, empty when absent or null."""
        path = self.field_path(key)
        return [
            JsonObject(item, f"{path}[{index}]")
            for index, item in enumerate(self.array(key))
        ]

    def texts(self, key: str) -> list[str]:
        """Return the array of non-empty strings at `key`, empty when absent or null."""
        path = self.field_path(key)
        items = self.array(key)
        for index, item in enumerate(items):
            if not isinstance(item, str):
                raise wrong_type(f"{path}[{index}]", "a string", item)
            if not item:
                raise BadRequest(f"{path}[{index}] must not be empty")
        return items
