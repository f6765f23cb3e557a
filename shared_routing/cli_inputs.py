"""Read the command line's inputs: policy, pool availability, history and change.

A bad input raises CliError naming the file, line or option at fault, and
`cli.main` prints it and exits with its status.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from .decide import Availability, Decision, decide
from .errors import PolicyInvalid, RouterError
from .events import (
    ChangeSet,
    decode_payload,
    parse_pull_request,
    parse_push,
    parse_route_request,
)
from .history import HistoryCommit, parse_history
from .policy import Policy, default_policy, load_policy

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2

FORM_PREFIX = b"payload="


class CliError(Exception):
    """A problem with the command's input, reported as one or more lines."""

    def __init__(self, *lines: str, status: int = EXIT_INVALID) -> None:
        super().__init__(lines[0] if lines else "")
        self.lines = lines
        self.status = status


def _read_bytes(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise CliError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise CliError(f"{path}: is a directory, expected a file") from None
    except OSError as error:
        raise CliError(f"{path}: cannot read the file: {error.strerror}") from None


def _read_text(path: str) -> str:
    return _decode_text(path, _read_bytes(path))


def _decode_text(path: str, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise CliError(f"{path}:{line}: not valid UTF-8") from None


def _policy_format(path: str) -> str | None:
    suffix = Path(path).suffix.lower()
    return {".toml": "toml", ".json": "json"}.get(suffix)


def _policy(path: str | None) -> Policy:
    if path is None:
        return default_policy()
    text = _read_text(path)
    try:
        return load_policy(text, source=path, fmt=_policy_format(path))
    except PolicyInvalid as error:
        raise CliError(*(str(problem) for problem in error.problems)) from None


def _availability(args: argparse.Namespace, policy: Policy) -> Availability:
    for option, names in (("--down", args.down), ("--saturated", args.saturated)):
        for name in names:
            if name not in policy.pools:
                known = ", ".join(policy.pools)
                raise CliError(
                    f"unknown pool {name!r} in {option} (pools: {known})",
                    status=EXIT_USAGE,
                )
    return Availability(down=frozenset(args.down), saturated=frozenset(args.saturated))


def _read_history(path: str) -> list[HistoryCommit]:
    text = _read_text(path)
    try:
        return list(parse_history(text.splitlines(), source=path))
    except RouterError as error:
        raise CliError(error.message) from None


def _change(args: argparse.Namespace) -> ChangeSet:
    """Return the change set described by the route/explain arguments."""
    if args.payload is not None:
        change = _payload_change(args.payload, args.event)
        if args.files is not None:
            change = change.with_paths(
                args.files, total=len(set(args.files)), truncated=False
            )
        return change
    body: dict[str, Any] = {
        "repository": args.repository,
        "ref": args.ref,
        "sha": args.sha,
        "event": args.event,
        "labels": args.label,
        "draft": args.draft,
    }
    if args.files is not None:
        body["files"] = args.files
    if args.message is not None:
        body["message"] = args.message
    if args.base_ref is not None:
        body["base_ref"] = args.base_ref
    try:
        return parse_route_request(body)
    except RouterError as error:
        raise CliError(_option_message(error.message)) from None


def _option_message(message: str) -> str:
    """Name command-line options in place of the route request body's fields."""
    for field, option in (("body.base_ref", "--base-ref"), ("body.labels", "--label")):
        message = message.replace(field, option)
    return message.replace("body.", "--")


_PAYLOAD_PARSERS = {"push": parse_push, "pull_request": parse_pull_request}


def _payload_change(path: str, event: str) -> ChangeSet:
    parser = _PAYLOAD_PARSERS.get(event)
    if parser is None:
        raise CliError(
            f"--event {event!r} cannot be read from a payload "
            f"(supported: {', '.join(_PAYLOAD_PARSERS)})",
            status=EXIT_USAGE,
        )
    body = _read_bytes(path)
    try:
        if body.lstrip().startswith(FORM_PREFIX):
            payload = decode_payload(body, "application/x-www-form-urlencoded")
        else:
            payload = _load_json_file(path, _decode_text(path, body))
        return parser(payload)
    except RouterError as error:
        raise CliError(f"{path}: {error.message}") from None


def _load_json_file(path: str, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise CliError(
            f"{path}:{error.lineno}: invalid JSON: {error.msg} (column {error.colno})"
        ) from None
    except (RecursionError, ValueError):
        raise CliError(f"{path}: invalid JSON value") from None


def _decide(args: argparse.Namespace) -> tuple[ChangeSet, Decision]:
    policy = _policy(args.policy)
    availability = _availability(args, policy)
    change = _change(args)
    return change, decide(change, policy, availability)
