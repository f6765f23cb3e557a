"""Policy files: the default policy, TOML and JSON loading, validation, round trips."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared_routing.errors import NotFound, PolicyInvalid, Problem
from shared_routing.keylines import format_key, json_key_lines, toml_key_lines
from shared_routing.policy import (
    GITHUB_RATES_2026,
    Policy,
    Pool,
    Rule,
    default_policy,
    dump_policy_toml,
    load_policy,
    policy_to_dict,
)

MINIMAL_TOML = """\
name = "small"
version = 3
default_pool = "vps"

[pools.vps]
labels = ["self-hosted", "vps"]
fallback = ["github-hosted"]
monthly_cost = 20

[pools.github-hosted]
kind = "github-hosted"
labels = ["ubuntu-latest"]

[[rules]]
name = "docs"
pool = "github-hosted"
paths = ["**/*.md"]
paths_match = "all"
"""

MINIMAL_JSON = """\
{
  "name": "small",
  "version": "3",
  "default_pool": "vps",
  "pools": {
    "vps": {"labels": ["self-hosted", "vps"], "fallback": ["github-hosted"],
            "monthly_cost": 20.0},
    "github-hosted": {"kind": "github-hosted", "labels": ["ubuntu-latest"]}
  },
  "rules": [
    {"name": "docs", "pool": "github-hosted", "paths": ["**/*.md"],
     "paths_match": "all"}
  ]
}
"""


def problems_of(
    text: str, source: str = "bad.toml", fmt: str | None = None
) -> list[str]:
    with pytest.raises(PolicyInvalid) as raised:
        load_policy(text, source, fmt)
    return [str(problem) for problem in raised.value.problems]


# ---------------------------------------------------------------------------
# The default policy


def test_default_policy_pools_match_design() -> None:
    policy = default_policy()
    labels = {name: pool.labels for name, pool in policy.pools.items()}
    assert labels == {
        "ai-lab": ("self-hosted", "ai-lab", "gpu"),
        "vps": ("self-hosted", "vps"),
        "cloudstartup": ("self-hosted", "vps", "cloudstartup", "staging"),
        "kvm4": ("self-hosted", "vps", "kvm4", "production"),
        "kvm2": ("self-hosted", "vps", "kvm2", "backup"),
        "github-hosted": ("ubuntu-latest",),
    }
    assert policy.pool("github-hosted").kind == "github-hosted"
    assert all(pool.kind == "self-hosted" for pool in list(policy.pools.values())[:5])


def test_default_policy_settings() -> None:
    policy = default_policy()
    assert policy.mode == "hybrid"
    assert policy.default_pool == "vps"
    assert policy.label == "pmoves-hybrid@1"
    assert policy.source == "default_policy.toml"
    assert [rule.name for rule in policy.rules] == [
        "skip-self-hosted",
        "gpu-tag",
        "gpu",
        "docker",
        "deploy-production",
        "deploy-staging",
        "lightweight",
    ]


def test_default_fallback_chains_end_github_hosted() -> None:
    policy = default_policy()
    for name, pool in policy.pools.items():
        seen = [name]
        current = pool
        while current.fallback:
            seen.append(current.fallback[-1])
            current = policy.pools[current.fallback[-1]]
        assert seen[-1] == "github-hosted", seen


def test_default_rates_are_2026_list_prices() -> None:
    policy = default_policy()
    assert dict(policy.github_rates) == dict(GITHUB_RATES_2026)
    assert policy.github_rates["linux"] == 0.006
    assert policy.baseline_size == "linux"
    assert policy.baseline_rate() == 0.006
    assert policy.minute_rate("github-hosted") == 0.006
    assert policy.minute_rate("ai-lab") == 0.0


def test_pool_lookup_names_missing_pool() -> None:
    with pytest.raises(NotFound, match="no pool 'nope'"):
        default_policy().pool("nope")


# ---------------------------------------------------------------------------
# Loading


def test_toml_and_json_load_equal() -> None:
    from_toml = load_policy(MINIMAL_TOML, "small.toml")
    from_json = load_policy(MINIMAL_JSON, "small.json")
    assert from_toml == from_json
    assert from_toml.version == "3"
    assert from_toml.mode == "hybrid"
    assert from_toml.pools["vps"].monthly_cost == 20.0
    assert from_toml.pools["vps"].kind == "self-hosted"
    assert from_toml.rules[0].paths_match == "all"
    assert from_toml.rules[0].estimated_minutes == 10.0
    assert dict(from_toml.github_rates) == dict(GITHUB_RATES_2026)


def test_format_is_sniffed_or_forced() -> None:
    assert load_policy(MINIMAL_JSON).name == "small"
    problems = problems_of(MINIMAL_JSON, "p.json", "toml")
    assert len(problems) == 1
    assert problems[0].startswith("p.json:1: invalid TOML: ")


def test_rates_merge_over_defaults() -> None:
    text = MINIMAL_TOML.replace(
        "[pools.vps]", "[github_rates]\nlinux = 0.008\nmy_runner = 0.1\n\n[pools.vps]"
    )
    policy = load_policy(text)
    assert policy.github_rates["linux"] == 0.008
    assert policy.github_rates["my_runner"] == 0.1
    assert policy.github_rates["macos"] == 0.062


def test_round_trip_default_policy() -> None:
    policy = default_policy()
    assert load_policy(dump_policy_toml(policy), "dumped.toml") == policy
    as_json = json.dumps(policy_to_dict(policy), indent=2)
    assert load_policy(as_json, "dumped.json") == policy


def test_policy_to_dict_shape() -> None:
    data = policy_to_dict(load_policy(MINIMAL_TOML))
    assert data["pools"]["github-hosted"] == {
        "kind": "github-hosted",
        "labels": ["ubuntu-latest"],
        "monthly_cost": 0.0,
        "minute_cost": 0.0,
    }
    assert data["rules"] == [
        {
            "name": "docs",
            "pool": "github-hosted",
            "paths": ["**/*.md"],
            "paths_match": "all",
            "estimated_minutes": 10.0,
        }
    ]


# ---------------------------------------------------------------------------
# Validation: every problem, with file, line and key

BAD_TOML = """\
name = "bad"
version = "1"
mode = "hybrid"
default_pool = "vps"
default_estimated_minutes = -1

