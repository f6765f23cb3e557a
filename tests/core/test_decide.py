"""Routing decisions: the design's examples, modes, fallback and truncation."""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wcmatch import glob

from shared_routing.decide import (
    Availability,
    Decision,
    decide,
    decision_to_dict,
)
from shared_routing.decide_trace import TRACE_PATHS_MAX
from shared_routing.events import ChangeSet
from shared_routing.globs import REFERENCE_FLAGS
from shared_routing.policy import Policy, Pool, Rule, default_policy, load_policy

SHA = "0123456789abcdef0123456789abcdef01234567"


def change(
    ref: str,
    paths: Sequence[str] = (),
    message: str = "",
    event: str = "push",
    **fields: object,
) -> ChangeSet:
    return ChangeSet(
        event=event,
        repository="pmoves/PMOVES.AI",
        ref=ref,
        sha=SHA,
        paths=tuple(paths),
        messages=(message,) if message else (),
        **fields,  # type: ignore[arg-type]
    )


FEATURE = "refs/heads/feature/routing"
LABELS = {
    "ai-lab": ("self-hosted", "ai-lab", "gpu"),
    "vps": ("self-hosted", "vps"),
    "cloudstartup": ("self-hosted", "vps", "cloudstartup", "staging"),
    "kvm4": ("self-hosted", "vps", "kvm4", "production"),
    "github-hosted": ("ubuntu-latest",),
}


# ---------------------------------------------------------------------------
# The routing examples of the design


@pytest.mark.parametrize(
    ("ref", "message", "paths", "pool", "rule"),
    [
        (FEATURE, "feat(ollama)", ["services/ollama/Dockerfile.cuda"], "ai-lab", "gpu"),
        (
            FEATURE,
            "fix(agent-zero)",
            ["services/agent-zero/Dockerfile"],
            "vps",
            "docker",
        ),
        (
            FEATURE,
            "docs: update README",
            ["README.md", "docs/install.md", "docs/usage.md"],
            "github-hosted",
            "lightweight",
        ),
        (
            FEATURE,
            "ci: update workflows",
            [".github/workflows/build.yml", ".github/workflows/test.yml"],
            "github-hosted",
            "lightweight",
        ),
        (
            "refs/heads/main",
            "merge feature",
            ["pmoves/services/hi-rag/app.py", "README.md"],
            "kvm4",
            "deploy-production",
        ),
        (
            "refs/heads/develop",
            "merge feature",
            ["pmoves/services/hi-rag/app.py"],
            "cloudstartup",
            "deploy-staging",
        ),
    ],
)
def test_design_examples(
    ref: str, message: str, paths: list[str], pool: str, rule: str
) -> None:
    decision = decide(change(ref, paths, message), default_policy())
    assert decision.pool == pool
    assert decision.labels == LABELS[pool]
    assert decision.rule == rule
    assert decision.routed_pool == pool
    assert not decision.fallback
    assert not decision.conservative
    assert decision.policy == "pmoves-hybrid@1"


def test_doc_named_after_gpu_service_is_not_gpu() -> None:
    decision = decide(change(FEATURE, ["docs/ollama.md"]), default_policy())
    assert decision.pool == "github-hosted"
    assert decision.rule == "lightweight"


@pytest.mark.parametrize(
    ("path", "pool"),
    [
        ("pmoves/services/ollama/Dockerfile.cuda", "ai-lab"),
        ("pmoves/services/hi-rag-gateway-v2/Dockerfile.gpu", "ai-lab"),
        ("pmoves/compose/agent-zero/docker-compose.gpu5090.optimized.yml", "ai-lab"),
        ("kernels/attention.cu", "ai-lab"),
        ("pmoves/services/agent-zero/Dockerfile", "vps"),
        ("pmoves/docker-compose.yml", "vps"),
        ("pmoves/services/presign/.dockerignore", "vps"),
        ("pmoves/docs/cipher_bundle/Dockerfile.cipher", "github-hosted"),
        ("pmoves/services/hi-rag/app.py", "vps"),
    ],
)
def test_prefixed_service_paths(path: str, pool: str) -> None:
    decision = decide(change(FEATURE, [path]), default_policy())
    assert decision.pool == pool


