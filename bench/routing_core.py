"""Routing workloads timed the same way under CPython and under Pyodide.

`bench/routing.py` runs `run_file` in its own CPython and, through
`bench/pyodide_bench.mjs`, inside Pyodide on Node 22. Both read the same input
file and return the same JSON-ready report: for each input, the time of a full
`decide()` and of two ways to evaluate every path rule of the default policy
(whether the rule's patterns select some changed path, or every one for a
`paths_match = "all"` rule):

- `fast`: `shared_routing.matching` (literal prefilters over the joined paths);
- `naive`: wcmatch's regular expressions, compiled once, applied path by path
  and pattern by pattern, stopping as soon as a rule's result is known.

`bench/picomatch_bench.mjs` computes the same results with npm picomatch.
"""

from __future__ import annotations

import json
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from wcmatch import glob

from shared_routing.decide import decide
from shared_routing.events import ChangeSet
from shared_routing.globs import REFERENCE_FLAGS
from shared_routing.matching import GlobList, PathSet, plan_needles
from shared_routing.policy import default_policy

# One wcmatch regular expression list per pattern (a brace pattern has several).
NaivePattern = tuple[bool, list[re.Pattern[str]]]
# How many leading paths an all-paths rule tests before selecting in bulk.
ALL_PATHS_PROBES = 8


def path_rules() -> list[tuple[str, str, list[str]]]:
    """Return (name, paths_match, patterns) for each path rule of the default policy."""
    return [
        (rule.name, rule.paths_match, list(rule.paths))
        for rule in default_policy().rules
        if rule.paths
    ]


def evaluate_fast(
    rules: Sequence[tuple[str, str, GlobList]],
    plan: dict[str, str],
    paths: Sequence[str],
) -> dict[str, bool]:
    """Evaluate every rule with the shared_routing matcher, as `decide` does."""
    pathset = PathSet(paths, plan)
    results = {}
    for name, match, globs in rules:
        if match == "any":
            results[name] = bool(globs.select(pathset, stop_at_first=True).paths)
            continue
        probes_pass = all(globs.test(path) for path in paths[:ALL_PATHS_PROBES])
        results[name] = (
            bool(paths)
            and probes_pass
            and len(globs.select(pathset).paths) == len(set(paths))
        )
    return results


def compile_naive(patterns: Sequence[str]) -> list[NaivePattern]:
    compiled = []
    for pattern in patterns:
        positive, _ = glob.translate(pattern.removeprefix("!"), flags=REFERENCE_FLAGS)
        compiled.append(
            (pattern.startswith("!"), [re.compile(text) for text in positive])
        )
    return compiled


def _selected(path: str, patterns: Sequence[NaivePattern]) -> bool:
    for negated, regexes in reversed(patterns):
        for regex in regexes:
            if regex.fullmatch(path):
                return not negated
    return False


def evaluate_naive(
    rules: Sequence[tuple[str, str, list[NaivePattern]]], paths: Sequence[str]
) -> dict[str, bool]:
    """Evaluate every rule path by path and pattern by pattern."""
    results = {}
    for name, match, patterns in rules:
        if match == "any":
            results[name] = any(_selected(path, patterns) for path in paths)
        else:
            results[name] = bool(paths) and all(
                _selected(path, patterns) for path in paths
            )
    return results


def timed(work: Callable[[], Any], repeats: int) -> tuple[dict[str, float], Any]:
    """Run `work` once to warm up, then `repeats` times; return times and result."""
    result = work()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        samples.append((time.perf_counter() - start) * 1000)
    figures = {"best_ms": min(samples), "median_ms": statistics.median(samples)}
    return {**figures, "repeats": repeats}, result


class Workloads:
    """The default policy compiled once for every engine."""

    def __init__(self) -> None:
        self.policy = default_policy()
        rules = path_rules()
        self.fast_rules = [
            (name, match, GlobList(globs)) for name, match, globs in rules
        ]
        needles = (
            needle for _, _, globs in self.fast_rules for needle in globs.needles()
        )
        self.plan = plan_needles(needles)
        self.naive_rules = [
            (name, match, compile_naive(globs)) for name, match, globs in rules
        ]

    def measure(
        self, spec: dict[str, Any], repeats: int, naive_repeats: int
    ) -> dict[str, Any]:
        """Time one input with every engine."""
        change = ChangeSet(
            event=spec["event"],
            repository="babel/babel",
            ref="refs/heads/feature/bench",
            sha="0" * 39 + "1",
            paths=tuple(spec["paths"]),
            messages=(spec["message"],),
        )
        paths = list(change.paths)
        decide_times, decision = timed(lambda: decide(change, self.policy), repeats)
        fast_times, fast = timed(
            lambda: evaluate_fast(self.fast_rules, self.plan, paths), repeats
        )
        naive_times, naive = timed(
            lambda: evaluate_naive(self.naive_rules, paths), naive_repeats
        )
        return {
            "paths": len(paths),
            "pool": decision.pool,
            "rule": decision.rule,
            "decide": decide_times,
            "fast": fast_times,
            "naive": naive_times,
            "results": fast,
            "naive_results": naive,
        }


def run(
    inputs: dict[str, dict[str, Any]], repeats: int, naive_repeats: int
) -> dict[str, Any]:
    """Time each input and return the report."""
    workloads = Workloads()
    measured = {
        label: workloads.measure(spec, repeats, naive_repeats)
        for label, spec in inputs.items()
    }
    return {
        "runtime": f"{sys.implementation.name} {sys.version.split()[0]}",
        "platform": sys.platform,
        "inputs": measured,
    }


def run_file(path: str) -> str:
    """Run the workloads described in a JSON input file; return the report as JSON."""
    with open(path, encoding="utf-8") as source:
        spec = json.load(source)
    report = run(spec["inputs"], spec["repeats"], spec["naive_repeats"])
    return json.dumps(report)