[pools.vps]
labels = ["self-hosted", "vps"]
fallback = ["kvm2", "github"]
capacity = "two"

[pools.kvm2]
labels = ["self-hosted", "kvm2"]
fallback = ["vps"]

[pools.github-hosted]
kind = "github-hosted"
labels = ["ubuntu-latest"]

[[rules]]
name = "docker"
pool = "vps"
paths = ["**/Dockerfile", "**.md"]
brnaches = ["main"]

[[rules]]
name = "docs"
pool = "github-hostd"
paths = ["!docs/**"]

[[rules]]
name = "catch-all"
pool = "vps"

[[rules]]
name = "docs"
pool = "kvm2"
events = ["push"]
"""


def test_every_problem_reported_at_once() -> None:
    pools = "pools: vps, kvm2, github-hosted"
    assert problems_of(BAD_TOML) == [
        "bad.toml:5: default_estimated_minutes: must not be negative, not -1",
        f"bad.toml:9: pools.vps.fallback[1]: unknown pool 'github'; {pools}; "
        "did you mean 'github-hosted'?",
        "bad.toml:9: pools.vps.fallback: fallback cycle: vps -> kvm2 -> vps",
        "bad.toml:10: pools.vps.capacity: must be a whole number, not a string",
        "bad.toml:23: rules[0].paths[1]: pattern '**.md' has '**' inside the "
        "segment '**.md'; '**' crosses directories only as a whole segment, "
        "as in '**/*.js'",
        "bad.toml:24: rules[0].brnaches: unknown key 'brnaches'; "
        "did you mean 'branches'?",
        f"bad.toml:28: rules[1].pool: unknown pool 'github-hostd' in rule 'docs'; "
        f"{pools}; did you mean 'github-hosted'?",
        "bad.toml:29: rules[1].paths: has only '!' patterns, which select "
        "nothing; start with a pattern that selects, such as '**'",
        "bad.toml:35: rules[3]: rule 'docs' can never match: rule 'catch-all' "
        "(rules[2]) comes first and has no conditions, so it matches every change",
        "bad.toml:36: rules[3].name: duplicate rule name 'docs'; rules[1] has it too",
    ]


def test_policy_invalid_is_422_with_problems() -> None:
    with pytest.raises(PolicyInvalid) as raised:
        load_policy(BAD_TOML, "bad.toml")
    error = raised.value
    assert error.status == 422
    body = error.to_dict()
    assert body["code"] == "invalid_policy"
    assert len(body["problems"]) == 10
    assert body["problems"][0] == {
        "source": "bad.toml",
        "line": 5,
        "key": "default_estimated_minutes",
        "message": "must not be negative, not -1",
    }
    assert body["error"].startswith("policy has 10 problems: bad.toml:5: ")


def test_problem_text_without_line_or_key() -> None:
    assert str(Problem("p.toml", None, "mode", "bad")) == "p.toml: mode: bad"
    assert str(Problem("p.toml", 4, "", "bad")) == "p.toml:4: bad"


SHADOW_TOML = """\
name = "shadow"
version = "1"
default_pool = "a"