def test_code_change_goes_to_default_pool() -> None:
    decision = decide(change(FEATURE, ["src/router.py", "README.md"]), default_policy())
    assert decision.pool == "vps"
    assert decision.rule is None
    assert decision.reason == "no rule matched, so the default pool vps builds it"
    assert decision.trace[-1] == "no rule matched: default pool vps"


def test_docker_change_on_main_builds_on_vps() -> None:
    paths = ["pmoves/services/agent-zero/Dockerfile"]
    decision = decide(change("refs/heads/main", paths), default_policy())
    assert decision.pool == "vps"
    assert decision.rule == "docker"


def test_docs_push_to_main_deploys() -> None:
    decision = decide(change("refs/heads/main", ["README.md"]), default_policy())
    assert decision.pool == "kvm4"


def test_pull_request_into_main_is_no_deploy() -> None:
    pull = change(
        "refs/heads/main",
        ["src/app.py"],
        event="pull_request",
        base_branch="main",
        pr_number=7,
    )
    decision = decide(pull, default_policy())
    assert decision.rule is None
    assert decision.pool == "vps"


def test_message_tags_force_pools() -> None:
    docs = ["README.md"]
    skip = decide(
        change(FEATURE, ["Dockerfile.cuda"], "x [Skip Self-Hosted]"), default_policy()
    )
    assert skip.pool == "github-hosted"
    assert skip.rule == "skip-self-hosted"
    assert (
        skip.reason
        == "rule skip-self-hosted matched: a message contains [skip self-hosted]"
    )
    gpu = decide(change(FEATURE, docs, "docs: [gpu] rebuild"), default_policy())
    assert gpu.pool == "ai-lab"
    assert gpu.rule == "gpu-tag"


def test_deleted_branch_builds_nothing() -> None:
    decision = decide(change(FEATURE, ["a.py"], deleted=True), default_policy())
    assert decision.pool is None
    assert decision.labels == ()
    assert decision.rule is None
    assert decision.routed_pool is None
    assert decision.reason == "branch feature/routing was deleted: nothing to build"


def test_deleted_tag_builds_nothing() -> None:
    decision = decide(change("refs/tags/v1.2", deleted=True), default_policy())
    assert decision.pool is None
    assert decision.reason == "tag v1.2 was deleted: nothing to build"


# ---------------------------------------------------------------------------
# Truncated change sets


def test_truncated_docs_change_is_conservative() -> None:
    docs = change(FEATURE, ["docs/a.md", "README.md"], truncated=True, files_total=5000)
    decision = decide(docs, default_policy())
    assert decision.pool == "vps"
    assert decision.routed_pool == "vps"
    assert decision.rule == "gpu"
    assert decision.conservative
    assert decision.files_seen == 2
    assert decision.files_total == 5000
    assert decision.reason == (
        "rule gpu could match a file not seen (saw 2 of 5000 files), "
        "so the conservative pool vps builds it"
    )
    assert decision.trace[-1] == "file list incomplete: conservative pool vps"


def test_truncated_change_without_conservative_pool_takes_rule_pool() -> None:
    policy = dataclasses.replace(default_policy(), conservative_pool=None)
    docs = change(FEATURE, ["docs/a.md"], truncated=True, files_total=40)
    decision = decide(docs, policy)
    assert decision.pool == "ai-lab"
    assert decision.reason == (
        "rule gpu could match a file not seen (saw 1 of 40 files), "
        "so ai-lab builds it to be safe"
    )


def test_truncated_change_with_seen_match_ignores_conservative_pool() -> None:
    seen = ["services/ollama/Dockerfile.cuda"]
    gpu = change(FEATURE, seen, truncated=True, files_total=40)
    decision = decide(gpu, default_policy())
    assert decision.pool == "ai-lab"
    assert decision.rule == "gpu"


