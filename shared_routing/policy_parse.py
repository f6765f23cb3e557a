"""Parse policy text as TOML or JSON into a table and the line of each key.

Syntax errors, nesting deeper than the parsers can take and a JSON document
that is not an object raise PolicyInvalid with one problem.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping
from typing import Any

from .errors import PolicyInvalid, Problem
from .fields import MAX_JSON_DEPTH, bracket_depth, json_depth
from .keylines import KeyLines, json_key_lines, toml_key_lines
from .policy_reader import _json_type

_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")
_TOML_AT_END = " (at end of document)"


def sniff_format(text: str) -> str:
    """Return "json" when the text starts with `{`, otherwise "toml"."""
    return "json" if text.lstrip("\ufeff \t\r\n").startswith("{") else "toml"


def _check_depth(text: str, source: str, fmt: str) -> None:
    # Both parsers recurse once per nesting level, and under Pyodide a deep
    # enough document overflows the WebAssembly stack and kills the
    # interpreter before RecursionError is raised. No policy nests deeply, so
    # bracket counting that includes brackets inside strings is precise enough.
    if bracket_depth(text) <= MAX_JSON_DEPTH:
        return
    if fmt == "json" and json_depth(text) <= MAX_JSON_DEPTH:
        return
    message = f"arrays or tables are nested deeper than {MAX_JSON_DEPTH} levels"
    raise PolicyInvalid([Problem(source, None, "", message)])


def _parse(text: str, source: str, fmt: str) -> tuple[Mapping[str, Any], KeyLines]:
    _check_depth(text, source, fmt)
    if fmt == "toml":
        try:
            root = tomllib.loads(text)
        except RecursionError as error:
            message = "arrays or tables are nested too deeply"
            raise PolicyInvalid([Problem(source, None, "", message)]) from error
        except tomllib.TOMLDecodeError as error:
            problem = _toml_syntax_problem(source, str(error), text)
            raise PolicyInvalid([problem]) from error
        return root, _key_lines(toml_key_lines, text)
    if fmt == "json":
        try:
            value = json.loads(text, parse_constant=_reject_constant)
        except json.JSONDecodeError as error:
            message = f"invalid JSON: {error.msg} at column {error.colno}"
            raise PolicyInvalid([Problem(source, error.lineno, "", message)]) from error
        except RecursionError as error:
            message = "arrays or objects are nested too deeply"
            raise PolicyInvalid([Problem(source, None, "", message)]) from error
        except ValueError as error:
            raise PolicyInvalid([Problem(source, None, "", str(error))]) from error
        if not isinstance(value, dict):
            found = _json_type(value)
            message = f"a JSON policy must be an object, not {found}"
            raise PolicyInvalid([Problem(source, 1, "", message)])
        return value, _key_lines(json_key_lines, text)
    raise ValueError(f"unknown policy format {fmt!r}; expected 'toml' or 'json'")


def _key_lines(scan: Any, text: str) -> KeyLines:
    # The scanners only read text the standard parser accepted. Should one
    # still fail on a construct it does not know, problems lose their line
    # numbers rather than the policy failing to load.
    try:
        found: KeyLines = scan(text)
    except (ValueError, IndexError):
        return KeyLines()
    return found


def _toml_syntax_problem(source: str, message: str, text: str) -> Problem:
    if message.endswith(_TOML_AT_END):
        last_line = text.count("\n") + 1
        found = message.removesuffix(_TOML_AT_END)
        return Problem(source, last_line, "", f"invalid TOML: {found} at the end")
    match = _TOML_POSITION.search(message)
    if match is None:
        return Problem(source, None, "", f"invalid TOML: {message}")
    text = message[: match.start()]
    return Problem(
        source, int(match[1]), "", f"invalid TOML: {text} at column {match[2]}"
    )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"invalid JSON: {name} is not a number that a policy accepts")
