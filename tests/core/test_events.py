"""Tests for body decoding and change-set parsing on recorded and project payloads."""

from __future__ import annotations

import contextlib
import copy
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest
from conftest import PROJECT_FIXTURES, shared_fixture
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared_routing.errors import BadRequest, RouterError, UnsupportedMediaType
from shared_routing.events import (
    PUSH_COMMITS_MAX,
    ChangeSet,
    decode_payload,
    parse_pr_files_page,
    parse_pull_request,
    parse_push,
    parse_route_request,
)
from shared_routing.fields import json_depth

ZERO = "0" * 40
SHA_A = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
SHA_B = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"


def project_payload(*parts: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(PROJECT_FIXTURES.joinpath(*parts).read_text())
    return data


def bad_request(call: Any, *args: Any) -> str:
    with pytest.raises(BadRequest) as caught:
        call(*args)
    return str(caught.value)


def minimal_push(**overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "ref": "refs/heads/feature",
        "before": SHA_A,
        "after": SHA_B,
        "repository": {"full_name": "octo-org/runner-demo"},
        "created": False,
        "deleted": False,
        "forced": False,
        "commits": [
            {
                "id": SHA_B,
                "message": "fix: one",
                "added": ["a.py"],
                "removed": [],
                "modified": ["b.py"],
            }
        ],
        "head_commit": None,
    }
    payload.update(overrides)
    return payload


# ---------------------------------------------------------------------------
# Recorded payloads, with expectations computed directly from the JSON


def recorded(event: str) -> list[Path]:
    folder = shared_fixture("github", event)
    files = sorted(folder.glob("*.json"))
    assert files, f"no payloads in {folder}"
    return files


def test_recorded_push_payloads_replay() -> None:
    for path in recorded("push"):
        raw = path.read_bytes()
        data = json.loads(raw)
        change = parse_push(decode_payload(raw, "application/json"))

        commits = data["commits"] or (
            [data["head_commit"]] if data["head_commit"] else []
        )
        expected_paths = sorted(
            {
                p
                for c in commits
                for key in ("added", "removed", "modified")
                for p in c[key]
            }
        )
        ref = data["ref"]
        assert change.event == "push", path.name
        assert change.repository == data["repository"]["full_name"], path.name
        assert change.ref == ref, path.name
        assert change.sha == data["after"], path.name
        assert change.branch == (ref[11:] if ref.startswith("refs/heads/") else None)
        assert change.tag == (ref[10:] if ref.startswith("refs/tags/") else None)
        assert change.paths == tuple(expected_paths), path.name
        assert change.files_seen == len(expected_paths), path.name
        assert change.messages == tuple(c["message"] for c in commits), path.name
        assert change.created is data["created"], path.name
        assert change.deleted is data["deleted"], path.name
        assert change.forced is data["forced"], path.name
        assert change.commit_count == len(commits), path.name
        assert change.truncated is False, path.name
        assert change.files_total == len(expected_paths), path.name
        expected_before = None if data["before"] == ZERO else data["before"]
        assert change.before == expected_before, path.name


def test_recorded_new_branch_known_values() -> None:
    path = shared_fixture("github", "push", "with-new-branch.payload.json")
    change = parse_push(json.loads(path.read_text()))
    assert change.branch == "master"
    assert change.created is True
    assert change.before is None
    assert change.paths == ("README.md",)
    assert change.messages == ("Initial commit",)


def test_recorded_tag_deletion_known_values() -> None:
    path = shared_fixture("github", "push", "payload.json")
    change = parse_push(json.loads(path.read_text()))
    assert change.tag == "simple-tag"
    assert change.branch is None
    assert change.deleted is True
    assert change.paths == ()
    assert change.files_total == 0


def test_recorded_pull_request_payloads_replay() -> None:
    for path in recorded("pull_request"):
        raw = path.read_bytes()
        data = json.loads(raw)
        change = parse_pull_request(decode_payload(raw, "application/json"))

        pull = data["pull_request"]
        expected_messages = tuple(t for t in (pull["title"], pull["body"]) if t)
        assert change.event == "pull_request", path.name
        assert change.action == data["action"], path.name
        assert change.pr_number == data["number"], path.name
        assert change.repository == data["repository"]["full_name"], path.name
        assert change.ref == "refs/heads/" + pull["head"]["ref"], path.name
        assert change.branch == pull["head"]["ref"], path.name
        assert change.base_branch == pull["base"]["ref"], path.name
        assert change.sha == pull["head"]["sha"], path.name
        assert change.labels == tuple(label["name"] for label in pull["labels"])
        assert change.draft is pull["draft"], path.name
        assert change.messages == expected_messages, path.name
        assert change.paths == (), path.name
        assert change.truncated is True, path.name
        assert change.files_total == pull["changed_files"], path.name
        assert change.commit_count == pull["commits"], path.name
        assert change.before == data.get("before"), path.name


def test_recorded_pull_request_known_values() -> None:
    path = shared_fixture("github", "pull_request", "converted_to_draft.payload.json")
    change = parse_pull_request(json.loads(path.read_text()))
    assert change.pr_number == 2
    assert change.branch == "changes"
    assert change.base_branch == "master"
    assert change.draft is True
    assert change.labels == ("bug",)
    assert change.files_total == 1


# ---------------------------------------------------------------------------
# Project payloads: one real shape each


def test_push_many_commits_complete() -> None:
    data = project_payload("github", "push", "many-commits.json")
    change = parse_push(data)
    assert len(data["commits"]) == 25
    assert change.commit_count == 25
    # Webhook deliveries list up to 2048 commits, so 25 are all of them.
    assert change.truncated is False
    assert "pmoves/services/ollama/Dockerfile.cuda" in change.paths
    assert "pmoves/services/publisher/legacy.py" in change.paths
    assert "docs/ollama.md" in change.paths
    assert change.paths == tuple(sorted(set(change.paths)))
    assert change.files_total == len(change.paths)
    assert change.messages[0] == "refactor(agent-zero): step 1 of 25"


def test_push_commit_limit_marks_truncated() -> None:
    commit = {
        "id": SHA_B,
        "message": "m",
        "added": [],
        "removed": [],
        "modified": ["x"],
    }
    payload = minimal_push(commits=[dict(commit) for _ in range(PUSH_COMMITS_MAX)])
    change = parse_push(payload)
    assert change.truncated is True
    assert change.files_total is None
    assert change.paths == ("x",)


def test_push_forced() -> None:
    change = parse_push(project_payload("github", "push", "forced.json"))
    assert change.forced is True
    assert change.branch == "fix/chat-relay-retry"
    assert change.paths == (
        "pmoves/services/chat-relay/relay.py",
        "pmoves/services/chat-relay/tests/test_retry.py",
    )
    assert change.truncated is False


def test_push_deleted_branch() -> None:
    change = parse_push(project_payload("github", "push", "deleted-branch.json"))
    assert change.deleted is True
    assert change.sha == ZERO
    assert change.branch == "fix/chat-relay-retry"
    assert change.paths == ()
    assert change.truncated is False
    assert change.files_total == 0
    assert change.commit_count == 0


def test_push_zero_after_means_deleted() -> None:
    change = parse_push(minimal_push(after=ZERO, deleted=None, commits=[]))
    assert change.deleted is True


def test_push_tag_created_uses_head_commit() -> None:
    change = parse_push(project_payload("github", "push", "tag-created.json"))
    assert change.tag == "v1.4.0"
    assert change.branch is None
    assert change.created is True
    assert change.before is None
    assert change.paths == ("CHANGELOG.md", "pmoves/VERSION")
    assert change.messages == ("chore(release): v1.4.0",)
    assert change.commit_count == 1
    assert change.truncated is False


def test_push_new_branch() -> None:
    change = parse_push(project_payload("github", "push", "new-branch.json"))
    assert change.created is True
    assert change.before is None
    assert change.branch == "feat/ollama-cuda"
    assert change.paths == (
        "pmoves/docker-compose.gpu.yml",
        "pmoves/services/ollama/Dockerfile.cuda",
    )


def test_push_rename_counts_both_names() -> None:
    change = parse_push(project_payload("github", "push", "rename.json"))
    assert change.paths == (
        "docs/operations/runbook.md",
        "docs/runbook.md",
        "mkdocs.yml",
    )


def test_push_merge_commit() -> None:
    change = parse_push(project_payload("github", "push", "merge-commit.json"))
    assert change.branch == "main"
    assert change.commit_count == 3
    assert change.paths == (
        "pmoves/services/agent-zero/Dockerfile",
        "pmoves/services/agent-zero/healthcheck.sh",
    )
    assert change.messages[-1].startswith("Merge pull request #412")
    assert change.truncated is False


def test_push_commit_without_files_truncates() -> None:
    change = parse_push(project_payload("github", "push", "large-commit-no-files.json"))
    assert change.truncated is True
    assert change.files_total is None
    assert change.paths == ("scratch.txt",)


def test_push_no_commits_no_head_commit_truncates() -> None:
    change = parse_push(minimal_push(commits=[], head_commit=None))
    assert change.truncated is True
    assert change.paths == ()


def test_push_form_encoded_body() -> None:
    body = PROJECT_FIXTURES.joinpath("github", "push", "new-branch.form-urlencoded")
    payload = decode_payload(body.read_bytes(), "application/x-www-form-urlencoded")
    assert payload == project_payload("github", "push", "new-branch.json")
    assert parse_push(payload).branch == "feat/ollama-cuda"


def test_pull_request_fork_draft() -> None:
    change = parse_pull_request(
        project_payload("github", "pull_request", "opened-draft-fork.json")
    )
    assert change.repository == "octo-org/runner-demo"
    assert change.ref == "refs/heads/feat/gpu-smoke"
    assert change.base_branch == "main"
    assert change.draft is True
    assert change.labels == ("gpu", "needs-review")
    assert change.messages == ("feat(gpu): run ollama smoke test on ai-lab",)
    assert change.pr_number == 57
    assert change.files_total == 4
    assert change.commit_count == 3


def test_pull_request_no_changed_files_not_truncated() -> None:
    payload = project_payload("github", "pull_request", "opened-draft-fork.json")
    payload["pull_request"]["changed_files"] = 0
    change = parse_pull_request(payload)
    assert change.truncated is False
    assert change.files_total == 0


def test_pull_request_number_from_pull_request() -> None:
    payload = project_payload("github", "pull_request", "opened-draft-fork.json")
    del payload["number"]
    assert parse_pull_request(payload).pr_number == 57
    del payload["pull_request"]["number"]
    message = bad_request(parse_pull_request, payload)
    assert message == "payload.pull_request.number is missing"


def test_pr_files_page_with_rename() -> None:
    page = project_payload("github", "pulls", "files-page.json")
    assert parse_pr_files_page(page) == [
        "pmoves/services/ollama/Dockerfile.cuda",
        "pmoves/services/ollama/entrypoint.sh",
        "pmoves/services/ollama/start.sh",
        "docs/ollama.md",
        "pmoves/services/ollama/old_config.yaml",
    ]


def test_pr_files_page_errors() -> None:
    assert (
        bad_request(parse_pr_files_page, {"a": 1})
        == "files must be an array, not object"
    )
    assert bad_request(parse_pr_files_page, [{"filename": 3}]) == (
        "files[0].filename must be a string, not number"
    )
    assert bad_request(parse_pr_files_page, [{}]) == "files[0].filename is missing"


def test_with_paths_attaches_files() -> None:
    path = PROJECT_FIXTURES / "github" / "pull_request" / "opened-draft-fork.json"
    change = parse_pull_request(json.loads(path.read_text()))
    page = parse_pr_files_page(project_payload("github", "pulls", "files-page.json"))
    updated = change.with_paths(page, total=4, truncated=False)
    assert updated.paths == tuple(sorted(page))
    assert updated.files_seen == 5
    assert updated.files_total == 4
    assert updated.truncated is False
    assert updated.pr_number == change.pr_number
    assert change.paths == ()


def test_change_set_derives_branch_and_total() -> None:
    change = ChangeSet(
        event="push",
        repository="o/r",
        ref="refs/heads/main",
        sha=SHA_A,
        paths=("b", "a", "b"),
    )
    assert change.branch == "main"
    assert change.tag is None
    assert change.paths == ("a", "b")
    assert change.files_seen == 2
    assert change.files_total == 2


# ---------------------------------------------------------------------------
# Field errors name the path


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"repository": None}, "payload.repository is missing"),
        ({"repository": {}}, "payload.repository.full_name is missing"),
        ({"repository": []}, "payload.repository must be an object, not array"),
        (
            {"repository": {"full_name": "no-slash"}},
            "payload.repository.full_name must look like 'owner/name', not 'no-slash'",
        ),
        ({"ref": 7}, "payload.ref must be a string, not number"),
        (
            {"ref": "main"},
            "payload.ref must be a full ref such as 'refs/heads/main', not 'main'",
        ),
        ({"after": ""}, "payload.after must not be empty"),
        (
            {"after": "xyz"},
            "payload.after must be a commit SHA of 40 or 64 hex digits, not 'xyz'",
        ),
        ({"forced": "yes"}, "payload.forced must be a boolean, not string"),
        ({"commits": {}}, "payload.commits must be an array, not object"),
        ({"commits": [1]}, "payload.commits[0] must be an object, not number"),
        (
            {"commits": [{"added": ["ok", None]}]},
            "payload.commits[0].added[1] must be a string, not null",
        ),
        (
            {"head_commit": "abc", "commits": []},
            "payload.head_commit must be an object, not string",
        ),
    ],
)
def test_push_field_errors(overrides: dict[str, Any], expected: str) -> None:
    assert bad_request(parse_push, minimal_push(**overrides)) == expected