def test_truncated_push_of_unknown_size() -> None:
    push = change(FEATURE, ["docs/a.md"], truncated=True, files_total=None)
    decision = decide(push, default_policy())
    assert decision.conservative
    assert "1 files seen, list truncated" in decision.reason


def test_pull_request_before_files_fetched() -> None:
    pull = change(FEATURE, event="pull_request", truncated=True, files_total=12)
    decision = decide(pull, default_policy())
    assert decision.pool == "vps"
    assert "saw 0 of 12 files" in decision.reason


def test_truncation_refuses_all_paths_rule() -> None:
    policy = load_policy(
        """
name = "t"
version = "1"
default_pool = "vps"
[pools.vps]
labels = ["self-hosted", "vps"]
[pools.gh]
kind = "github-hosted"
labels = ["ubuntu-latest"]
[[rules]]
name = "docs"
pool = "gh"
paths = ["**/*.md"]
paths_match = "all"
"""
    )
    docs = change(FEATURE, ["a.md"], truncated=True, files_total=40)
    decision = decide(docs, policy)
    assert decision.pool == "vps"
    assert decision.conservative
    assert decision.reason == (
        "no rule matched, so the default pool vps builds it "
        "(saw 1 of 40 files, so no rule that needs every file could match)"
    )
    complete = decide(change(FEATURE, ["a.md"]), policy)
    assert complete.pool == "gh"
    assert not complete.conservative


# ---------------------------------------------------------------------------
# Modes


def with_mode(mode: str, default_pool: str | None = None) -> Policy:
    policy = default_policy()
    return Policy(
        name=policy.name,
        version=policy.version,
        mode=mode,
        default_pool=default_pool or policy.default_pool,
        pools=policy.pools,
        rules=policy.rules,
        github_rates=policy.github_rates,
        baseline_size=policy.baseline_size,
    )


def test_self_hosted_only_skips_github_rules() -> None:
    policy = with_mode("self-hosted-only")
    docs = decide(change(FEATURE, ["README.md"]), policy)
    assert docs.pool == "vps"
    assert docs.rule is None
    assert any(
        line == "rule lightweight: skipped: routes to github-hosted, "
        "and the mode is self-hosted-only"
        for line in docs.trace
    )
    tagged = decide(change(FEATURE, ["Dockerfile"], "[skip self-hosted]"), policy)
    assert tagged.pool == "vps"
    assert tagged.rule == "docker"


def test_self_hosted_only_replaces_github_default() -> None:
    policy = with_mode("self-hosted-only", default_pool="github-hosted")
    decision = decide(change(FEATURE, ["src/a.py"]), policy)
    assert decision.pool == "ai-lab"
    assert decision.routed_pool == "ai-lab"
    assert (
        "mode self-hosted-only: github-hosted is not allowed, so ai-lab takes it"
        in decision.trace
    )


def test_self_hosted_only_last_resort_is_github() -> None:
    policy = with_mode("self-hosted-only")
    down = frozenset(name for name in policy.pools if name != "github-hosted")
    decision = decide(change(FEATURE, ["src/a.py"]), policy, Availability(down=down))
    assert decision.pool == "github-hosted"
    assert decision.fallback
    assert decision.reason.endswith(
        "vps is down; fell back to github-hosted (every self-hosted pool is "
        "down, so the GitHub-hosted last resort)"
    )


def test_github_hosted_only_always_github() -> None:
    policy = with_mode("github-hosted-only")
    for paths in (["Dockerfile.cuda"], ["Dockerfile"], ["src/a.py"], ["README.md"]):
        decision = decide(change(FEATURE, paths), policy)
        assert decision.pool == "github-hosted"
        assert decision.labels == ("ubuntu-latest",)
        assert not decision.fallback
    gpu = decide(change(FEATURE, ["Dockerfile.cuda"]), policy)
    assert gpu.rule == "gpu"
    assert (
        "mode github-hosted-only: ai-lab is not allowed, so github-hosted takes it"
        in gpu.trace
    )