[pools.a]
labels = ["self-hosted"]

[[rules]]
name = "first"
pool = "a"
paths = ["docs/**", "**/*.md"]
events = ["push", "pull_request"]

[[rules]]
name = "same"
pool = "a"
paths = ["docs/**", "**/*.md"]
events = ["push", "pull_request"]

[[rules]]
name = "narrower"
pool = "a"
paths = ["**/*.md", "!README.md"]
events = ["push"]
branches = ["main"]

[[rules]]
name = "reachable"
pool = "a"
paths = ["**/*.txt"]
"""


def test_shadowed_rules_are_reported() -> None:
    assert problems_of(SHADOW_TOML, "shadow.toml") == [
        "shadow.toml:14: rules[1]: rule 'same' can never match: rule 'first' "
        "(rules[0]) comes first and has the same conditions",
        "shadow.toml:20: rules[2]: rule 'narrower' can never match: rule 'first' "
        "(rules[0]) comes first and matches every change that 'narrower' matches",
    ]


def test_shadowing_ignores_skipped_rules() -> None:
    text = """\
name = "m"
version = "1"
mode = "self-hosted-only"
default_pool = "a"
[pools.a]
labels = ["self-hosted"]
[pools.gh]
kind = "github-hosted"
labels = ["ubuntu-latest"]
[[rules]]
name = "everything-to-github"
pool = "gh"
[[rules]]
name = "docs"
pool = "a"
paths = ["**/*.md"]
"""
    policy = load_policy(text)
    assert [rule.name for rule in policy.rules] == ["everything-to-github", "docs"]


def test_missing_keys_are_named() -> None:
    assert problems_of('mode = "hybrid"\n', "p.toml") == [
        "p.toml: name: is missing",
        "p.toml: version: is missing",
        "p.toml: pools: is missing; define at least one pool",
        "p.toml: default_pool: is missing",
    ]


def test_type_problems_name_the_type() -> None:
    text = """\
name = 7
version = true
default_pool = "a"
rules = "none"

[pools.a]
labels = "self-hosted"
kind = "cloud"
minute_cost = "free"
"""
    assert problems_of(text, "p.toml") == [
        "p.toml:1: name: must be a string, not an integer",
        "p.toml:2: version: must be a string, not a boolean",
        "p.toml:4: rules: must be an array of tables, not a string",
        "p.toml:7: pools.a.labels: must be an array of strings, not a string",
        "p.toml:8: pools.a.kind: unknown value 'cloud'; expected one of: "
        "self-hosted, github-hosted",
        "p.toml:9: pools.a.minute_cost: must be a number, not a string",
    ]


def test_pool_cost_model_problems() -> None:
    text = """\