def test_push_payload_not_object() -> None:
    assert bad_request(parse_push, ["x"]) == "payload must be an object, not array"


def test_pull_request_field_errors() -> None:
    base = project_payload("github", "pull_request", "opened-draft-fork.json")
    cases: list[tuple[str, Any, str]] = [
        ("head", None, "payload.pull_request.head is missing"),
        ("draft", "true", "payload.pull_request.draft must be a boolean, not string"),
        (
            "changed_files",
            -1,
            "payload.pull_request.changed_files must not be negative",
        ),
        (
            "changed_files",
            True,
            "payload.pull_request.changed_files must be an integer, not boolean",
        ),
        (
            "labels",
            [{"name": 5}],
            "payload.pull_request.labels[0].name must be a string, not number",
        ),
    ]
    for key, value, expected in cases:
        payload = copy.deepcopy(base)
        payload["pull_request"][key] = value
        assert bad_request(parse_pull_request, payload) == expected


# ---------------------------------------------------------------------------
# decode_payload


def test_decode_json_with_charset() -> None:
    assert decode_payload(b'{"a": 1}', "application/json; charset=utf-8") == {"a": 1}


def test_decode_missing_content_type_reads_json() -> None:
    assert decode_payload(b'{"a": [1, 2]}', None) == {"a": [1, 2]}


