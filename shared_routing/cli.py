"""Command line: route a change, explain a decision, validate or simulate a policy.

`python -m shared_routing` and the `hybrid-router` script run `main`. This module
and `cli_inputs`, which reads the input files, are the only modules of the package
that touch files or the terminal. The decisions come from the same pure functions
that the Worker calls.

Exit status: 0 on success, 1 when an input file is missing or invalid (or
`validate` finds problems), 2 for a command-line usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from .cli_inputs import (
    EXIT_INVALID,
    EXIT_OK,
    CliError,
    _availability,
    _decide,
    _policy,
    _policy_format,
    _read_history,
    _read_text,
)
from .decide import Decision, decision_to_dict
from .errors import PolicyInvalid
from .events import ChangeSet
from .policy import load_policy
from .simulate import (
    DEFAULT_BRANCH,
    format_table,
    report_to_dict,
    simulate,
)

PROG = "hybrid-router"

# Values that `route --ref` uses when the options leave them out.
DEFAULT_REPOSITORY = "local/repository"
NO_COMMIT_SHA = "0" * 40


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line on `argv` (default: sys.argv) and return the exit status."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    command: Callable[[argparse.Namespace], int] = args.run
    try:
        return command(args)
    except CliError as error:
        for line in error.lines:
            print(f"{PROG}: error: {line}", file=sys.stderr)
        return error.status
    except BrokenPipeError:
        # The reader of the output exited early (`| head`), so there is no one to tell.
        return EXIT_OK


# ---------------------------------------------------------------------------
# Arguments


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Route GitHub CI builds to runner pools and estimate their cost.",
        epilog="Exit status: 0 success, 1 invalid or missing input, 2 usage error.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    route = commands.add_parser(
        "route", help="print the pool a change is routed to", description=_ROUTE_HELP
    )
    _add_change_arguments(route)
    route.add_argument(
        "--format",
        choices=("json", "text"),
        default="text",
        help="output format (default: text)",
    )
    route.set_defaults(run=_run_route)

    explain = commands.add_parser(
        "explain",
        help="print the reasoning behind a routing decision",
        description=_ROUTE_HELP,
    )
    _add_change_arguments(explain)
    explain.set_defaults(run=_run_explain)

    validate = commands.add_parser(
        "validate", help="check a policy file and list every problem"
    )
    validate.add_argument(
        "policy_file", metavar="POLICY", help="policy file (TOML or JSON)"
    )
    validate.set_defaults(run=_run_validate)

    sim = commands.add_parser(
        "simulate",
        help="route every commit of a history and estimate the cost",
        description=_SIMULATE_HELP,
    )
    sim.add_argument(
        "--history", required=True, metavar="FILE", help="commit history as JSON Lines"
    )
    _add_policy_arguments(sim)
    sim.add_argument(
        "--branch",
        default=DEFAULT_BRANCH,
        help=f"branch each commit is pushed to (default: {DEFAULT_BRANCH})",
    )
    sim.add_argument(
        "--repository",
        default=None,
        metavar="OWNER/NAME",
        help="repository of the simulated pushes (default: local/<history file stem>)",
    )
    sim.add_argument(
        "--format",
        choices=("json", "table"),
        default="table",
        help="output format (default: table)",
    )
    sim.add_argument(
        "--progress",
        action="store_true",
        help="show a progress bar on stderr even when it is not a terminal",
    )
    sim.set_defaults(run=_run_simulate)
    return parser


_ROUTE_HELP = (
    "Describe the change either with a webhook payload (--payload FILE, with "
    "--event) or with a ref and the changed paths (--ref REF --files PATH...)."
)

_SIMULATE_HELP = (
    "Route every commit of a JSON Lines history as a push of that commit to "
    "--branch, then total builds, minutes and estimated cost per pool, against "
    "running every build on GitHub-hosted runners. Fixed monthly costs of every "
    "pool in the policy are prorated over the days between the first and the "
    "last commit."
)


def _add_policy_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--policy",
        metavar="FILE",
        help="policy file, TOML or JSON (default: the built-in policy)",
    )
    parser.add_argument(
        "--down",
        action="append",
        default=[],
        metavar="POOL",
        help="treat POOL as down (repeatable)",
    )
    parser.add_argument(
        "--saturated",
        action="append",
        default=[],
        metavar="POOL",
        help="treat POOL as saturated (repeatable)",
    )


def _add_change_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--payload", metavar="FILE", help="webhook payload (JSON or form)"
    )
    source.add_argument("--ref", help="git ref, such as refs/heads/main or main")

    parser.add_argument(
        "--event",
        default="push",
        help="GitHub event of the payload or ref: push or pull_request (default: push)",
    )
    parser.add_argument(
        "--files",
        nargs="+",
        default=None,
        metavar="PATH",
        help="changed paths (for a pull_request payload: the PR's files)",
    )
    _add_ref_arguments(parser)
    _add_policy_arguments(parser)


def _add_ref_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--repository",
        default=DEFAULT_REPOSITORY,
        metavar="OWNER/NAME",
        help=f"repository for --ref (default: {DEFAULT_REPOSITORY})",
    )
    parser.add_argument(
        "--sha", default=NO_COMMIT_SHA, help="commit SHA for --ref (default: 40 zeros)"
    )
    parser.add_argument(
        "--label", action="append", default=[], help="pull request label (repeatable)"
    )
    parser.add_argument("--message", help="commit message or PR title for --ref")
    parser.add_argument("--base-ref", help="pull request target branch for --ref")
    parser.add_argument("--draft", action="store_true", help="the PR is a draft")


# ---------------------------------------------------------------------------
# Commands


def _run_route(args: argparse.Namespace) -> int:
    change, decision = _decide(args)
    if args.format == "json":
        _print_json(_decision_output(decision, change))
    else:
        print(_decision_text(decision), end="")
    return EXIT_OK


def _run_explain(args: argparse.Namespace) -> int:
    _, decision = _decide(args)
    print(_decision_text(decision), end="")
    print("trace:")
    for line in decision.trace:
        print(f"  {line}")
    return EXIT_OK


def _run_validate(args: argparse.Namespace) -> int:
    path: str = args.policy_file
    text = _read_text(path)
    try:
        policy = load_policy(text, source=path, fmt=_policy_format(path))
    except PolicyInvalid as error:
        for problem in error.problems:
            print(problem)
        count = len(error.problems)
        print(
            f"{path}: {count} {'problem' if count == 1 else 'problems'}",
            file=sys.stderr,
        )
        return EXIT_INVALID
    print(
        f"{path}: valid policy {policy.name}@{policy.version} ({policy.mode}): "
        f"{len(policy.pools)} pools, {len(policy.rules)} rules, "
        f"default pool {policy.default_pool}"
    )
    return EXIT_OK


def _run_simulate(args: argparse.Namespace) -> int:
    policy = _policy(args.policy)
    availability = _availability(args, policy)
    path: str = args.history
    commits = _read_history(path)
    repository = args.repository or f"local/{Path(path).stem}"
    show_progress = args.progress or sys.stderr.isatty()
    progress = _ProgressBar(len(commits), sys.stderr) if show_progress else None
    report = simulate(
        commits,
        policy,
        branch=args.branch,
        repository=repository,
        availability=availability,
        on_commit=progress.update if progress else None,
    )
    if progress:
        progress.finish()
    if args.format == "json":
        _print_json(report_to_dict(report))
    else:
        print(format_table(report), end="")
    return EXIT_OK


# ---------------------------------------------------------------------------
# Output


def _decision_output(decision: Decision, change: ChangeSet) -> dict[str, Any]:
    output = decision_to_dict(decision)
    output.update(
        repository=change.repository, sha=change.sha, ref=change.ref, event=change.event
    )
    return output


def _decision_text(decision: Decision) -> str:
    files = decision.files_total if decision.files_total is not None else "unknown"
    lines = [
        f"pool: {decision.pool or '(no build)'}",
        f"runs-on: {json.dumps(list(decision.labels))}",
        f"rule: {decision.rule or '(none)'}",
        f"reason: {decision.reason}",
    ]
    if decision.fallback:
        lines.append(f"fallback: from {decision.routed_pool}")
    if decision.conservative:
        lines.append("conservative: yes (not every changed file was seen)")
    lines.append(f"files: {decision.files_seen} seen of {files}")
    lines.append(f"policy: {decision.policy}")
    return "\n".join(lines) + "\n"


def _print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")


class _ProgressBar:
    """A one-line progress bar redrawn in place on a text stream."""

    WIDTH = 30

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total = total
        self.stream = stream
        self.shown = -1

    def update(self, done: int) -> None:
        percent = done * 100 // self.total if self.total else 100
        if percent == self.shown:
            return
        self.shown = percent
        filled = self.WIDTH * percent // 100
        bar = "#" * filled + "." * (self.WIDTH - filled)
        self.stream.write(f"\rsimulating [{bar}] {done}/{self.total} commits")
        self.stream.flush()

    def finish(self) -> None:
        self.stream.write("\n")
        self.stream.flush()
