"""Glob matching: known results, agreement with wcmatch, ordered negation."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wcmatch import glob

from shared_routing.globs import REFERENCE_FLAGS, GlobError, compile_glob, glob_problem
from shared_routing.matching import GlobList, PathSet, plan_needles
from tests.conftest import shared_fixture


def reference(path: str, pattern: str) -> bool:
    """Return wcmatch's own result for one path and one pattern."""
    return glob.globmatch(path, pattern, flags=REFERENCE_FLAGS)


def reference_list(path: str, patterns: list[str]) -> bool:
    """Apply patterns in order: the last one that matches decides."""
    selected = False
    for pattern in patterns:
        if pattern.startswith("!"):
            if selected and reference(path, pattern[1:]):
                selected = False
        elif not selected and reference(path, pattern):
            selected = True
    return selected


# Shapes the matcher evaluates with string tests, and patterns it evaluates
# with wcmatch's regular expression, next to paths chosen to sit on their edges.
PATTERNS = [
    "README.md",
    "*.md",
    "**/*.md",
    "**/Dockerfile",
    "**/Dockerfile*",
    "**/*cuda*",
    "**/a*b",
    "*",
    "**",
    "**/*",
    "docs/**",
    "docs/*",
    "docs/*.md",
    "docs/**/*.md",
    "docs/**/*",
    "**/docs/**",
    "**/src/*.py",
    "**/src/main.py",
    "a/**/b",
    "a/*/b",
    "Dockerfile*",
    "x*y",
    "*cuda*",
    "**/x?.md",
    "[abc]x",
    "src/[a-c]*/**",
    "\\*.md",
    "{a,b}/**",
    "a{,/b}/c",
    "**/*.{cuda,gpu}",
    "**/{docker-,}compose.{cuda,gpu}*.{yml,yaml}",
    ".github/workflows/*.y{a,}ml",
    "**/services/*/Dockerfile",
    "**/.dockerignore",
    "a//b",
]
PATHS = [
    "README.md",
    "docs/README.md",
    "docs/a/b.md",
    "mydocs/a.md",
    "x/docs/y/z.txt",
    "docs",
    ".md",
    "a.md/b",
    "Dockerfile",
    "Dockerfile.cuda",
    "services/ollama/Dockerfile.cuda",
    "pmoves/services/agent-zero/Dockerfile",
    "x/NotDockerfile",
    "cuda/x-cuda.yml",
    "cuda/readme",
    "a/b",
    "a/x/b",
    "a/x/y/b",
    "ab",
    "axb",
    "src/main.py",
    "lib/src/main.py",
    "lib/src/deep/main.py",
    "x1.md",
    "q/x2.md",
    "ax",
    "dx",
    "*.md",
    "src/a1/z",
    "src/d1/z",
    "a/c",
    "a/b/c",
    "x.cuda",
    "deep/k.gpu",
    "docker-compose.gpu.yml",
    "p/compose.cuda12.yaml",
    ".github/workflows/ci.yml",
    ".github/workflows/ci.yaml",
    ".github/workflows/sub/ci.yml",
    "services/x/Dockerfile",
    "services/x/y/Dockerfile",
    "a/.dockerignore",
    ".dockerignore",
    "x.y",
    "xay",
    # Paths git never reports; the matcher must still agree with wcmatch.
    "",
    "/README.md",
    "docs/",
    "a//b",
    "a/./b",
    "a/../b",
    "./x.md",
    "..",
    "line\nbreak.md",
    "a.md/",
]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_glob_agrees_with_wcmatch(pattern: str) -> None:
    compiled = compile_glob(pattern)
    expected = {path for path in PATHS if reference(path, pattern)}
    assert {path for path in PATHS if compiled.test(path)} == expected
    assert PathSet(PATHS).select(compiled) == expected


def test_glob_known_results() -> None:
    assert compile_glob("*.md").test("README.md")
    assert not compile_glob("*.md").test("docs/README.md")
    assert compile_glob("**/*.md").test("docs/README.md")
    assert compile_glob("**/*.md").test("README.md")
    assert compile_glob("docs/**").test("docs/a/b/c.txt")
    assert not compile_glob("docs/**").test("docs")
    assert not compile_glob("**/docs/**").test("mydocs/a.md")
    assert compile_glob(".github/**").test(".github/workflows/ci.yml")
    assert compile_glob("**/*.yml").test(".github/workflows/ci.yml")
    assert compile_glob("Octoc?t").test("Octocat")
    assert compile_glob("[CB]at").test("Bat")
    assert not compile_glob("[CB]at").test("Rat")
    assert compile_glob("feature/*").test("feature/login")
    assert not compile_glob("feature/*").test("feature/login/v2")
    assert compile_glob("feature/**").test("feature/login/v2")
    assert not compile_glob("README.md").test("readme.md")


