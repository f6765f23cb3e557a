"""Read a policy file into a `Policy`, collecting every problem on the way.

Reading never stops at the first problem. Each key is checked for its type
and range, and an unknown key is reported with the closest known name. The
checks across keys (unknown pools, fallback cycles, duplicate rule names,
rules that an earlier rule makes unreachable) then run on whatever was read.
Each problem carries the file, line and key path, and `keylines` finds the
lines.
"""

from __future__ import annotations

import difflib
import json
import math
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .errors import PolicyInvalid, Problem
from .fields import MAX_JSON_DEPTH, bracket_depth, json_depth
from .globs import glob_problem
from .keylines import KeyLines, KeyPath, format_key, json_key_lines, toml_key_lines
from .policy import (
    DEFAULT_BASELINE_SIZE,
    DEFAULT_ESTIMATED_MINUTES,
    GITHUB_HOSTED,
    GITHUB_RATES_2026,
    MODES,
    PATHS_MATCH,
    POOL_KINDS,
    SELF_HOSTED,
    Policy,
    Pool,
    Rule,
)
from .policy_shadow import shadowing_rule

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
RULE_KEYS = (
    "name",
    "description",
    "pool",
    "paths",
    "paths_match",
    "branches",
    "tags",
    "base_branches",
    "events",
    "labels",
    "draft",
    "message_tags",
    "estimated_minutes",
)

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
_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")
_TOML_AT_END = " (at end of document)"


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


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return names.get(type(value), type(value).__name__)


def _toml_type(value: Any) -> str:
    names = {
        dict: "a table",
        list: "an array",
        str: "a string",
        bool: "a boolean",
        int: "an integer",
        float: "a float",
    }
    return names.get(type(value), f"a {type(value).__name__}")


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


