"""Check a read policy across keys: pools, fallback cycles, rule names, reachability.

Each check reports through the reader, so its problems join those found while
reading the keys themselves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .keylines import KeyPath
from .policy import GITHUB_HOSTED, SELF_HOSTED, Pool, Rule
from .policy_reader import KeyReader, _suggest
from .policy_shadow import shadowing_rule


def _check_references(
    reader: KeyReader,
    pools: Mapping[str, Pool],
    rules: Sequence[Rule],
    default_pool: str | None,
    mode: str,
) -> None:
    """Check what crosses keys: pool names, fallbacks, names and reachability."""
    known = ", ".join(pools) or "none"

    def unknown_pool(path: KeyPath, name: str, where: str) -> None:
        hint = _suggest(name, pools)
        reader.report(path, f"unknown pool {name!r}{where}; pools: {known}{hint}")

    if default_pool is not None and pools and default_pool not in pools:
        unknown_pool(("default_pool",), default_pool, "")
    for name, pool in pools.items():
        for index, target in enumerate(pool.fallback):
            if target not in pools:
                unknown_pool(("pools", name, "fallback", index), target, "")
    _check_cycles(reader, pools)
    names: dict[str, int] = {}
    for index, rule in enumerate(rules):
        if rule.pool and pools and rule.pool not in pools:
            unknown_pool(("rules", index, "pool"), rule.pool, f" in rule {rule.name!r}")
        if rule.name in names:
            reader.report(
                ("rules", index, "name"),
                f"duplicate rule name {rule.name!r}; "
                f"rules[{names[rule.name]}] has it too",
            )
        names.setdefault(rule.name, index)
    _check_mode(reader, pools, mode)
    _check_shadowing(reader, pools, rules, mode)


def _check_cycles(reader: KeyReader, pools: Mapping[str, Pool]) -> None:
    """Report each fallback cycle once, at the first pool of the cycle."""
    reported: set[frozenset[str]] = set()
    for start in pools:
        stack: list[tuple[str, tuple[str, ...]]] = [(start, (start,))]
        while stack:
            name, trail = stack.pop()
            for target in pools[name].fallback:
                if target not in pools:
                    continue
                if target == start:
                    members = frozenset(trail)
                    if members not in reported:
                        reported.add(members)
                        chain = " -> ".join((*trail, start))
                        reader.report(
                            ("pools", start, "fallback"), f"fallback cycle: {chain}"
                        )
                elif target not in trail:
                    stack.append((target, (*trail, target)))


def _check_mode(reader: KeyReader, pools: Mapping[str, Pool], mode: str) -> None:
    if not pools:
        return
    kinds = {pool.kind for pool in pools.values()}
    if mode == "self-hosted-only" and SELF_HOSTED not in kinds:
        reader.report(("mode",), "is self-hosted-only, but no pool is self-hosted")
    if mode == "github-hosted-only" and GITHUB_HOSTED not in kinds:
        reader.report(("mode",), "is github-hosted-only, but no pool is github-hosted")


def _check_shadowing(
    reader: KeyReader, pools: Mapping[str, Pool], rules: Sequence[Rule], mode: str
) -> None:
    for index, rule in enumerate(rules):
        for earlier_index, earlier in enumerate(rules[:index]):
            pool = pools.get(earlier.pool)
            if mode == "self-hosted-only" and pool is not None and pool.github_hosted:
                continue  # Skipped in this mode, so it shadows nothing.
            reason = shadowing_rule(earlier, rule)
            if reason is not None:
                reader.report(
                    ("rules", index),
                    f"rule {rule.name!r} can never match: rule {earlier.name!r} "
                    f"(rules[{earlier_index}]) comes first and {reason}",
                )
                break