# ---------------------------------------------------------------------------
# Fallback

GPU_CHANGE = change(FEATURE, ["services/ollama/Dockerfile.cuda"])


@pytest.mark.parametrize(
    ("down", "saturated", "pool", "note"),
    [
        ((), (), "ai-lab", ""),
        (
            ("ai-lab",),
            (),
            "vps",
            "ai-lab is down; fell back to vps (next up in its fallback chain)",
        ),
        (
            ("ai-lab", "vps"),
            (),
            "github-hosted",
            "ai-lab is down; fell back to github-hosted "
            "(next up in its fallback chain)",
        ),
        (
            (),
            ("ai-lab",),
            "vps",
            "ai-lab is saturated; fell back to vps (next up in its fallback chain)",
        ),
        (
            ("vps", "github-hosted", "kvm2"),
            ("ai-lab",),
            "ai-lab",
            "ai-lab is saturated and no pool in its fallback chain is up",
        ),
        (
            ("ai-lab", "github-hosted", "kvm2"),
            ("vps",),
            "vps",
            "ai-lab is down; fell back to vps (saturated, the least busy choice in "
            "its fallback chain)",
        ),
        (
            ("ai-lab", "vps", "github-hosted", "kvm2"),
            (),
            "cloudstartup",
            "ai-lab is down; fell back to cloudstartup (the fallback chain is down, "
            "so another pool that is up)",
        ),
        (
            ("ai-lab", "vps", "github-hosted", "kvm2", "cloudstartup"),
            ("kvm4",),
            "kvm4",
            "ai-lab is down; fell back to kvm4 (the fallback chain is down, so "
            "another saturated pool)",
        ),
        (
            ("ai-lab", "vps", "github-hosted", "kvm2", "cloudstartup", "kvm4"),
            (),
            "ai-lab",
            "every pool is down, so ai-lab keeps the build",
        ),
    ],
)
def test_fallback_walks_chain(
    down: tuple[str, ...], saturated: tuple[str, ...], pool: str, note: str
) -> None:
    availability = Availability(down=frozenset(down), saturated=frozenset(saturated))
    decision = decide(GPU_CHANGE, default_policy(), availability)
    assert decision.pool == pool
    assert decision.routed_pool == "ai-lab"
    assert decision.fallback == (pool != "ai-lab")
    assert decision.labels == default_policy().pools[pool].labels
    expected = "rule gpu matched services/ollama/Dockerfile.cuda"
    assert decision.reason == (f"{expected}; {note}" if note else expected)
    if note:
        assert decision.trace[-1] == f"fallback: {note}"


# ---------------------------------------------------------------------------
# Trace and JSON form


def test_trace_lists_rules_and_paths() -> None:
    paths = [f"services/s{index:02}/Dockerfile" for index in range(25)]
    decision = decide(change(FEATURE, paths, "build all"), default_policy())
    assert decision.rule == "docker"
    assert decision.trace[0] == (
        "policy pmoves-hybrid@1, mode hybrid: push on branch feature/routing, "
        "25 changed files"
    )
    assert decision.trace[1] == (
        "rule skip-self-hosted: no match: no commit message or pull request "
        "text contains [skip self-hosted]"
    )
    assert (
        decision.trace[3] == "rule gpu: no match: none of 25 changed paths is selected"
    )
    assert decision.trace[4] == "rule docker: match: 25 or more changed paths selected"
    shown = ", ".join(paths[:TRACE_PATHS_MAX])
    assert decision.trace[5] == f"  **/Dockerfile selected {shown} and 15 more"
    assert decision.reason == "rule docker matched services/s00/Dockerfile and 24 more"


def test_trace_shows_excluded_paths() -> None:
    paths = ["docs/examples/Dockerfile", "services/a/Dockerfile"]
    decision = decide(change(FEATURE, paths), default_policy())
    assert decision.rule == "docker"
    assert "  !**/docs/** excluded docs/examples/Dockerfile" in decision.trace