def test_decode_byte_order_mark_ignored() -> None:
    assert decode_payload(b'\xef\xbb\xbf{"a": 1}', "application/json") == {"a": 1}


def test_decode_invalid_json_location() -> None:
    message = bad_request(decode_payload, b'{\n  "a": 1,\n  "b": }', "application/json")
    assert message == "body is not valid JSON: Expecting value at line 3 column 8"


def test_decode_not_object() -> None:
    assert (
        bad_request(decode_payload, b"[1]", None)
        == "body must be a JSON object, not array"
    )


def test_decode_not_utf8() -> None:
    assert bad_request(decode_payload, b'{"a": "\xff"}', None) == (
        "body is not valid UTF-8 at byte 7"
    )


def test_decode_empty_body() -> None:
    assert bad_request(decode_payload, b"", "application/json") == "body is empty"


def test_decode_nan_rejected() -> None:
    assert bad_request(decode_payload, b'{"a": NaN}', None) == "JSON does not allow NaN"


def test_decode_deep_nesting() -> None:
    body = b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    message = bad_request(decode_payload, body, None)
    assert message == "body nests arrays or objects deeper than 100"


def test_decode_nesting_at_limit() -> None:
    body = b"[" * 99 + b"{}" + b"]" * 99
    with pytest.raises(BadRequest) as caught:
        decode_payload(body, None)
    assert str(caught.value) == "body must be a JSON object, not array"
    too_deep = b"{" + body[:-99] + b"[]" + b"]" * 99 + b"}"
    assert "deeper than 100" in bad_request(decode_payload, too_deep, None)


