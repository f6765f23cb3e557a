"""Read a policy file into a `Policy`, collecting every problem on the way.

Reading never stops at the first problem. Each key is checked for its type
and range, and an unknown key is reported with the closest known name. The
checks across keys (unknown pools, fallback cycles, duplicate rule names,
rules that an earlier rule makes unreachable) then run on whatever was read.
Each problem carries the file, line and key path, and `keylines` finds the
lines. `policy_parse` parses the text, `policy_reader` reads typed values and
`policy_checks` runs the checks across keys.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .errors import PolicyInvalid, Problem
from .keylines import KeyPath, format_key
from .policy import (
    DEFAULT_BASELINE_SIZE,
    DEFAULT_ESTIMATED_MINUTES,
    GITHUB_HOSTED,
    GITHUB_RATES_2026,
    MODES,
    PATHS_MATCH,
    POOL_KINDS,
    RULE_CONDITION_FIELDS,
    SELF_HOSTED,
    Policy,
    Pool,
    Rule,
)
from .policy_checks import _check_references
from .policy_parse import _parse, sniff_format
from .policy_reader import KeyReader, _suggest

# The shadowing check compares every pair of rules, and every new isolate
# validates the policy again, so the rule count is bounded: 256 rules load in
# about 0.16 s under CPython 3.11 on a 2-core machine.
MAX_RULES = 256
MAX_POOLS = 64

TOP_KEYS = (
    "name",
    "version",
    "description",
    "mode",
    "default_pool",
    "conservative_pool",
    "baseline_size",
    "default_estimated_minutes",
    "github_rates",
    "pools",
    "rules",
)
POOL_KEYS = (
    "description",
    "kind",
    "labels",
    "capacity",
    "fallback",
    "monthly_cost",
    "minute_cost",
    "runner_size",
)
RULE_KEYS = ("name", "description", "pool", *RULE_CONDITION_FIELDS, "estimated_minutes")

# Events that can start a workflow, and "api" for POST /api/route requests.
# Source: https://docs.github.com/en/actions/reference/workflows-and-actions/events-that-trigger-workflows
KNOWN_EVENTS = frozenset(
    {
        "api",
        "branch_protection_rule",
        "check_run",
        "check_suite",
        "create",
        "delete",
        "deployment",
        "deployment_status",
        "discussion",
        "discussion_comment",
        "fork",
        "gollum",
        "issue_comment",
        "issues",
        "label",
        "merge_group",
        "milestone",
        "page_build",
        "public",
        "pull_request",
        "pull_request_review",
        "pull_request_review_comment",
        "pull_request_target",
        "push",
        "registry_package",
        "release",
        "repository_dispatch",
        "schedule",
        "status",
        "watch",
        "workflow_call",
        "workflow_dispatch",
        "workflow_run",
    }
)

_POOL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def read_policy(text: str, source: str, fmt: str | None) -> Policy:
    """Return the policy in `text`, or raise PolicyInvalid with every problem."""
    fmt = fmt or sniff_format(text)
    root, lines = _parse(text, source, fmt)
    reader = _Reader(source, lines, fmt)
    for path, line in lines.duplicates:
        reader.problems.append(
            Problem(source, line, format_key(path), "is given twice in one object")
        )
    policy = reader.read(root)
    if reader.problems or policy is None:
        ordered = sorted(reader.problems, key=lambda p: (p.line is None, p.line or 0))
        raise PolicyInvalid(ordered)
    return policy


class _Reader(KeyReader):
    """Read the sections of a policy: top-level keys, pools and rules."""

    def read(self, root: Mapping[str, Any]) -> Policy | None:
        self.known_keys(root, (), TOP_KEYS)
        name = self.text(root, (), "name", required=True)
        version = self.version(root)

        mode = self.choice(root, (), "mode", MODES) or "hybrid"
        default_minutes = self.number(
            root, (), "default_estimated_minutes", DEFAULT_ESTIMATED_MINUTES
        )
        rates = self.rates(root)
        baseline = self.text(root, (), "baseline_size") or DEFAULT_BASELINE_SIZE
        if baseline not in rates:
            self.report(
                ("baseline_size",),
                f"unknown runner size {baseline!r}; it must be a key of "
                f"github_rates{_suggest(baseline, rates)}",
            )

        pools = self.pools(root, rates)
        default_pool = self.text(root, (), "default_pool", required=True)
        conservative_pool = self.text(root, (), "conservative_pool")
        rules = self.rules(root, default_minutes)
        _check_references(self, pools, rules, default_pool, mode)
        if conservative_pool is not None and pools and conservative_pool not in pools:
            self.report(
                ("conservative_pool",),
                f"unknown pool {conservative_pool!r}; pools: {', '.join(pools)}"
                f"{_suggest(conservative_pool, pools)}",
            )

        if self.problems or name is None or version is None or default_pool is None:
            return None
        return Policy(
            name=name,
            version=version,
            mode=mode,
            default_pool=default_pool,
            pools=pools,
            rules=rules,
            github_rates=rates,
            baseline_size=baseline,
            source=self.source,
            description=self.description(root, ()),
            default_estimated_minutes=default_minutes,
            conservative_pool=conservative_pool,
        )

    def version(self, root: Mapping[str, Any]) -> str | None:
        if "version" not in root:
            self.report(("version",), "is missing")
            return None
        value = root["version"]
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return self.text(root, (), "version")

    def rates(self, root: Mapping[str, Any]) -> dict[str, float]:
        rates = dict(GITHUB_RATES_2026)
        raw = root.get("github_rates", {})
        if not isinstance(raw, dict):
            self.wrong_type(("github_rates",), self.table_name(), raw)
            return rates
        for size in raw:
            rates[size] = self.number(
                raw, ("github_rates",), size, rates.get(size, 0.0)
            )
        return rates

    def pools(
        self, root: Mapping[str, Any], rates: Mapping[str, float]
    ) -> dict[str, Pool]:
        raw = root.get("pools")
        if raw is None:
            self.report(("pools",), "is missing; define at least one pool")
            return {}
        if not isinstance(raw, dict):
            self.wrong_type(("pools",), self.table_name(), raw)
            return {}
        if not raw:
            self.report(("pools",), "is empty; define at least one pool")
        if len(raw) > MAX_POOLS:
            self.report(
                ("pools",),
                f"has {len(raw)} pools; a policy may have at most {MAX_POOLS}",
            )
            return {}
        pools: dict[str, Pool] = {}
        for name, table in raw.items():
            pool = self.pool(name, table, rates)
            if pool is not None:
                pools[name] = pool
        return pools

    def pool(self, name: str, table: Any, rates: Mapping[str, float]) -> Pool | None:
        path: KeyPath = ("pools", name)
        if not _POOL_NAME.fullmatch(name):
            self.report(
                path,
                f"pool name {name!r} must start with a letter or digit and "
                "contain only letters, digits, '.', '_' and '-'",
            )
        if not isinstance(table, dict):
            self.wrong_type(path, self.table_name(), table)
            return None
        self.known_keys(table, path, POOL_KEYS)

        labels = self.texts(table, path, "labels")
        seen: dict[str, str] = {}
        for index, label in enumerate(labels):
            # Labels go into workflows' `runs-on`, where `${{` would be read as
            # an expression, and GitHub matches runner labels without case.
            if "${{" in label or label != label.strip():
                self.report(
                    (*path, "labels", index),
                    f"{label!r} is not a valid runner label; use no `${{{{` and "
                    "no leading or trailing spaces",
                )
            elif label.casefold() in seen:
                self.report(
                    (*path, "labels", index),
                    f"{label!r} repeats {seen[label.casefold()]!r}; GitHub compares "
                    "runner labels without case",
                )
            seen.setdefault(label.casefold(), label)
        if "labels" not in table:
            self.report((*path, "labels"), "is missing; list the runs-on labels")
        elif table["labels"] == []:
            self.report((*path, "labels"), "must list at least one label")
        kind = self.choice(table, path, "kind", POOL_KINDS)
        if kind is None:
            kind = SELF_HOSTED if SELF_HOSTED in labels else GITHUB_HOSTED

        runner_size = self.text(table, path, "runner_size")
        minute_cost = self.number(table, path, "minute_cost", 0.0)
        if kind == SELF_HOSTED and runner_size is not None:
            self.report(
                (*path, "runner_size"),
                "applies to github-hosted pools only; a self-hosted pool "
                "costs its monthly_cost and minute_cost",
            )
        if kind == GITHUB_HOSTED and minute_cost:
            self.report(
                (*path, "minute_cost"),
                "applies to self-hosted pools only; a github-hosted pool costs "
                "github_rates[runner_size]",
            )
        if runner_size is not None and runner_size not in rates:
            self.report(
                (*path, "runner_size"),
                f"unknown runner size {runner_size!r}; it must be a key of "
                f"github_rates{_suggest(runner_size, rates)}",
            )
        return Pool(
            name=name,
            labels=labels,
            kind=kind,
            capacity=self.count(table, path, "capacity"),
            fallback=self.texts(table, path, "fallback"),
            monthly_cost=self.number(table, path, "monthly_cost", 0.0),
            minute_cost=minute_cost,
            runner_size=runner_size,
            description=self.description(table, path),
        )

    def rules(
        self, root: Mapping[str, Any], default_minutes: float
    ) -> tuple[Rule, ...]:
        raw = root.get("rules", [])
        if not isinstance(raw, list):
            self.wrong_type(("rules",), "an array of tables", raw)
            return ()
        if len(raw) > MAX_RULES:
            self.report(
                ("rules",),
                f"has {len(raw)} rules; a policy may have at most {MAX_RULES}",
            )
            return ()
        rules = []
        for index, table in enumerate(raw):
            rule = self.rule(index, table, default_minutes)
            if rule is not None:
                rules.append(rule)
        return tuple(rules)

    def rule(self, index: int, table: Any, default_minutes: float) -> Rule | None:
        path: KeyPath = ("rules", index)
        if not isinstance(table, dict):
            self.wrong_type(path, self.table_name(), table)
            return None
        self.known_keys(table, path, RULE_KEYS)
        name = self.text(table, path, "name", required=True)
        pool = self.text(table, path, "pool", required=True)
        paths = self.globs(table, path, "paths")
        paths_match = self.choice(table, path, "paths_match", PATHS_MATCH) or "any"
        if "paths_match" in table and not paths:
            self.report((*path, "paths_match"), "needs a `paths` list to apply to")
        events = self.texts(table, path, "events")
        for position, event in enumerate(events):
            if event not in KNOWN_EVENTS:
                self.report(
                    (*path, "events", position),
                    f"unknown event {event!r}{_suggest(event, KNOWN_EVENTS)}",
                )
        return Rule(
            name=name or f"rules[{index}]",
            pool=pool or "",
            paths=paths,
            branches=self.globs(table, path, "branches"),
            tags=self.globs(table, path, "tags"),
            events=events,
            labels=self.texts(table, path, "labels"),
            draft=self.flag(table, path, "draft"),
            message_tags=self.texts(table, path, "message_tags"),
            estimated_minutes=self.number(
                table, path, "estimated_minutes", default_minutes
            ),
            description=self.description(table, path),
            paths_match=paths_match,
            base_branches=self.globs(table, path, "base_branches"),
        )
