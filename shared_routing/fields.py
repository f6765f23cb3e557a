"""Read typed fields out of decoded JSON, naming the field path in every error.

Webhook payloads and API bodies arrive from outside, so any field can be absent,
null or of the wrong JSON type. `JsonObject` wraps one decoded object together
with its path (such as `payload.commits[3]`) and raises `BadRequest` with that
path, so a hostile value never surfaces as a KeyError or TypeError.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import BadRequest

_SHOWN_CHARS = 60


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
