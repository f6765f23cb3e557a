"""Parse GitHub push and pull_request payloads and route requests into change sets.

A `ChangeSet` is what the policy decides on: which repository and ref, which
paths changed, and how much of the change the payload let us see. Every parser
raises `BadRequest` naming the field path when the input is malformed.
Payload reference: https://docs.github.com/en/webhooks/webhook-events-and-payloads
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from .errors import BadRequest, UnsupportedMediaType
from .fields import JsonObject, load_json, show, wrong_type

JSON_MEDIA_TYPE = "application/json"
FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"
BRANCH_PREFIX = "refs/heads/"
TAG_PREFIX = "refs/tags/"

# GitHub lists at most 2048 commits in a push delivery, so a push with more
# leaves commits and their paths out of the payload. The 20-commit cap that the
# same docs mention applies to Events API timeline events, not to deliveries
# (GitHub's OpenAPI description of the push webhook, field `commits`).
PUSH_COMMITS_MAX = 2048

# A GitHub form body has one field, so a body with more is not a delivery.
_FORM_FIELDS_MAX = 16

_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_REPOSITORY = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
_EVENT_NAME = re.compile(r"[a-z_]{1,64}")
_PULL_REF = re.compile(r"refs/pull/([0-9]{1,9})/(?:merge|head)")

ROUTE_REQUEST_FIELDS = (
    "repository",
    "ref",
    "sha",
    "event",
    "files",
    "labels",
    "message",
    "draft",
    "base_ref",
    "head_ref",
    "pr_number",
)


@dataclass(frozen=True, kw_only=True)
class ChangeSet:
    """Changes of one push, pull request or route request, as far as the input shows.

    `paths` is stored sorted and without duplicates, and `files_seen` is its
    length. `branch` and `tag` default to the name taken from `ref`. When
    `truncated` is false the paths are complete, so a missing `files_total`
    defaults to the number of paths.
    """

    event: str
    repository: str
    ref: str
    sha: str
    branch: str | None = None
    tag: str | None = None
    base_branch: str | None = None
    before: str | None = None
    paths: tuple[str, ...] = ()
    messages: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    draft: bool = False
    action: str | None = None
    pr_number: int | None = None
    created: bool = False
    deleted: bool = False
    forced: bool = False
    truncated: bool = False
    files_seen: int = field(init=False)
    files_total: int | None = None
    commit_count: int = 0

    def __post_init__(self) -> None:
        paths = tuple(sorted(set(self.paths)))
        object.__setattr__(self, "paths", paths)
        object.__setattr__(self, "files_seen", len(paths))
        object.__setattr__(self, "messages", tuple(self.messages))
        object.__setattr__(self, "labels", tuple(self.labels))
        if self.branch is None and self.tag is None:
            branch, tag = split_ref(self.ref)
            object.__setattr__(self, "branch", branch)
            object.__setattr__(self, "tag", tag)
        if not self.truncated and self.files_total is None:
            object.__setattr__(self, "files_total", len(paths))

    def with_paths(
        self, paths: Iterable[str], total: int | None, truncated: bool
    ) -> ChangeSet:
        """Return a copy with `paths` attached, such as PR files fetched later."""
        return dataclasses.replace(
            self, paths=tuple(paths), files_total=total, truncated=truncated
        )


def split_ref(ref: str) -> tuple[str | None, str | None]:
    """Return the (branch, tag) named by a full ref; the one it is not is None."""
    if ref.startswith(BRANCH_PREFIX):
        return ref[len(BRANCH_PREFIX) :], None
    if ref.startswith(TAG_PREFIX):
        return None, ref[len(TAG_PREFIX) :]
    return None, None


def is_zero_sha(sha: str) -> bool:
    """Return whether `sha` is GitHub's all-zeros id for "no commit"."""
    return set(sha) == {"0"}


# ---------------------------------------------------------------------------
# Bodies


def decode_payload(body: bytes, content_type: str | None) -> dict[str, Any]:
    """Decode a webhook or API body into a JSON object.

    Reads JSON, or a form body whose `payload` field contains the JSON (GitHub's
    "application/x-www-form-urlencoded" content type). A missing content type
    reads as JSON. Raises UnsupportedMediaType for any other content type and
    BadRequest for a body that is not UTF-8, not JSON or not an object.
    """
    media_type, charset = _parse_content_type(content_type)
    if charset is not None and charset not in ("utf-8", "utf8"):
        raise UnsupportedMediaType(
            f"charset {show(charset)} is not supported (send UTF-8)"
        )
    text = _decode_utf8(body, "body")
    if media_type in ("", JSON_MEDIA_TYPE) or media_type.endswith("+json"):
        value = load_json(text, "body")
    elif media_type == FORM_MEDIA_TYPE:
        value = load_json(_form_payload(text), "payload field")
    else:
        raise UnsupportedMediaType(
            f"content type {show(media_type)} is not supported "
            f"(send {JSON_MEDIA_TYPE} or {FORM_MEDIA_TYPE})"
        )
    if not isinstance(value, dict):
        raise wrong_type("body", "a JSON object", value)
    return value