def test_decision_to_dict_is_json_ready() -> None:
    decision = decide(
        GPU_CHANGE, default_policy(), Availability(down=frozenset({"ai-lab"}))
    )
    data = decision_to_dict(decision)
    assert json.loads(json.dumps(data)) == data
    assert data["pool"] == "vps"
    assert data["labels"] == ["self-hosted", "vps"]
    assert data["rule"] == "gpu"
    assert data["fallback"] is True
    assert data["routed_pool"] == "ai-lab"
    assert data["conservative"] is False
    assert data["trace"] == list(decision.trace)
    assert data["policy"] == "pmoves-hybrid@1"
    assert data["files_seen"] == 1
    assert data["files_total"] == 1


# ---------------------------------------------------------------------------
# Conditions other than paths

CONDITIONS = load_policy(
    """
name = "conditions"
version = "1"
default_pool = "base"
[pools.base]
labels = ["self-hosted", "base"]
[pools.big]
labels = ["self-hosted", "big"]
[pools.gh]
kind = "github-hosted"
labels = ["ubuntu-latest"]
[[rules]]
name = "release-tags"
pool = "big"
tags = ["v*", "!v*-rc*"]
[[rules]]
name = "drafts"
pool = "gh"
draft = true
events = ["pull_request"]
[[rules]]
name = "labelled"
pool = "big"
labels = ["Heavy"]
[[rules]]
name = "into-release"
pool = "big"
base_branches = ["release/**"]
"""
)


def test_condition_rules() -> None:
    assert decide(change("refs/tags/v1.0"), CONDITIONS).rule == "release-tags"
    assert decide(change("refs/tags/v1.0-rc1"), CONDITIONS).rule is None
    pull = {"event": "pull_request", "base_branch": "main"}
    assert decide(change(FEATURE, draft=True, **pull), CONDITIONS).rule == "drafts"
    assert decide(change(FEATURE, draft=False, **pull), CONDITIONS).rule is None
    heavy = change(FEATURE, labels=("HEAVY",), **pull)
    assert decide(heavy, CONDITIONS).rule == "labelled"
    into = change(FEATURE, event="pull_request", base_branch="release/2.0")
    assert decide(into, CONDITIONS).rule == "into-release"
    assert decide(change(FEATURE), CONDITIONS).pool == "base"


# ---------------------------------------------------------------------------
# Properties, checked against a reference matcher written here

PATH_POOL = [
    "README.md",
    "docs/ollama.md",
    "docs/guide/setup.md",
    ".github/workflows/ci.yml",
    "services/ollama/Dockerfile.cuda",
    "pmoves/services/ollama/Dockerfile.gpu",
    "pmoves/services/agent-zero/Dockerfile",
    "pmoves/docker-compose.gpu.yml",
    "pmoves/docker-compose.yml",
    "pmoves/docs/examples/Dockerfile",
    "pmoves/services/hi-rag/app.py",
    "src/main.py",
    "kernels/flash.cu",
    "LICENSE",
    ".gitignore",
    "pmoves/env.shared.example",
    "assets/logo.svg",
]
REFS = [
    "refs/heads/main",
    "refs/heads/develop",
    "refs/heads/feature/x",
    "refs/heads/release/1.0",
    "refs/tags/v1.0",
    "refs/tags/v1.0-rc1",
]
MESSAGES = ["fix: bug", "feat: [gpu] kernels", "docs [skip self-hosted]", "chore"]


@st.composite
def changes(draw: st.DrawFn) -> ChangeSet:
    event = draw(st.sampled_from(["push", "pull_request", "api"]))
    return change(
        draw(st.sampled_from(REFS)),
        draw(st.lists(st.sampled_from(PATH_POOL), max_size=6)),
        draw(st.sampled_from(MESSAGES)),
        event=event,
        labels=tuple(draw(st.lists(st.sampled_from(["heavy", "docs"]), unique=True))),
        draft=draw(st.booleans()) if event == "pull_request" else False,
        base_branch=draw(st.sampled_from(["main", "release/2.0"]))
        if event == "pull_request"
        else None,
    )