name = "c"
version = "1"
default_pool = "a"
baseline_size = "linux_3_core"

[pools.a]
labels = ["self-hosted"]
runner_size = "linux"
capacity = 0

[pools."b b"]
kind = "github-hosted"
labels = ["ubuntu-latest"]
runner_size = "linx"
minute_cost = 0.5
"""
    assert problems_of(text, "c.toml") == [
        "c.toml:4: baseline_size: unknown runner size 'linux_3_core'; it must be "
        "a key of github_rates; did you mean 'linux_32_core'?",
        "c.toml:8: pools.a.runner_size: applies to github-hosted pools only; a "
        "self-hosted pool costs its monthly_cost and minute_cost",
        "c.toml:9: pools.a.capacity: must be at least 1, not 0",
        "c.toml:11: pools.\"b b\": pool name 'b b' must start with a letter or "
        "digit and contain only letters, digits, '.', '_' and '-'",
        "c.toml:14: pools.\"b b\".runner_size: unknown runner size 'linx'; it "
        "must be a key of github_rates; did you mean 'linux'?",
        'c.toml:15: pools."b b".minute_cost: applies to self-hosted pools '
        "only; a github-hosted pool costs github_rates[runner_size]",
    ]


def test_rule_condition_problems() -> None:
    text = """\
name = "r"
version = "1"
default_pool = "a"

[pools.a]
labels = ["self-hosted"]

[[rules]]
name = "r"
pool = "a"
events = ["push", "pussh"]
draft = "yes"
labels = ["x", "x"]
paths_match = "every"
estimated_minutes = inf
branches = ["/main", "!main"]
"""
    assert problems_of(text, "r.toml") == [
        "r.toml:11: rules[0].events[1]: unknown event 'pussh'; did you mean 'push'?",
        "r.toml:12: rules[0].draft: must be true or false, not a string",
        "r.toml:13: rules[0].labels[1]: 'x' is listed twice",
        "r.toml:14: rules[0].paths_match: unknown value 'every'; expected one "
        "of: any, all",
        "r.toml:14: rules[0].paths_match: needs a `paths` list to apply to",
        "r.toml:15: rules[0].estimated_minutes: must be a finite number, not inf",
        "r.toml:16: rules[0].branches[0]: pattern '/main' starts with '/', but "
        "paths are relative to the repository root",
    ]


def test_mode_needs_a_pool_of_its_kind() -> None:
    text = 'name = "m"\nversion = "1"\nmode = "github-hosted-only"\n'
    text += 'default_pool = "a"\n[pools.a]\nlabels = ["self-hosted"]\n'
    assert problems_of(text, "m.toml") == [
        "m.toml:3: mode: is github-hosted-only, but no pool is github-hosted",
    ]


def test_toml_syntax_error_has_line() -> None:
    text = 'name = "x"\nversion = "1"\n[pools.a]\nlabels = ["a",\n'
    problems = problems_of(text, "s.toml")
    assert len(problems) == 1
    assert problems[0] == "s.toml:5: invalid TOML: Invalid value at the end"


def test_toml_duplicate_table_is_syntax_error() -> None:
    text = MINIMAL_TOML + '\n[pools.vps]\nlabels = ["x"]\n'
    problems = problems_of(text, "d.toml")
    assert len(problems) == 1
    assert problems[0] == (
        "d.toml:20: invalid TOML: Cannot declare ('pools', 'vps') twice at column 11"
    )


def test_json_syntax_error_has_line() -> None:
    problems = problems_of('{\n  "name": "x",\n  "version" 1\n}\n', "s.json")
    assert problems == ["s.json:3: invalid JSON: Expecting ':' delimiter at column 13"]


def test_json_problems_have_lines() -> None:
    text = MINIMAL_JSON.replace('"fallback": ["github-hosted"]', '"fallback": ["gh"]')
    text = text.replace('"version": "3",', '"version": "3",\n  "name": "again",')
    assert problems_of(text, "p.json") == [
        "p.json:4: name: is given twice in one object",
        "p.json:7: pools.vps.fallback[0]: unknown pool 'gh'; pools: vps, github-hosted",
    ]


def test_json_type_names() -> None:
    text = '{"name": "j", "version": "1", "default_pool": "a", "pools": []}'
    assert problems_of(text, "j.json") == [
        "j.json:1: pools: must be an object, not an array",
    ]
    assert problems_of("[1, 2]", "k.json", "json") == [
        "k.json:1: a JSON policy must be an object, not an array",
    ]
    nan = problems_of('{"name": NaN}', "n.json")
    assert nan == ["n.json: invalid JSON: NaN is not a number that a policy accepts"]


# ---------------------------------------------------------------------------
# Key lines


def test_toml_key_lines_handle_tricky_syntax() -> None:
    text = """\
