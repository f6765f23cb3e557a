"""Read a repository history exported as JSON Lines, one commit per line.

Each line is an object with `sha`, `parents`, `committed_at` (ISO 8601 with a
UTC offset), `message_subject` and the changed paths as `added`, `modified`,
`removed` and `renamed` (pairs of old and new path). Other fields are ignored.
The caller reads the file, so this module stays free of I/O.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from .errors import BadRequest
from .fields import JsonObject, show, wrong_type


@dataclass(frozen=True)
class HistoryCommit:
    """One commit of an exported history, with the paths it changed."""

    sha: str
    parents: tuple[str, ...]
    committed_at: datetime
    subject: str
    added: tuple[str, ...]
    modified: tuple[str, ...]
    removed: tuple[str, ...]
    renamed: tuple[tuple[str, str], ...]

    @property
    def paths(self) -> tuple[str, ...]:
        """Return every changed path, sorted and unique, with both names of a rename."""
        names = {*self.added, *self.modified, *self.removed}
        for old, new in self.renamed:
            names.add(old)
            names.add(new)
        return tuple(sorted(names))


class HistoryError(BadRequest):
    """Error for a history line that is not a valid commit record."""

    def __init__(self, source: str, line: int, message: str) -> None:
        super().__init__(f"{source}:{line}: {message}", source=source, line=line)
        self.source = source
        self.line = line
        self.reason = message


def parse_history(
    lines: Iterable[str], source: str = "<history>"
) -> Iterator[HistoryCommit]:
    """Yield the commits of a JSON Lines history, skipping blank lines.

    Raises HistoryError naming `source` and the 1-based line number of the
    first invalid line.
    """
    for number, line in enumerate(lines, start=1):
        if line.strip():
            yield parse_history_line(line, source, number)


def parse_history_line(line: str, source: str, number: int) -> HistoryCommit:
    """Parse line `number` of `source` into a HistoryCommit."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as error:
        raise HistoryError(
            source, number, f"invalid JSON: {error.msg} (column {error.colno})"
        ) from error
    except (RecursionError, ValueError) as error:
        raise HistoryError(source, number, "invalid JSON value") from error
    try:
        return _commit(JsonObject(data, "commit"))
    except BadRequest as error:
        raise HistoryError(source, number, error.message) from error


def _commit(record: JsonObject) -> HistoryCommit:
    parents = record.texts("parents")
    return HistoryCommit(
        sha=record.text("sha"),
        parents=tuple(parents),
        committed_at=_timestamp(record, "committed_at"),
        subject=record.optional_text("message_subject") or "",
        added=tuple(record.texts("added")),
        modified=tuple(record.texts("modified")),
        removed=tuple(record.texts("removed")),
        renamed=_renames(record, "renamed"),
    )


def _timestamp(record: JsonObject, key: str) -> datetime:
    text = record.text(key)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as error:
        raise BadRequest(
            f"{record.field_path(key)} is not an ISO 8601 timestamp: {show(text)}"
        ) from error
    if moment.tzinfo is None:
        raise BadRequest(f"{record.field_path(key)} has no UTC offset: {show(text)}")
    return moment


def _renames(record: JsonObject, key: str) -> tuple[tuple[str, str], ...]:
    pairs: list[tuple[str, str]] = []
    path = record.field_path(key)
    for index, item in enumerate(record.array(key)):
        item_path = f"{path}[{index}]"
        if not isinstance(item, list | tuple):
            raise wrong_type(item_path, "an array of the old and the new path", item)
        if len(item) != 2:
            raise BadRequest(
                f"{item_path} must contain 2 paths (old, new), not {len(item)}"
            )
        for position, name in enumerate(item):
            if not isinstance(name, str):
                raise wrong_type(f"{item_path}[{position}]", "a string", name)
            if not name:
                raise BadRequest(f"{item_path}[{position}] must not be empty")
        pairs.append((item[0], item[1]))
    return tuple(pairs)