RULE_PATHS = [
    "**/*.md",
    "**/Dockerfile*",
    "!**/docs/**",
    "docs/**",
    "**/*.{cu,cuh}",
    "**",
    "src/*.py",
    "!README.md",
]


@st.composite
def rule_lists(draw: st.DrawFn) -> tuple[Rule, ...]:
    rules = []
    for index in range(draw(st.integers(min_value=0, max_value=5))):
        paths = draw(st.lists(st.sampled_from(RULE_PATHS), unique=True, max_size=3))
        rules.append(
            Rule(
                name=f"r{index}",
                pool=draw(st.sampled_from(["base", "big", "gh"])),
                paths=tuple(paths),
                paths_match=draw(st.sampled_from(["any", "all"])),
                branches=tuple(
                    draw(st.lists(st.sampled_from(["main", "release/**"]), max_size=1))
                ),
                tags=tuple(
                    draw(st.lists(st.sampled_from(["v*", "!v*-rc*"]), max_size=2))
                ),
                events=tuple(
                    draw(
                        st.lists(st.sampled_from(["push", "pull_request"]), max_size=1)
                    )
                ),
                labels=tuple(draw(st.lists(st.sampled_from(["heavy"]), max_size=1))),
                draft=draw(st.none() | st.booleans()),
                message_tags=tuple(
                    draw(st.lists(st.sampled_from(["[gpu]"]), max_size=1))
                ),
                base_branches=tuple(
                    draw(st.lists(st.sampled_from(["release/**"]), max_size=1))
                ),
            )
        )
    return tuple(rules)


def reference_globs(value: str, patterns: Sequence[str]) -> bool:
    for pattern in reversed(patterns):
        if glob.globmatch(value, pattern.removeprefix("!"), flags=REFERENCE_FLAGS):
            return not pattern.startswith("!")
    return False


def reference_matches(rule: Rule, subject: ChangeSet) -> bool:
    """Decide one rule for a complete change set, condition by condition."""
    if rule.events and subject.event not in rule.events:
        return False

    if rule.branches or rule.tags:
        branch_ok = (
            subject.branch is not None
            and bool(rule.branches)
            and reference_globs(subject.branch, rule.branches)
        )
        tag_ok = (
            subject.tag is not None
            and bool(rule.tags)
            and reference_globs(subject.tag, rule.tags)
        )
        if not (branch_ok or tag_ok):
            return False
    if rule.base_branches and not (
        subject.base_branch and reference_globs(subject.base_branch, rule.base_branches)
    ):
        return False
    if rule.draft is not None and subject.draft != rule.draft:
        return False

    wanted = {label.lower() for label in rule.labels}
    if wanted and not wanted & {label.lower() for label in subject.labels}:
        return False
    texts = [message.lower() for message in subject.messages]
    if rule.message_tags and not any(
        tag.lower() in text for tag in rule.message_tags for text in texts
    ):
        return False

    if not rule.paths:
        return True
    hits = [reference_globs(path, rule.paths) for path in subject.paths]
    if rule.paths_match == "all":
        return bool(hits) and all(hits)
    return any(hits)


def synthetic_policy(rules: tuple[Rule, ...], mode: str = "hybrid") -> Policy:
    pools = {
        "base": Pool("base", ("self-hosted", "base"), fallback=("big", "gh")),
        "big": Pool("big", ("self-hosted", "big"), fallback=("gh",)),
        "gh": Pool("gh", ("ubuntu-latest",), kind="github-hosted"),
    }
    return Policy("synthetic", "1", mode, "base", pools, rules)