name = "p" # comment with [brackets] and = sign
"version" = '2'
description = \"\"\"
[not a table]
key = "not a key"
\"\"\"
pools.a.labels = ["self-hosted"]
pools . b = { labels = [ "x" ], kind = "github-hosted" }
[pools.c]
labels = [  # comment
  # whole comment line
  "c",
  'd'
]
[[rules]]
name = "r\\"1"
[[ rules ]]   # spaced header
name = 'r2'
"""
    lines = toml_key_lines(text)
    found = {format_key(path): line for path, line in lines.lines.items()}
    assert found["version"] == 2
    assert found["description"] == 3
    assert "key" not in found
    assert found["pools.a.labels"] == 7
    assert found["pools.b.kind"] == 8
    assert found["pools.c.labels[0]"] == 12
    assert found["pools.c.labels[1]"] == 13
    assert found["rules[0].name"] == 16
    assert found["rules[1]"] == 17
    assert found["rules[1].name"] == 18
    assert lines.line_of(("rules", 1, "pool")) == 17


def test_json_key_lines_and_duplicates() -> None:
    text = '{\n "a": 1,\n "rules": [\n  {"name": "x",\n   "pool": "p"}\n ],\n "a": 2\n}'
    lines = json_key_lines(text)
    assert lines.lines[("rules", 0, "pool")] == 5
    assert lines.lines[("rules", 0)] == 4
    assert lines.duplicates == [(("a",), 7)]


def test_format_key_quotes_odd_names() -> None:
    assert format_key(("rules", 2, "pool")) == "rules[2].pool"
    assert format_key(("pools", "my pool", "labels", 0)) == 'pools."my pool".labels[0]'


# ---------------------------------------------------------------------------
# Round trip property

NAME = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,7}", fullmatch=True)
TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=20,
)
MINUTES = st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False)
GLOBS = st.lists(
    st.sampled_from(["**/*.md", "docs/**", "src/*.py", "!**/test/**", "**"]),
    unique=True,
    max_size=3,
).filter(lambda values: not values or not all(v.startswith("!") for v in values))


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    names = draw(st.lists(NAME, min_size=1, max_size=5, unique=True))
    rates = dict(GITHUB_RATES_2026)
    rates.update(draw(st.dictionaries(NAME, MINUTES, max_size=3)))
    pools: dict[str, Pool] = {}
    for index, name in enumerate(names):
        hosted = draw(st.booleans())
        # Fallbacks point only to later pools, so there is no cycle.
        later = names[index + 1 :]
        fallback = draw(st.lists(st.sampled_from(later), unique=True)) if later else []
        runner_size = draw(st.none() | st.sampled_from(sorted(rates)))
        pools[name] = Pool(
            name=name,
            labels=tuple(draw(st.lists(NAME, min_size=1, max_size=3, unique=True))),
            kind="github-hosted" if hosted else "self-hosted",
            capacity=draw(st.none() | st.integers(min_value=1, max_value=50)),
            fallback=tuple(fallback),
            monthly_cost=draw(MINUTES),
            minute_cost=0.0 if hosted else draw(MINUTES),
            runner_size=runner_size if hosted else None,
            description=draw(TEXT),
        )
    rules = []
    for index in range(draw(st.integers(min_value=0, max_value=4))):
        paths = tuple(draw(GLOBS))
        branches = draw(st.lists(st.sampled_from(["main", "release/*"]), unique=True))
        events = draw(st.lists(st.sampled_from(["push", "pull_request"]), unique=True))
        rules.append(
            Rule(
                name=f"rule-{index}",
                pool=draw(st.sampled_from(names)),
                paths=paths,
                branches=tuple(branches),
                events=tuple(events),
                labels=tuple(draw(st.lists(NAME, unique=True, max_size=2))),
                draft=draw(st.none() | st.booleans()),
                # A tag of its own keeps each rule reachable.
                message_tags=(f"[only-{index}]",),
                estimated_minutes=draw(MINUTES),
                description=draw(TEXT),
                paths_match=draw(st.sampled_from(["any", "all"])) if paths else "any",
            )
        )
    return Policy(
        name=draw(NAME),
        version=draw(NAME),
        mode="hybrid",
        default_pool=draw(st.sampled_from(names)),
        pools=pools,
        rules=tuple(rules),
        github_rates=rates,
        baseline_size=draw(st.sampled_from(sorted(rates))),
        description=draw(TEXT),
        default_estimated_minutes=draw(MINUTES),
    )


@settings(max_examples=100, deadline=None)
@given(policies())
def test_round_trip_generated_policies(policy: Policy) -> None:
    assert load_policy(dump_policy_toml(policy), "dumped.toml") == policy
    assert load_policy(json.dumps(policy_to_dict(policy)), "dumped.json") == policy


@pytest.mark.parametrize("depth", [101, 10_000])
def test_deeply_nested_policy_is_rejected(depth):
    documents = {
        "toml": "a = " + "[" * depth + "]" * depth + "\n",
        "json": '{"a": ' + "[" * depth + "]" * depth + "}",
    }
    for fmt, text in documents.items():
        with pytest.raises(PolicyInvalid) as raised:
            load_policy(text, "deep", fmt)
        [problem] = raised.value.problems
        assert "nested deeper than 100" in problem.message, fmt


def test_policy_nested_within_limit_reaches_validation():
    text = "a = " + "[" * 99 + "]" * 99 + "\n"
    with pytest.raises(PolicyInvalid) as raised:
        load_policy(text, "shallow", "toml")
    assert all("nested" not in p.message for p in raised.value.problems)


@pytest.mark.parametrize(
    ("label", "message"),
    [
        ("a\nb", "contains a control character"),
        ("x\u0000", "contains a control character"),
        ("${{ secrets.TOKEN }}", "not a valid runner label"),
        (" lead", "not a valid runner label"),
        ("Self-Hosted", "GitHub compares runner labels without case"),
    ],
)
def test_invalid_runner_label_is_rejected(label, message):
    text = json.dumps(
        {
            "name": "labels",
            "version": "1",
            "default_pool": "p",
            "pools": {"p": {"kind": "self-hosted", "labels": ["self-hosted", label]}},
        }
    )
    with pytest.raises(PolicyInvalid) as raised:
        load_policy(text, "labels.json", "json")
    [problem] = raised.value.problems
    assert problem.key == "pools.p.labels[1]"
    assert message in problem.message


def test_too_many_rules_is_rejected():
    rules = "".join(
        f'[[rules]]\nname = "r{i}"\npool = "p"\npaths = ["d{i}/**"]\n'
        for i in range(257)
    )
    header = 'name = "big"\nversion = "1"\ndefault_pool = "p"\n'
    text = f'{header}[pools.p]\nlabels = ["x"]\n{rules}'
    with pytest.raises(PolicyInvalid) as raised:
        load_policy(text, "big.toml", "toml")
    [problem] = raised.value.problems
    assert problem.key == "rules"
    assert problem.message == "has 257 rules; a policy may have at most 256"