def _parse_content_type(content_type: str | None) -> tuple[str, str | None]:
    media_type, *parameters = (content_type or "").split(";")
    charset = None
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    return media_type.strip().lower(), charset


def _decode_utf8(data: bytes, what: str) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BadRequest(f"{what} is not valid UTF-8 at byte {error.start}") from error
    # RFC 8259 lets a parser ignore a leading byte order mark, which json.loads rejects.
    return text.removeprefix("\ufeff")


def _form_payload(text: str) -> str:
    try:
        pairs = parse_qsl(
            text,
            keep_blank_values=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=_FORM_FIELDS_MAX,
        )
    except UnicodeDecodeError as error:
        raise BadRequest("form body has a field that is not valid UTF-8") from error
    except ValueError as error:
        raise BadRequest(
            f"form body has more than {_FORM_FIELDS_MAX} fields"
        ) from error
    values = [value for name, value in pairs if name == "payload"]
    if not values:
        raise BadRequest(
            "form body has no 'payload' field "
            f"(send Content-Type: {JSON_MEDIA_TYPE} for a JSON body)"
        )
    if len(values) > 1:
        raise BadRequest(f"form body has {len(values)} 'payload' fields, expected 1")
    return values[0]


# ---------------------------------------------------------------------------
# Shared fields


def _repository(root: JsonObject) -> str:
    repository = root.child("repository")
    return _repository_name(repository.text("full_name"), "full_name", repository)


def _repository_name(name: str, key: str, parent: JsonObject) -> str:
    if not _REPOSITORY.fullmatch(name):
        raise BadRequest(
            f"{parent.field_path(key)} must look like 'owner/name', not {show(name)}"
        )
    return name


def _sha(parent: JsonObject, key: str) -> str:
    sha = parent.text(key).lower()
    if not _SHA.fullmatch(sha):
        raise BadRequest(
            f"{parent.field_path(key)} must be a commit SHA of 40 or 64 hex digits, "
            f"not {show(sha)}"
        )
    return sha


def _full_ref(parent: JsonObject, key: str) -> str:
    ref = parent.text(key)
    if not ref.startswith("refs/") or ref.endswith("/"):
        raise BadRequest(
            f"{parent.field_path(key)} must be a full ref such as "
            f"'refs/heads/main', not {show(ref)}"
        )
    return ref


# ---------------------------------------------------------------------------
# push


def parse_push(payload: Mapping[str, Any]) -> ChangeSet:
    """Build the change set of a `push` delivery.

    Paths are the union of every listed commit's added, removed and modified
    files. A rename appears there as a removal plus an addition, so both names
    count. When `commits` is empty (a new branch or tag on an existing commit)
    the files of `head_commit` are used. A deleted ref changes no paths.
    """
    root = JsonObject(payload, "payload")
    ref = _full_ref(root, "ref")
    repository = _repository(root)
    after = _sha(root, "after")
    before = _sha(root, "before") if root.get("before") is not None else None
    deleted = root.flag("deleted") or is_zero_sha(after)
    created = root.flag("created") or (before is not None and is_zero_sha(before))
    commits = root.objects("commits")
    head_commit = root.optional_child("head_commit")
    if not commits and head_commit is not None:
        commits = [head_commit]
    listed = [_CommitFiles.read(commit) for commit in commits]

    paths = {path for commit in listed for path in commit.paths}
    if deleted:
        truncated = False
    else:
        truncated = (
            len(commits) >= PUSH_COMMITS_MAX
            or not listed
            or any(not commit.paths for commit in listed)
        )
    return ChangeSet(
        event="push",
        repository=repository,
        ref=ref,
        sha=after,
        before=None if before is None or is_zero_sha(before) else before,
        paths=tuple(paths),
        messages=tuple(commit.message for commit in listed if commit.message),
        created=created,
        deleted=deleted,
        forced=root.flag("forced"),
        truncated=truncated,
        files_total=None if truncated else len(paths),
        commit_count=len(listed),
    )


@dataclass(frozen=True)
class _CommitFiles:
    """The message and changed paths of one commit in a push payload."""

    message: str
    paths: tuple[str, ...]

    @classmethod
    def read(cls, commit: JsonObject) -> _CommitFiles:
        # NOTE: GitHub leaves these lists empty for commits too large to diff in
        # time, so a commit without files makes the change set truncated. An
        # empty commit (git commit --allow-empty) is treated the same way.
        paths = (
            *commit.texts("added"),
            *commit.texts("removed"),
            *commit.texts("modified"),
        )
        return cls(commit.optional_text("message") or "", paths)


# ---------------------------------------------------------------------------
# pull_request


