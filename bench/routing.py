"""Benchmark routing on real large change sets: CPython, Pyodide and picomatch.

    .venv/bin/python bench/routing.py      (or: make bench)

Inputs come from ../shared/fixtures/history/large-commits.jsonl (real Babel
commits): the largest commit, and a 3,000-file pull request made of 3,000
paths spread evenly over the union of all four commits. For each input the
script times, in one run:

- `decide()` with the default policy, under CPython and under Pyodide;
- evaluating every path rule of the default policy with shared_routing's
  matcher ("fast"), with wcmatch's regular expressions applied path by path
  and pattern by pattern ("naive"), both in CPython and Pyodide, and with npm
  picomatch in Node 22.

It checks that every engine returns the same per-rule results, then prints the
best time of several repeats (median in brackets) and the ratios.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(PROJECT_ROOT), str(PROJECT_ROOT / "bench")]

import routing_core  # noqa: E402

HISTORY = (
    PROJECT_ROOT.parent / "shared" / "fixtures" / "history" / "large-commits.jsonl"
)
NODE = PROJECT_ROOT / "node_modules" / ".bin" / "node"
WORK_DIR = PROJECT_ROOT / "build" / "bench"
PULL_REQUEST_SIZE = 3000
REPEATS = 15
NAIVE_REPEATS = 3


def commit_paths(commit: dict[str, Any]) -> list[str]:
    """Return a commit's changed paths as a change set lists them."""
    paths = commit["added"] + commit["modified"] + commit["removed"]
    paths += [path for pair in commit["renamed"] for path in pair]
    return sorted(set(paths))


def build_inputs() -> dict[str, dict[str, Any]]:
    with HISTORY.open(encoding="utf-8") as lines:
        commits = [json.loads(line) for line in lines if line.strip()]
    largest = max(commits, key=lambda commit: len(commit_paths(commit)))
    union = sorted({path for commit in commits for path in commit_paths(commit)})
    step = len(union) / PULL_REQUEST_SIZE
    pull_paths = [union[int(index * step)] for index in range(PULL_REQUEST_SIZE)]
    return {
        "largest commit": {
            "paths": commit_paths(largest),
            "event": "push",
            "message": largest["message_subject"],
        },
        "3,000-file pull request": {
            "paths": pull_paths,
            "event": "pull_request",
            "message": "bench: a pull request of 3,000 files",
        },
    }


def run_node(script: str, input_file: Path) -> dict[str, Any]:
    completed = subprocess.run(
        [str(NODE), str(PROJECT_ROOT / "bench" / script), str(input_file)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise SystemExit(
            f"{script} failed ({completed.returncode}):\n{completed.stderr}"
        )
    report: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return report


def check_results(label: str, reports: dict[str, dict[str, Any]]) -> dict[str, bool]:
    """Return the per-rule results after checking that every engine agrees."""
    reference = reports["cpython"]["inputs"][label]["results"]
    found = {
        "CPython fast": reference,
        "CPython naive": reports["cpython"]["inputs"][label]["naive_results"],
        "Pyodide fast": reports["pyodide"]["inputs"][label]["results"],
        "Pyodide naive": reports["pyodide"]["inputs"][label]["naive_results"],
        "picomatch": reports["picomatch"]["inputs"][label]["results"],
    }
    for engine, results in found.items():
        if results != reference:
            raise SystemExit(
                f"{label}: {engine} returned {results}, expected {reference}"
            )
    checked: dict[str, bool] = reference
    return checked


def cell(figures: dict[str, float]) -> str:
    return f"{figures['best_ms']:9.2f} ({figures['median_ms']:.2f})"


def print_report(reports: dict[str, dict[str, Any]]) -> None:
    cpython = reports["cpython"]
    pyodide = reports["pyodide"]
    picomatch = reports["picomatch"]
    print(
        f"Routing benchmark: {cpython['runtime']}, Pyodide {pyodide['runtime']}, "
        f"picomatch on {picomatch['runtime']}; best of N repeats in ms (median)"
    )
    for label, measured in cpython["inputs"].items():
        in_pyodide = pyodide["inputs"][label]
        pico = picomatch["inputs"][label]["picomatch"]
        results = check_results(label, reports)
        print()
        print(f"{label}: {measured['paths']:,} changed paths")
        print(f"  decision: pool {measured['pool']}, rule {measured['rule']}")
        print(f"  per-rule results (all engines agree): {results}")
        print(f"  {'work':44} {'CPython':>20} {'Pyodide':>20}")
        rows = [
            ("decide() with the default policy", "decide"),
            ("evaluate every path rule: shared_routing", "fast"),
            ("evaluate every path rule: naive wcmatch regexes", "naive"),
        ]
        for title, key in rows:
            print(f"  {title:44} {cell(measured[key]):>20} {cell(in_pyodide[key]):>20}")
        title = "evaluate every path rule: npm picomatch"
        print(f"  {title:44} {cell(pico):>20} (Node 22)")
        for runtime, figures in (("CPython", measured), ("Pyodide", in_pyodide)):
            fast = figures["fast"]["best_ms"]
            naive_ratio = figures["naive"]["best_ms"] / fast
            pico_ratio = pico["best_ms"] / fast
            print(
                f"  {runtime}: shared_routing is {naive_ratio:.1f}x faster than naive, "
                f"{pico_ratio:.1f}x faster than picomatch; "
                f"decide() {figures['decide']['best_ms']:.2f} ms"
            )


def main() -> int:
    if not HISTORY.exists():
        print(
            f"skipped: {HISTORY} is absent (../shared/fixtures not beside the project)"
        )
        return 0
    if not NODE.exists():
        print(f"{NODE} is missing: run `make install`", file=sys.stderr)
        return 2
    inputs = build_inputs()
    spec = {
        "inputs": inputs,
        "repeats": REPEATS,
        "naive_repeats": NAIVE_REPEATS,
        "rules": [
            {"name": name, "paths_match": match, "paths": patterns}
            for name, match, patterns in routing_core.path_rules()
        ],
    }
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    input_file = WORK_DIR / "inputs.json"
    input_file.write_text(json.dumps(spec), encoding="utf-8")
    reports = {
        "cpython": routing_core.run(inputs, REPEATS, NAIVE_REPEATS),
        "pyodide": run_node("pyodide_bench.mjs", input_file),
        "picomatch": run_node("picomatch_bench.mjs", input_file),
    }
    print_report(reports)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