def test_json_depth_ignores_string_contents() -> None:
    assert json_depth('{"a": "[[[[", "b": [{"c": "\\"]]"}]}') == 3
    assert json_depth("[]") == 1
    assert json_depth('"plain"') == 0
    text = '{"msg": "' + "[" * 500 + '", "x": [1]}'
    assert json_depth(text) == 2


def test_decode_huge_integer() -> None:
    body = b'{"a": ' + b"9" * 5000 + b"}"
    assert bad_request(decode_payload, body, None) == (
        "body contains a number with too many digits"
    )


def test_decode_unsupported_media_type() -> None:
    with pytest.raises(UnsupportedMediaType) as caught:
        decode_payload(b"<xml/>", "text/xml")
    assert str(caught.value) == (
        "content type 'text/xml' is not supported "
        "(send application/json or application/x-www-form-urlencoded)"
    )


def test_decode_unsupported_charset() -> None:
    with pytest.raises(UnsupportedMediaType) as caught:
        decode_payload(b"{}", "application/json; charset=latin-1")
    assert str(caught.value) == "charset 'latin-1' is not supported (send UTF-8)"


FORM = "application/x-www-form-urlencoded"


def test_decode_form_payload() -> None:
    body = ("payload=" + quote_plus('{"zen": "Keep it logically awesome."}')).encode()
    assert decode_payload(body, FORM) == {"zen": "Keep it logically awesome."}