@settings(max_examples=150, deadline=None)
@given(rules=rule_lists(), subject=changes())
def test_first_match_agrees_with_reference(
    rules: tuple[Rule, ...], subject: ChangeSet
) -> None:
    decision = decide(subject, synthetic_policy(rules))
    expected = next((rule for rule in rules if reference_matches(rule, subject)), None)
    assert decision.rule == (expected.name if expected else None)
    assert decision.pool == (expected.pool if expected else "base")
    assert not decision.conservative


@settings(max_examples=150, deadline=None)
@given(subject=changes(), seed=st.integers(min_value=0, max_value=1000))
def test_decision_ignores_file_order(subject: ChangeSet, seed: int) -> None:
    shuffled = list(subject.paths)
    random.Random(seed).shuffle(shuffled)
    again = change(
        subject.ref,
        shuffled,
        subject.messages[0] if subject.messages else "",
        event=subject.event,
        labels=subject.labels,
        draft=subject.draft,
        base_branch=subject.base_branch,
    )
    first = decide(subject, default_policy())
    assert decide(again, default_policy()) == first
    assert decide(subject, default_policy()) == first


@settings(max_examples=150, deadline=None)
@given(
    subject=changes(),
    rules=rule_lists(),
    mode=st.sampled_from(["hybrid", "self-hosted-only", "github-hosted-only"]),
    down=st.sets(st.sampled_from(["base", "big", "gh"])),
    saturated=st.sets(st.sampled_from(["base", "big", "gh"])),
)
def test_fallback_avoids_down_pools(
    subject: ChangeSet,
    rules: tuple[Rule, ...],
    mode: str,
    down: set[str],
    saturated: set[str],
) -> None:
    policy = synthetic_policy(rules, mode)
    decision = decide(
        subject, policy, Availability(frozenset(down), frozenset(saturated))
    )
    assert decision.pool is not None
    assert decision.labels == policy.pools[decision.pool].labels
    # self-hosted-only may use a GitHub-hosted pool as its last resort, so
    # every pool counts there; github-hosted-only never leaves its own kind.
    permitted = {
        "hybrid": {"base", "big", "gh"},
        "self-hosted-only": {"base", "big", "gh"},
        "github-hosted-only": {"gh"},
    }[mode]
    if decision.pool in down:
        assert permitted <= down
    if mode == "github-hosted-only":
        assert decision.pool == "gh"
    if mode == "self-hosted-only" and decision.pool == "gh":
        assert {"base", "big"} <= down


@settings(max_examples=100, deadline=None)
@given(subject=changes(), total=st.integers(min_value=0, max_value=10))
def test_truncated_decision_never_lighter(subject: ChangeSet, total: int) -> None:
    truncated = change(
        subject.ref,
        subject.paths,
        subject.messages[0] if subject.messages else "",
        event=subject.event,
        labels=subject.labels,
        draft=subject.draft,
        base_branch=subject.base_branch,
        truncated=True,
        files_total=len(subject.paths) + 1 + total,
    )
    decision: Decision = decide(truncated, default_policy())
    # No rule that needs every file to match can win on a partial list.
    assert decision.rule != "lightweight"
    assert decision.pool != "github-hosted" or decision.rule == "skip-self-hosted"


def test_mode_replacing_conservative_pool_is_in_reason() -> None:
    policy = dataclasses.replace(default_policy(), mode="github-hosted-only")
    unknown = change(FEATURE, [], truncated=True, files_total=12)
    decision = decide(unknown, policy)
    assert decision.pool == "github-hosted"
    assert decision.reason.endswith(
        "; the mode github-hosted-only does not allow vps, so github-hosted"
    )


def test_all_allowed_pools_down_names_the_mode() -> None:
    policy = dataclasses.replace(default_policy(), mode="github-hosted-only")
    docs = change(FEATURE, ["README.md"])
    decision = decide(docs, policy, Availability(down=frozenset({"github-hosted"})))
    assert decision.pool == "github-hosted"
    assert decision.reason.endswith(
        "every pool the mode github-hosted-only allows is down, "
        "so github-hosted keeps the build"
    )