def parse_pull_request(payload: Mapping[str, Any]) -> ChangeSet:
    """Build the change set of a `pull_request` delivery, without its files.

    The payload carries no file list, so `paths` is empty, `truncated` is true
    unless the PR changes no files, and `files_total` is the PR's
    `changed_files`. The caller fetches the files and attaches them with
    `ChangeSet.with_paths`.
    """
    root = JsonObject(payload, "payload")
    pull = root.child("pull_request")
    if root.get("number") is not None:
        number = root.optional_count("number")
    else:
        number = pull.optional_count("number")
        if number is None:
            raise BadRequest(f"{pull.field_path('number')} is missing")
    head = pull.child("head")
    base = pull.child("base")
    head_branch = head.text("ref")
    before = _sha(root, "before") if root.get("before") is not None else None
    changed_files = pull.optional_count("changed_files")
    title = pull.optional_text("title")
    body = pull.optional_text("body")
    return ChangeSet(
        event="pull_request",
        repository=_repository(root),
        ref=BRANCH_PREFIX + head_branch,
        branch=head_branch,
        base_branch=base.text("ref"),
        sha=_sha(head, "sha"),
        before=before,
        messages=tuple(text for text in (title, body) if text),
        labels=tuple(label.text("name") for label in pull.objects("labels")),
        draft=pull.flag("draft"),
        action=root.optional_text("action"),
        pr_number=number,
        truncated=changed_files != 0,
        files_total=changed_files,
        commit_count=pull.optional_count("commits") or 0,
    )


def parse_pr_files_page(data: Any) -> list[str]:
    """Return the paths on one page of GET /repos/{owner}/{repo}/pulls/{n}/files.

    A renamed file contributes its `filename` and its `previous_filename`.
    https://docs.github.com/en/rest/pulls/pulls#list-pull-requests-files
    """
    if not isinstance(data, list | tuple):
        raise wrong_type("files", "an array", data)
    paths: list[str] = []
    for index, item in enumerate(data):
        entry = JsonObject(item, f"files[{index}]")
        paths.append(entry.text("filename"))
        previous = entry.optional_text("previous_filename")
        if previous:
            paths.append(previous)
    return paths


# ---------------------------------------------------------------------------
# POST /api/route


def parse_route_request(data: Mapping[str, Any]) -> ChangeSet:
    """Build the change set of a POST /api/route body.

    `repository`, `ref` and `sha` are required. A `ref` without the `refs/`
    prefix is taken as a branch name. Without `files` the paths are unknown, so
    the change set is truncated. For a pull request, `head_ref` names the head
    branch and `ref` may be GitHub's `refs/pull/<n>/merge`. Unknown fields are
    rejected, so a misspelt `files` cannot silently route on no paths.
    """
    body = JsonObject(data, "body")
    unknown = sorted(repr(key) for key in body.data if key not in ROUTE_REQUEST_FIELDS)
    if unknown:
        raise BadRequest(
            f"body has unknown fields {', '.join(unknown)} "
            f"(known fields: {', '.join(ROUTE_REQUEST_FIELDS)})"
        )
    repository = _repository_name(body.text("repository"), "repository", body)
    ref = body.text("ref")
    if not ref.startswith("refs/"):
        ref = BRANCH_PREFIX + ref
    if ref.endswith("/") or not ref.isprintable():
        raise BadRequest(
            f"body.ref must name a branch, tag or pull request, not {show(ref)}"
        )
    pull = _PULL_REF.fullmatch(ref)
    if pull is None and ref.startswith("refs/pull/"):
        raise BadRequest(
            f"body.ref must be refs/pull/<number>/merge or /head, not {show(ref)}"
        )
    pr_number = body.optional_count("pr_number")
    if pr_number == 0:
        raise BadRequest("body.pr_number must be a pull request number, 1 or more")
    if pr_number is None and pull is not None:
        pr_number = int(pull.group(1))
    head_ref = body.optional_text("head_ref")
    if head_ref:
        ref = BRANCH_PREFIX + head_ref.removeprefix(BRANCH_PREFIX)
    base_ref = body.optional_text("base_ref")

    files = body.texts("files") if body.get("files") is not None else None
    message = body.optional_text("message")
    return ChangeSet(
        event=_event_name(body),
        repository=repository,
        ref=ref,
        sha=_sha(body, "sha"),
        base_branch=base_ref.removeprefix(BRANCH_PREFIX) if base_ref else None,
        paths=tuple(files or ()),
        messages=(message,) if message else (),
        labels=tuple(body.texts("labels")),
        draft=body.flag("draft"),
        pr_number=pr_number,
        truncated=files is None,
        files_total=None if files is None else len(set(files)),
        commit_count=1,
    )


def _event_name(body: JsonObject) -> str:
    event = body.optional_text("event")
    if event is None:
        return "push"
    if not _EVENT_NAME.fullmatch(event):
        raise BadRequest(
            f"{body.field_path('event')} must be a GitHub event name such as "
            f"'push' or 'pull_request', not {show(event)}"
        )
    return event