def test_decode_form_missing_payload() -> None:
    message = bad_request(decode_payload, b'{"repository": "o/r"}', FORM)
    assert message.startswith("form body has no 'payload' field")
    assert "application/json" in message


def test_decode_form_two_payloads() -> None:
    message = bad_request(decode_payload, b"payload=%7B%7D&payload=%7B%7D", FORM)
    assert message == "form body has 2 'payload' fields, expected 1"


def test_decode_form_invalid_json() -> None:
    message = bad_request(decode_payload, b"payload=%7Bnope", FORM)
    assert message.startswith("payload field is not valid JSON: ")
    assert message.endswith("at line 1 column 2")


def test_decode_form_bad_percent_encoding() -> None:
    message = bad_request(decode_payload, b"payload=%FF", FORM)
    assert message == "form body has a field that is not valid UTF-8"


def test_decode_form_too_many_fields() -> None:
    body = "&".join(f"f{i}=1" for i in range(40)).encode()
    assert (
        bad_request(decode_payload, body, FORM) == "form body has more than 16 fields"
    )


# ---------------------------------------------------------------------------
# parse_route_request


def route_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "repository": "octo-org/runner-demo",
        "ref": "refs/heads/main",
        "sha": SHA_A,
    }
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not None}


def test_route_request_minimal() -> None:
    change = parse_route_request(route_body())
    assert change.event == "push"
    assert change.branch == "main"
    assert change.paths == ()
    assert change.truncated is True
    assert change.files_total is None


def test_route_request_full() -> None:
    change = parse_route_request(
        route_body(
            event="pull_request",
            ref="refs/pull/57/merge",
            head_ref="feat/gpu-smoke",
            base_ref="main",
            files=["b.py", "a.py", "b.py"],
            labels=["gpu"],
            message="feat: x",
            draft=True,
            sha=SHA_B.upper(),
        )
    )
    assert change.event == "pull_request"
    assert change.ref == "refs/heads/feat/gpu-smoke"
    assert change.branch == "feat/gpu-smoke"
    assert change.base_branch == "main"
    assert change.pr_number == 57
    assert change.paths == ("a.py", "b.py")
    assert change.truncated is False
    assert change.files_total == 2
    assert change.labels == ("gpu",)
    assert change.messages == ("feat: x",)
    assert change.draft is True
    assert change.sha == SHA_B


def test_route_request_short_ref_is_branch() -> None:
    change = parse_route_request(route_body(ref="develop"))
    assert change.ref == "refs/heads/develop"
    assert change.branch == "develop"


def test_route_request_tag_ref() -> None:
    assert parse_route_request(route_body(ref="refs/tags/v2.0.0")).tag == "v2.0.0"


