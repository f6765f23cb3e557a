"""Tests for reading JSON Lines commit histories."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from conftest import shared_fixture

from shared_routing.history import HistoryCommit, HistoryError, parse_history

SHA = "09f0ad73242ca6c1b596c66e7617a8165f437a80"
PARENT = "d6c5381ebd85e1fb61559362ee92d4361bc7185f"


def record(**overrides: Any) -> str:
    data: dict[str, Any] = {
        "sha": SHA,
        "parents": [PARENT],
        "committed_at": "2025-12-12T21:29:42-05:00",
        "message_subject": "docs: move plans",
        "added": ["docs/new.md"],
        "modified": ["README.md"],
        "removed": ["docs/gone.md"],
        "renamed": [["docs/old name.md", "docs/plans/old name.md"]],
    }
    data.update(overrides)
    return json.dumps(data)


def history_error(*lines: str) -> HistoryError:
    with pytest.raises(HistoryError) as caught:
        list(parse_history(lines, source="h.jsonl"))
    return caught.value


def test_parse_history_line_fields() -> None:
    (commit,) = parse_history([record()], source="h.jsonl")
    assert commit == HistoryCommit(
        sha=SHA,
        parents=(PARENT,),
        committed_at=datetime(
            2025, 12, 12, 21, 29, 42, tzinfo=timezone(timedelta(hours=-5))
        ),
        subject="docs: move plans",
        added=("docs/new.md",),
        modified=("README.md",),
        removed=("docs/gone.md",),
        renamed=(("docs/old name.md", "docs/plans/old name.md"),),
    )


def test_history_paths_count_both_rename_names() -> None:
    (commit,) = parse_history([record(modified=["docs/new.md"])])
    assert commit.paths == (
        "docs/gone.md",
        "docs/new.md",
        "docs/old name.md",
        "docs/plans/old name.md",
    )


def test_history_skips_blank_lines_and_extra_fields() -> None:
    lines = ["", record(rename_detection="exact-only"), "   ", record(sha=PARENT)]
    commits = list(parse_history(lines))
    assert [commit.sha for commit in commits] == [SHA, PARENT]


def test_history_utc_designator() -> None:
    (commit,) = parse_history([record(committed_at="2025-08-27T02:52:05Z")])
    assert commit.committed_at == datetime(2025, 8, 27, 2, 52, 5, tzinfo=UTC)


def test_history_invalid_json_names_line() -> None:
    error = history_error(record(), '{"sha": ')
    assert str(error) == "h.jsonl:2: invalid JSON: Expecting value (column 9)"
    assert error.line == 2
    assert error.source == "h.jsonl"


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"sha": None}, "h.jsonl:1: commit.sha is missing"),
        ({"added": "a.py"}, "h.jsonl:1: commit.added must be an array, not string"),
        ({"parents": [1]}, "h.jsonl:1: commit.parents[0] must be a string, not number"),
        (
            {"committed_at": "yesterday"},
            "h.jsonl:1: commit.committed_at is not an ISO 8601 timestamp: 'yesterday'",
        ),
        (
            {"committed_at": "2025-12-12T21:29:42"},
            "h.jsonl:1: commit.committed_at has no UTC offset: '2025-12-12T21:29:42'",
        ),
        (
            {"renamed": [["only-one"]]},
            "h.jsonl:1: commit.renamed[0] must contain 2 paths (old, new), not 1",
        ),
        (
            {"renamed": ["a -> b"]},
            "h.jsonl:1: commit.renamed[0] must be an array of the old and the new "
            "path, not string",
        ),
        ({"renamed": [["a", ""]]}, "h.jsonl:1: commit.renamed[0][1] must not be empty"),
    ],
)
def test_history_field_errors(overrides: dict[str, Any], expected: str) -> None:
    assert str(history_error(record(**overrides))) == expected


def test_history_not_object() -> None:
    assert (
        str(history_error("[1, 2]")) == "h.jsonl:1: commit must be an object, not array"
    )


def test_recorded_history_reads_every_line() -> None:
    path = shared_fixture("history", "pmoves-ai-commits.jsonl")
    lines = path.read_text().splitlines()
    commits = list(parse_history(lines, source=str(path)))
    assert len(commits) == len(lines) == 1000
    first = json.loads(lines[0])
    assert commits[0].sha == first["sha"]
    assert commits[0].subject == first["message_subject"]
    expected = {*first["added"], *first["modified"], *first["removed"]}
    for old, new in first["renamed"]:
        expected.update((old, new))
    assert commits[0].paths == tuple(sorted(expected))