class _Reader:
    """Typed reads of policy keys that record a problem instead of raising."""

    def __init__(self, source: str, lines: KeyLines, fmt: str) -> None:
        self.source = source
        self.lines = lines
        self.fmt = fmt
        self.problems: list[Problem] = []

    def report(self, path: KeyPath, message: str) -> None:
        line = self.lines.line_of(path)
        self.problems.append(Problem(self.source, line, format_key(path), message))

    def type_name(self, value: Any) -> str:
        return _json_type(value) if self.fmt == "json" else _toml_type(value)

    def table_name(self) -> str:
        return "an object" if self.fmt == "json" else "a table"

    def wrong_type(self, path: KeyPath, expected: str, value: Any) -> None:
        self.report(path, f"must be {expected}, not {self.type_name(value)}")

    # Single keys ------------------------------------------------------------

    def known_keys(
        self, table: Mapping[str, Any], path: KeyPath, allowed: Sequence[str]
    ) -> None:
        for key in table:
            if key not in allowed:
                hint = _suggest(key, allowed) or f"; known keys: {', '.join(allowed)}"
                self.report((*path, key), f"unknown key {key!r}{hint}")

    def text(
        self,
        table: Mapping[str, Any],
        path: KeyPath,
        key: str,
        *,
        required: bool = False,
    ) -> str | None:
        """Return a non-empty string, or None when absent or invalid."""
        if key not in table:
            if required:
                self.report((*path, key), "is missing")
            return None
        value = table[key]
        if not isinstance(value, str):
            self.wrong_type((*path, key), "a string", value)
            return None
        if not value.strip():
            self.report((*path, key), "must not be empty")
            return None
        return self._encodable(value, (*path, key))

    def _encodable(self, value: str, path: KeyPath) -> str | None:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            self.report(
                path, "is not valid Unicode text because it contains a lone surrogate"
            )
            return None
        return value

    def description(self, table: Mapping[str, Any], path: KeyPath) -> str:
        value = table.get("description", "")
        if not isinstance(value, str):
            self.wrong_type((*path, "description"), "a string", value)
            return ""
        return self._encodable(value, (*path, "description")) or ""

    def choice(
        self, table: Mapping[str, Any], path: KeyPath, key: str, choices: Sequence[str]
    ) -> str | None:
        value = self.text(table, path, key)
        if value is not None and value not in choices:
            hint = (
                _suggest(value, choices) or f"; expected one of: {', '.join(choices)}"
            )
            self.report((*path, key), f"unknown value {value!r}{hint}")
            return None
        return value

    def number(
        self, table: Mapping[str, Any], path: KeyPath, key: str, default: float
    ) -> float:
        """Return a finite number of at least zero; `default` when absent or invalid."""
        if key not in table:
            return default
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.wrong_type((*path, key), "a number", value)
            return default
        if not math.isfinite(value):
            self.report((*path, key), f"must be a finite number, not {value!r}")
            return default
        if value < 0:
            self.report((*path, key), f"must not be negative, not {value!r}")
            return default
        return float(value)

    def count(self, table: Mapping[str, Any], path: KeyPath, key: str) -> int | None:
        if key not in table:
            return None
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, int):
            self.wrong_type((*path, key), "a whole number", value)
            return None
        if value < 1:
            self.report((*path, key), f"must be at least 1, not {value}")
            return None
        return value

    def flag(self, table: Mapping[str, Any], path: KeyPath, key: str) -> bool | None:
        if key not in table:
            return None
        value = table[key]
        if not isinstance(value, bool):
            self.wrong_type((*path, key), "true or false", value)
            return None
        return value

    def texts(
        self, table: Mapping[str, Any], path: KeyPath, key: str
    ) -> tuple[str, ...]:
        """Return a list of distinct non-empty strings; () when absent or invalid."""
        if key not in table:
            return ()
        values = table[key]
        if not isinstance(values, list):
            self.wrong_type((*path, key), "an array of strings", values)
            return ()
        found: list[str] = []
        for index, value in enumerate(values):
            where = (*path, key, index)
            if not isinstance(value, str):
                self.wrong_type(where, "a string", value)
            elif not value.strip():
                self.report(where, "must not be empty")
            elif value in found:
                self.report(where, f"{value!r} is listed twice")
            elif self._encodable(value, where) is not None:
                found.append(value)
        return tuple(found)

    def globs(
        self, table: Mapping[str, Any], path: KeyPath, key: str
    ) -> tuple[str, ...]:
        """Return a list of valid glob patterns, `!` allowed; () when absent."""
        patterns = self.texts(table, path, key)
        for index, pattern in enumerate(table.get(key) or ()):
            if isinstance(pattern, str) and pattern in patterns:
                problem = glob_problem(pattern)
                if problem is not None:
                    self.report((*path, key, index), f"pattern {pattern!r} {problem}")
        if patterns and all(pattern.startswith("!") for pattern in patterns):
            self.report(
                (*path, key),
                "has only '!' patterns, which select nothing; start with a "
                "pattern that selects, such as '**'",
            )
        return patterns

    # Sections --------------------------------------------------------------

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
        for index, label in enumerate(labels):
            # Labels go into workflows' `runs-on`, where a control character
            # breaks the YAML and `${{` would be read as an expression.
            if not label.isprintable() or "${{" in label:
                self.report(
                    (*path, "labels", index),
                    f"{label!r} is not a valid runner label; use printable "
                    "characters and no `${{`",
                )
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


def _check_references(
    reader: _Reader,
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


def _check_cycles(reader: _Reader, pools: Mapping[str, Pool]) -> None:
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


def _check_mode(reader: _Reader, pools: Mapping[str, Pool], mode: str) -> None:
    if not pools:
        return
    kinds = {pool.kind for pool in pools.values()}
    if mode == "self-hosted-only" and SELF_HOSTED not in kinds:
        reader.report(("mode",), "is self-hosted-only, but no pool is self-hosted")
    if mode == "github-hosted-only" and GITHUB_HOSTED not in kinds:
        reader.report(("mode",), "is github-hosted-only, but no pool is github-hosted")


def _check_shadowing(
    reader: _Reader, pools: Mapping[str, Pool], rules: Sequence[Rule], mode: str
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