def test_route_request_empty_files_is_complete() -> None:
    change = parse_route_request(route_body(files=[]))
    assert change.truncated is False
    assert change.files_total == 0


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"repository": None}, "body.repository is missing"),
        ({"sha": None}, "body.sha is missing"),
        ({"files": "a.py"}, "body.files must be an array, not string"),
        ({"files": ["a.py", ""]}, "body.files[1] must not be empty"),
        ({"labels": [1]}, "body.labels[0] must be a string, not number"),
        ({"draft": 1}, "body.draft must be a boolean, not number"),
        (
            {"event": "Push!"},
            "body.event must be a GitHub event name such as 'push' or "
            "'pull_request', not 'Push!'",
        ),
    ],
)
def test_route_request_errors(overrides: dict[str, Any], expected: str) -> None:
    body = route_body()
    body.update(overrides)
    body = {key: value for key, value in body.items() if value is not None}
    assert bad_request(parse_route_request, body) == expected


def test_route_request_unknown_field() -> None:
    message = bad_request(parse_route_request, route_body(file=["a.py"]))
    assert message.startswith(
        "body has unknown fields 'file' (known fields: repository"
    )


# ---------------------------------------------------------------------------
# Hostile input: only RouterError subclasses, never another exception

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.sampled_from(["", ZERO, SHA_A, "refs/heads/main", "refs/tags/v1", "o/r"]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def leaf_paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    paths = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            paths.extend(leaf_paths(item, (*prefix, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            paths.extend(leaf_paths(item, (*prefix, index)))
    return paths


def replace_at(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    copied = copy.deepcopy(document)
    target = copied
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return copied


def mutated(template: dict[str, Any]) -> st.SearchStrategy[Any]:
    paths = leaf_paths(template)
    return st.builds(replace_at, st.just(template), st.sampled_from(paths), json_values)


def only_router_errors(call: Any, value: Any) -> None:
    with contextlib.suppress(RouterError):
        call(value)


PUSH_TEMPLATE = minimal_push(head_commit={"added": ["x"], "message": "m"})
PULL_TEMPLATE = {
    "action": "opened",
    "number": 5,
    "before": SHA_A,
    "repository": {"full_name": "o/r"},
    "pull_request": {
        "number": 5,
        "title": "t",
        "body": None,
        "draft": False,
        "changed_files": 2,
        "commits": 1,
        "labels": [{"name": "gpu"}],
        "head": {"ref": "feature", "sha": SHA_B},
        "base": {"ref": "main"},
    },
}
ROUTE_TEMPLATE = route_body(files=["a"], labels=["l"], message="m", draft=False)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(payload=mutated(PUSH_TEMPLATE) | json_values)
def test_parse_push_hostile_input(payload: Any) -> None:
    only_router_errors(parse_push, payload)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(payload=mutated(PULL_TEMPLATE) | json_values)
def test_parse_pull_request_hostile_input(payload: Any) -> None:
    only_router_errors(parse_pull_request, payload)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(body=mutated(ROUTE_TEMPLATE) | json_values)
def test_parse_route_request_hostile_input(body: Any) -> None:
    only_router_errors(parse_route_request, body)


@given(
    page=json_values | st.lists(mutated({"filename": "a", "previous_filename": "b"}))
)
def test_parse_pr_files_page_hostile_input(page: Any) -> None:
    only_router_errors(parse_pr_files_page, page)


content_types = st.sampled_from(
    [
        None,
        "",
        "application/json",
        "application/json; charset=utf-8",
        "application/json; charset",
        "application/vnd.github+json",
        "application/x-www-form-urlencoded",
        "text/plain",
        ";;;=",
    ]
)


@given(
    body=st.binary(max_size=64)
    | json_values.map(lambda v: json.dumps(v).encode())
    | json_values.map(lambda v: ("payload=" + quote_plus(json.dumps(v))).encode()),
    content_type=content_types,
)
def test_decode_payload_hostile_input(body: bytes, content_type: str | None) -> None:
    with contextlib.suppress(RouterError):
        decode_payload(body, content_type)


@pytest.mark.parametrize(
    "ref",
    ["refs/", "refs/tags/", "main\u0000", "refs/pull/99999999999999999999/merge"],
)
def test_route_request_rejects_bad_ref(ref):
    body = {"repository": "o/r", "ref": ref, "sha": "a" * 40}
    with pytest.raises(BadRequest) as raised:
        parse_route_request(body)
    assert "body.ref" in str(raised.value)


def test_route_request_rejects_pull_request_zero():
    body = {"repository": "o/r", "ref": "main", "sha": "a" * 40, "pr_number": 0}
    with pytest.raises(BadRequest, match="pr_number"):
        parse_route_request(body)
