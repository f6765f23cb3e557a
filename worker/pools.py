"""Pool availability set by operators: which pools are down or saturated.

Decisions read it on every delivery so a fallback takes effect at once; the
record is a single small key that only operators write.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared_routing.decide import Availability
from shared_routing.errors import BadRequest, Unprocessable
from shared_routing.policy import Policy

from .store import KeyValueStore, get_json, put_json

STATUS_KEY = "pools:status"
STATES = ("down", "saturated")


async def load_availability(store: KeyValueStore) -> Availability:
    """Return the stored availability; every pool is up when nothing is stored."""
    record = await get_json(store, STATUS_KEY)
    if not isinstance(record, dict):
        return Availability()
    return Availability(
        down=frozenset(_names(record.get("down"))),
        saturated=frozenset(_names(record.get("saturated"))),
    )


def _names(value: Any) -> list[str]:
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, str)]


def parse_availability(data: Any, policy: Policy) -> Availability:
    """Validate an operator's `{"down": [...], "saturated": [...]}` body."""
    if not isinstance(data, Mapping):
        raise BadRequest("body must be a JSON object with `down` and `saturated` lists")
    unknown_keys = sorted(set(data) - set(STATES))
    if unknown_keys:
        raise BadRequest(
            f"unknown key {unknown_keys[0]!r}; expected `down` and `saturated`"
        )
    sets: dict[str, frozenset[str]] = {}
    for state in STATES:
        names = data.get(state, [])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise BadRequest(f"`{state}` must be a list of pool names")
        unknown = [name for name in names if name not in policy.pools]
        if unknown:
            raise Unprocessable(
                f"`{state}` names unknown pool {unknown[0]!r}",
                pools=sorted(policy.pools),
            )
        sets[state] = frozenset(names)
    return Availability(down=sets["down"], saturated=sets["saturated"])


def availability_to_dict(availability: Availability) -> dict[str, list[str]]:
    """Return the JSON form of `availability`, names sorted."""
    return {
        "down": sorted(availability.down),
        "saturated": sorted(availability.saturated),
    }


async def store_availability(
    store: KeyValueStore, availability: Availability, now: float
) -> dict[str, Any]:
    """Store `availability` as the one pool-status record."""
    record = {**availability_to_dict(availability), "updated_at": now}
    await put_json(store, STATUS_KEY, record)
    return record
