"""Routing policy: runner pools, ordered rules, a routing mode and GitHub rates.

A policy is written in TOML, or in JSON with the same structure, and is read
by `load_policy`, which reports every problem at once with its file, line and
key (see `policy_validate`). `docs/policy.md` describes the format. The
built-in policy is `default_policy.toml` beside this module.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, TypeVar

from .errors import NotFound, PolicyInvalid, Problem

__all__ = [
    "GITHUB_RATES_2026",
    "MODES",
    "Policy",
    "PolicyInvalid",
    "Pool",
    "Problem",
    "Rule",
    "default_policy",
    "dump_policy_toml",
    "load_policy",
    "policy_to_dict",
]

MODES = ("hybrid", "self-hosted-only", "github-hosted-only")
POOL_KINDS = ("self-hosted", "github-hosted")
PATHS_MATCH = ("any", "all")
SELF_HOSTED = "self-hosted"
GITHUB_HOSTED = "github-hosted"

# Per-minute list prices (USD) of GitHub-hosted runners from January 1, 2026,
# keyed by GitHub's billing SKU.
# Source: https://docs.github.com/en/billing/reference/actions-runner-pricing
GITHUB_RATES_2026: Mapping[str, float] = {
    # Standard runners.
    "linux_slim": 0.002,
    "linux": 0.006,
    "windows": 0.010,
    "macos": 0.062,
    # x64 larger runners.
    "linux_2_core_advanced": 0.006,
    "linux_4_core": 0.012,
    "linux_8_core": 0.022,
    "linux_16_core": 0.042,
    "linux_32_core": 0.082,
    "linux_64_core": 0.162,
    "linux_96_core": 0.252,
    "windows_4_core": 0.022,
    "windows_8_core": 0.042,
    "windows_16_core": 0.082,
    "windows_32_core": 0.162,
    "windows_64_core": 0.322,
    "windows_96_core": 0.552,
    "macos_l": 0.077,
    # arm64 larger runners.
    "linux_2_core_arm": 0.005,
    "linux_4_core_arm": 0.008,
    "linux_8_core_arm": 0.014,
    "linux_16_core_arm": 0.026,
    "linux_32_core_arm": 0.050,
    "linux_64_core_arm": 0.098,
    "windows_2_core_arm": 0.008,
    "windows_4_core_arm": 0.014,
    "windows_8_core_arm": 0.026,
    "windows_16_core_arm": 0.050,
    "windows_32_core_arm": 0.098,
    "windows_64_core_arm": 0.194,
    "macos_xl": 0.102,
    # GPU larger runners.
    "linux_4_core_gpu": 0.052,
    "windows_4_core_gpu": 0.102,
}
DEFAULT_BASELINE_SIZE = "linux"
DEFAULT_ESTIMATED_MINUTES = 10.0
DEFAULT_POLICY_FILE = "default_policy.toml"

T = TypeVar("T")


@dataclass(frozen=True)
class Pool:
    """A set of runners that one `runs-on` label list reaches, and its cost model.

    Self-hosted pools cost `monthly_cost` whatever they run, plus an optional
    marginal `minute_cost`. A GitHub-hosted pool costs the `github_rates`
    entry of its `runner_size` (the policy's `baseline_size` when unset).
    """

    name: str
    labels: tuple[str, ...]
    kind: str = SELF_HOSTED
    capacity: int | None = None
    fallback: tuple[str, ...] = ()
    monthly_cost: float = 0.0
    minute_cost: float = 0.0
    runner_size: str | None = None
    description: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", tuple(self.labels))
        object.__setattr__(self, "fallback", tuple(self.fallback))

    @property
    def github_hosted(self) -> bool:
        """Whether GitHub runs this pool's machines."""
        return self.kind == GITHUB_HOSTED


@dataclass(frozen=True)
class Rule:
    """A routing rule: conditions on a change, and the pool it routes to.

    Every condition that is set must hold. Within `paths` the patterns apply
    in order and `!` excludes; `paths_match` sets whether some changed path
    ("any") or every changed path ("all") must be selected. `branches`,
    `tags`, `events`, `labels` and `message_tags` each need one entry to match.
    """

    name: str
    pool: str
    paths: tuple[str, ...] = ()
    branches: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    events: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    draft: bool | None = None
    message_tags: tuple[str, ...] = ()
    estimated_minutes: float = DEFAULT_ESTIMATED_MINUTES
    description: str = ""
    paths_match: str = "any"
    base_branches: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in _RULE_LISTS:
            object.__setattr__(self, name, tuple(getattr(self, name)))

    @property
    def conditions(self) -> tuple[str, ...]:
        """Names of the conditions this rule sets, in file order."""
        names = [name for name in _RULE_LISTS if getattr(self, name)]
        if self.draft is not None:
            names.append("draft")
        return tuple(names)


_RULE_LISTS = (
    "paths",
    "branches",
    "tags",
    "base_branches",
    "events",
    "labels",
    "message_tags",
)

# Every Rule field that decides whether the rule matches a change.
RULE_CONDITION_FIELDS = (
    "paths",
    "paths_match",
    "branches",
    "tags",
    "base_branches",
    "events",
    "labels",
    "draft",
    "message_tags",
)


@dataclass(frozen=True)
class Policy:
    """A whole routing policy, as read from one file.

    `pools` keeps file order, which decides where a fallback goes once a
    pool's own chain is exhausted. `source` (the file name) is not compared.
    """

    name: str
    version: str
    mode: str
    default_pool: str
    pools: Mapping[str, Pool]
    rules: tuple[Rule, ...]
    github_rates: Mapping[str, float] = field(
        default_factory=lambda: dict(GITHUB_RATES_2026)
    )
    baseline_size: str = DEFAULT_BASELINE_SIZE
    source: str = field(default="<policy>", compare=False)
    description: str = ""
    default_estimated_minutes: float = DEFAULT_ESTIMATED_MINUTES
    conservative_pool: str | None = None
    _derived: dict[str, Any] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "rules", tuple(self.rules))

    @property
    def label(self) -> str:
        """`name@version`, as decisions record it."""
        return f"{self.name}@{self.version}"

    def pool(self, name: str) -> Pool:
        """Return the pool called `name`; raise NotFound if there is none."""
        try:
            return self.pools[name]
        except KeyError:
            raise NotFound(
                f"policy {self.label} has no pool {name!r}", pools=list(self.pools)
            ) from None

    def minute_rate(self, pool_name: str) -> float:
        """Return what one more minute on the pool costs, in USD."""
        pool = self.pool(pool_name)
        if pool.github_hosted:
            return self.github_rates[pool.runner_size or self.baseline_size]
        return pool.minute_cost

    def baseline_rate(self) -> float:
        """Return the USD/min rate of the all-GitHub-hosted baseline."""
        return self.github_rates[self.baseline_size]

    def derived(self, key: str, build: Callable[[Policy], T]) -> T:
        """Return `build(self)`, computed once per policy, such as compiled globs."""
        if key not in self._derived:
            self._derived[key] = build(self)
        value: T = self._derived[key]
        return value