def test_prefix_needles_use_sorted_ranges() -> None:
    paths = [f"docs/{index:04}.md" for index in range(300)] + ["docs0", "doc", "e"]
    selected = PathSet(paths).select(compile_glob("docs/**"))
    assert selected == {f"docs/{index:04}.md" for index in range(300)}


def test_common_needle_switches_to_full_pass() -> None:
    # More hits than the scan limit: the matcher switches to one pass over
    # every path, which must give the same answer.
    paths = [f"pkg{index}/test/fixture{index}.json" for index in range(2000)]
    paths += [f"pkg{index}/src/index.js" for index in range(500)]
    pathset = PathSet(paths)
    json_files = pathset.select(compile_glob("**/*.json"))
    assert len(json_files) == 2000
    fixtures = pathset.select(compile_glob("**/*fixture1*"))
    expected = {path for path in paths if reference(path, "**/*fixture1*")}
    assert fixtures == expected
    assert len(expected) == 1 + 10 + 100 + 1000  # fixture1, 1x, 1xx, 1xxx


def test_glob_list_later_pattern_overrides() -> None:
    patterns = ["docs/**", "!docs/internal/**", "docs/internal/public.md"]
    globs = GlobList(patterns)
    assert globs.test("docs/guide.md")
    assert not globs.test("docs/internal/secret.md")
    assert globs.test("docs/internal/public.md")
    assert not globs.test("src/app.py")
    paths = PathSet(
        ["docs/guide.md", "docs/internal/secret.md", "docs/internal/public.md", "x"]
    )
    selection = globs.select(paths)
    assert selection.paths == {"docs/guide.md", "docs/internal/public.md"}
    assert selection.complete
    assert [step.pattern for step in selection.steps] == patterns
    assert selection.steps[1].paths == {
        "docs/internal/secret.md",
        "docs/internal/public.md",
    }


def test_glob_list_of_negations_selects_nothing() -> None:
    globs = GlobList(["!docs/**"])
    assert not globs.test("src/app.py")
    assert globs.select(PathSet(["src/app.py", "docs/a.md"])).paths == frozenset()


def test_glob_list_stops_at_first_survivor() -> None:
    globs = GlobList(["**/*.md", "**/*.py", "!docs/**"])
    paths = PathSet(["docs/a.md", "README.md", "src/x.py"])
    selection = globs.select(paths, stop_at_first=True)
    assert selection.paths == {"README.md"}
    assert not selection.complete
    assert [step.pattern for step in selection.steps] == ["**/*.md", "!docs/**"]
    full = globs.select(paths)
    assert full.paths == {"README.md", "src/x.py"}
    assert full.complete


def test_plan_needles_shares_scans() -> None:
    needles = ["compose", "docker-compose.cuda", "Dockerfile\n", ".cuda.Dockerfile\n"]
    needles += ["\ndocs/", "abc", "xabcx", ".md\n", "md\n"]
    assert plan_needles(needles) == {
        "docker-compose.cuda": "compose",
        ".cuda.Dockerfile\n": "Dockerfile\n",
    }


