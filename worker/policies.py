"""The active routing policy: stored in KV, validated before it is stored.

`policy:active` contains the policy text in use. Every accepted upload is also
kept under `policy:version:<version id>`, so an operator can read an earlier
version and upload it again to restore it. Without an upload the built-in
default policy is active.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from shared_routing.errors import BadRequest, UnsupportedMediaType
from shared_routing.policy import Policy, default_policy, load_policy

from .store import KeyValueStore, get_json, list_all, put_json

ACTIVE_KEY = "policy:active"
# Version ids are the upload time in milliseconds and a digest prefix.
VERSION_ID = re.compile(r"[0-9]{15}-[0-9a-f]{12}")
VERSION_PREFIX = "policy:version:"
MAX_POLICY_BYTES = 512 * 1024

_FORMATS = {
    "application/toml": "toml",
    "text/x-toml": "toml",
    "application/json": "json",
}


@dataclass(frozen=True)
class ActivePolicy:
    """The policy in force, with the id of the stored version it came from."""

    policy: Policy
    version_id: str | None
    uploaded_at: float | None

    @property
    def source(self) -> str:
        """Where the policy came from: "uploaded" or "built-in"."""
        return "uploaded" if self.version_id else "built-in"

    @property
    def identity(self) -> str:
        """The stored version id, or "built-in"; it changes with every upload."""
        return self.version_id or "built-in"


# One parsed policy per isolate, keyed by version id, so a webhook re-parses the
# policy only after an upload.
_cache: dict[str, Policy] = {}


async def load_active_policy(store: KeyValueStore) -> ActivePolicy:
    """Return the uploaded policy in force, or the built-in default policy."""
    record = await get_json(store, ACTIVE_KEY)
    if not isinstance(record, dict) or "text" not in record:
        return ActivePolicy(default_policy(), None, None)
    version_id = str(record.get("version_id"))
    policy = _cache.get(version_id)
    if policy is None:
        policy = load_policy(
            record["text"], f"policy {version_id}", record.get("format")
        )
        _cache.clear()
        _cache[version_id] = policy
    return ActivePolicy(policy, version_id, record.get("uploaded_at"))


def policy_format(content_type: str | None) -> str | None:
    """Return "toml" or "json" for a request content type, None to sniff."""
    if not content_type:
        return None
    media_type = content_type.split(";")[0].strip().lower()
    if media_type in _FORMATS:
        return _FORMATS[media_type]
    if media_type in ("text/plain", "application/octet-stream"):
        return None
    raise UnsupportedMediaType(
        f"policy content type {media_type!r} is not supported; "
        "send application/toml or application/json"
    )


async def store_policy(
    store: KeyValueStore, body: bytes, content_type: str | None, now: float
) -> dict[str, Any]:
    """Validate an uploaded policy and make it active; raise `PolicyInvalid` if bad.

    The previous active version stays readable under its version key.
    """
    if len(body) > MAX_POLICY_BYTES:
        raise BadRequest(
            f"policy is {len(body)} bytes; the limit is {MAX_POLICY_BYTES}"
        )
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BadRequest(f"policy is not valid UTF-8 at byte {error.start}") from error
    fmt = policy_format(content_type)
    policy = load_policy(text, "uploaded policy", fmt)
    version_id = f"{int(now * 1000):015d}-{hashlib.sha256(body).hexdigest()[:12]}"
    record = {
        "version_id": version_id,
        "uploaded_at": now,
        "format": fmt,
        "name": policy.name,
        "version": policy.version,
        "text": text,
    }
    await put_json(store, VERSION_PREFIX + version_id, record)
    await put_json(store, ACTIVE_KEY, record)
    _cache.clear()
    _cache[version_id] = policy
    return record


async def list_policy_versions(store: KeyValueStore) -> list[str]:
    """Return the stored version ids, oldest first."""
    keys = await list_all(store, VERSION_PREFIX)
    return [key.removeprefix(VERSION_PREFIX) for key in keys]