def load_policy(text: str, source: str = "<policy>", fmt: str | None = None) -> Policy:
    """Read a policy from TOML or JSON text; `fmt` None sniffs the format.

    Raises PolicyInvalid listing every problem, each with file, line and key.
    """
    from .policy_validate import read_policy

    return read_policy(text, source, fmt)


@functools.cache
def default_policy() -> Policy:
    """Return the built-in policy shipped as `shared_routing/default_policy.toml`."""
    text = resources.files(__package__).joinpath(DEFAULT_POLICY_FILE).read_text("utf-8")
    return load_policy(text, DEFAULT_POLICY_FILE, "toml")


# ---------------------------------------------------------------------------
# Writing


def policy_to_dict(policy: Policy) -> dict[str, Any]:
    """Return the policy as the JSON structure `load_policy` reads back.

    Empty lists, unset options and an empty description are left out.
    """
    data: dict[str, Any] = {"name": policy.name, "version": policy.version}
    if policy.description:
        data["description"] = policy.description
    data.update(
        mode=policy.mode,
        default_pool=policy.default_pool,
        baseline_size=policy.baseline_size,
        default_estimated_minutes=policy.default_estimated_minutes,
        github_rates=dict(policy.github_rates),
        pools={name: _pool_to_dict(pool) for name, pool in policy.pools.items()},
        rules=[_rule_to_dict(rule) for rule in policy.rules],
    )
    if policy.conservative_pool is not None:
        data["conservative_pool"] = policy.conservative_pool
    return data


def _pool_to_dict(pool: Pool) -> dict[str, Any]:
    data: dict[str, Any] = {"kind": pool.kind, "labels": list(pool.labels)}
    if pool.capacity is not None:
        data["capacity"] = pool.capacity
    if pool.fallback:
        data["fallback"] = list(pool.fallback)
    data["monthly_cost"] = pool.monthly_cost
    data["minute_cost"] = pool.minute_cost
    if pool.runner_size is not None:
        data["runner_size"] = pool.runner_size
    if pool.description:
        data["description"] = pool.description
    return data


def _rule_to_dict(rule: Rule) -> dict[str, Any]:
    data: dict[str, Any] = {"name": rule.name, "pool": rule.pool}
    if rule.description:
        data["description"] = rule.description
    for name in _RULE_LISTS:
        values = getattr(rule, name)
        if values:
            data[name] = list(values)
        if name == "paths" and values and rule.paths_match != "any":
            data["paths_match"] = rule.paths_match
    if rule.draft is not None:
        data["draft"] = rule.draft
    data["estimated_minutes"] = rule.estimated_minutes
    return data


def dump_policy_toml(policy: Policy) -> str:
    """Return the policy as TOML text that `load_policy` reads back equal."""
    data = policy_to_dict(policy)
    lines = [f"# Policy {policy.label}, written by shared_routing.", ""]
    for key, value in data.items():
        if key not in ("github_rates", "pools", "rules"):
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    lines += ["", "[github_rates]"]
    lines += [
        f"{_toml_key(k)} = {_toml_value(v)}" for k, v in data["github_rates"].items()
    ]
    for name, pool in data["pools"].items():
        lines += ["", f"[pools.{_toml_key(name)}]"]
        lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in pool.items()]
    for rule in data["rules"]:
        lines += ["", "[[rules]]"]
        lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in rule.items()]
    return "\n".join(lines) + "\n"


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else _toml_string(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"TOML policy values must be finite, not {value!r}")
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def _toml_string(text: str) -> str:
    # A JSON string is a TOML basic string, because json escapes every control
    # character below U+0020 with an escape TOML shares. TOML also forbids a
    # raw DEL, which is escaped here. ensure_ascii=False keeps text readable.
    encoded = json.dumps(text, ensure_ascii=False)
    return encoded.replace("\x7f", "\\u007f")