def test_planned_selection_equals_unplanned() -> None:
    lists = [
        GlobList(["**/{docker-,}compose.{cuda,gpu}*.{yml,yaml}", "!**/docs/**"]),
        GlobList(["**/{docker-,}compose*.{yml,yaml}", "**/*.Dockerfile"]),
        GlobList(["**/Dockerfile", "**/*.cuda.Dockerfile"]),
    ]
    plan = plan_needles(needle for globs in lists for needle in globs.needles())
    assert plan["docker-compose.cuda"] == "compose"
    paths = [
        "docker-compose.yml",
        "x/docker-compose.cuda.yml",
        "docs/compose.gpu.yaml",
        "compose.gpu12.yaml",
        "composer.json",
        "a/Dockerfile",
        "b/app.cuda.Dockerfile",
        "c/Dockerfile.md",
    ]
    planned = PathSet(paths, plan)
    plain = PathSet(paths)
    for globs in lists:
        assert globs.select(planned).paths == globs.select(plain).paths
    assert lists[0].select(planned).paths == {
        "x/docker-compose.cuda.yml",
        "compose.gpu12.yaml",
    }


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("", "is empty"),
        ("!", "negates an empty pattern"),
        ("/docs/**", "starts with '/'"),
        ("docs/", "ends with '/'"),
        ("**.md", "'**' inside the segment '**.md'"),
        ("a/**b/c", "'**' inside the segment '**b'"),
        ("./docs/*", "has a '.' segment"),
        ("a/../b", "has a '..' segment"),
        ("docs\\", "ends with an unescaped '\\'"),
        ("[z-a]", "character class that matches nothing"),
        ("a\nb", "line break"),
        ("{a,b}{c,d}{e,f}{g,h}{i,j}{k,l}{m,n}{o,p}{q,r}", "more than 256 patterns"),
        ("{/x,y}", "expands to '/x'"),
    ],
)
def test_glob_problem_names_the_fault(pattern: str, message: str) -> None:
    problem = glob_problem(pattern)
    assert problem is not None
    assert message in problem


def test_compile_glob_raises_for_invalid() -> None:
    with pytest.raises(GlobError, match="starts with '/'"):
        compile_glob("/abs")
    assert glob_problem("!docs/**") is None
    assert glob_problem("docs\\\\") is None


def test_real_paths_agree_with_wcmatch() -> None:
    history = shared_fixture("history", "pmoves-ai-commits.jsonl")
    paths: set[str] = set()
    with history.open(encoding="utf-8") as lines:
        for line in lines:
            commit = json.loads(line)
            for key in ("added", "modified", "removed"):
                paths.update(commit[key][:20])
            if len(paths) > 1200:
                break
    ordered = sorted(paths)
    patterns = [
        "**/Dockerfile.{cuda,gpu}*",
        "**/{docker-,}compose*.{yml,yaml}",
        "**/docs/**",
        "**/*.{md,txt}",
        ".github/**",
        "pmoves/services/*/Dockerfile",
    ]
    pathset = PathSet(ordered)
    for pattern in patterns:
        expected = {path for path in ordered if reference(path, pattern)}
        assert pathset.select(compile_glob(pattern)) == expected, pattern


# ---------------------------------------------------------------------------
# Properties

PATTERN_SEGMENTS = [
    "**",
    "*",
    "docs",
    "*.md",
    "a?c",
    "[ab]*",
    "{x,y}z",
    "src",
    ".github",
    "Dockerfile*",
    "*cuda*",
    "\\*",
    "a*b",
    "*.{yml,yaml}",
    "[!a]",
]
PATH_SEGMENTS = [
    "docs",
    "a",
    "b.md",
    ".github",
    "Dockerfile",
    "Dockerfile.cuda",
    "x.cuda",
    "abc",
    "acb",
    "*",
    "src",
    "xz",
    "k.yaml",
    "bb",
    ".",
    "..",
    "",
]

patterns = st.lists(st.sampled_from(PATTERN_SEGMENTS), min_size=1, max_size=4).map(
    "/".join
)
paths = st.lists(st.sampled_from(PATH_SEGMENTS), min_size=1, max_size=5).map("/".join)


@settings(max_examples=150, deadline=None)
@given(pattern=patterns, values=st.lists(paths, max_size=25))
def test_any_pattern_agrees_with_wcmatch(pattern: str, values: list[str]) -> None:
    compiled = compile_glob(pattern)
    expected = {value for value in values if reference(value, pattern)}
    assert {value for value in values if compiled.test(value)} == expected
    assert PathSet(values).select(compiled) == expected


@settings(max_examples=100, deadline=None)
@given(
    entries=st.lists(
        st.tuples(st.booleans(), patterns).map(lambda e: ("!" if e[0] else "") + e[1]),
        min_size=1,
        max_size=5,
    ),
    values=st.lists(paths, max_size=20),
)
def test_glob_list_agrees_with_ordered_reference(
    entries: list[str], values: list[str]
) -> None:
    globs = GlobList(entries)
    expected = {value for value in values if reference_list(value, entries)}
    assert {value for value in values if globs.test(value)} == expected
    assert globs.select(PathSet(values)).paths == expected
    partial = globs.select(PathSet(values), stop_at_first=True)
    assert partial.paths <= expected
    assert bool(partial.paths) == bool(expected)
