"""Build realistic GitHub webhook payloads for tests."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

ZERO_SHA = "0" * 40
REPOSITORY = {
    "id": 1000001,
    "name": "PMOVES.AI",
    "full_name": "POWERFULMOVES/PMOVES.AI",
    "private": False,
    "owner": {"login": "POWERFULMOVES", "id": 2000001, "type": "Organization"},
    "default_branch": "main",
}


def fake_sha(*parts: object) -> str:
    """Return a stable 40-character hex id derived from `parts`."""
    return hashlib.sha1(repr(parts).encode()).hexdigest()


def make_commit(
    message: str,
    added: Sequence[str] = (),
    modified: Sequence[str] = (),
    removed: Sequence[str] = (),
) -> dict[str, Any]:
    """Return one entry of a push payload's `commits` list."""
    sha = fake_sha(message, tuple(added), tuple(modified), tuple(removed))
    person = {
        "name": "Example Dev",
        "email": "dev@example.com",
        "username": "example-dev",
    }
    return {
        "id": sha,
        "tree_id": fake_sha("tree", sha),
        "distinct": True,
        "message": message,
        "timestamp": "2026-11-30T10:15:00Z",
        "url": f"https://github.com/POWERFULMOVES/PMOVES.AI/commit/{sha}",
        "author": person,
        "committer": person,
        "added": list(added),
        "removed": list(removed),
        "modified": list(modified),
    }


def make_push(
    ref: str,
    modified: Sequence[str] = (),
    message: str = "change",
    *,
    commits: list[dict[str, Any]] | None = None,
    before: str | None = None,
) -> dict[str, Any]:
    """Return a push payload for `ref` with one commit changing `modified`."""
    if commits is None:
        commits = [make_commit(message, modified=modified)]
    head = commits[-1] if commits else None
    after = head["id"] if head else fake_sha("empty", ref)
    return {
        "ref": ref,
        "before": before or fake_sha("before", after),
        "after": after,
        "created": before == ZERO_SHA,
        "deleted": False,
        "forced": False,
        "base_ref": None,
        "compare": "https://github.com/POWERFULMOVES/PMOVES.AI/compare/a...b",
        "commits": commits,
        "head_commit": head,
        "repository": REPOSITORY,
        "pusher": {"name": "example-dev", "email": "dev@example.com"},
        "sender": {"login": "example-dev", "id": 3000001, "type": "User"},
    }


def encode(payload: Any) -> bytes:
    """Return `payload` as the JSON bytes a delivery would carry."""
    return json.dumps(payload).encode()
