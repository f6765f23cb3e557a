"""List a pull request's changed files through the GitHub REST API.

https://docs.github.com/en/rest/pulls/pulls#list-pull-requests-files returns at
most 100 files a page and at most 3,000 files in all. GitHub waits 10 s for a
webhook response, so the pages are fetched concurrently within a fixed budget.
A listing that is incomplete for any reason yields a change set marked
truncated, which the policy routes conservatively.
"""

from __future__ import annotations

import asyncio
import logging
import math
from urllib.parse import quote

from shared_routing.errors import RouterError
from shared_routing.events import ChangeSet, parse_pr_files_page
from shared_routing.fields import load_json

from .app import Services
from .outbound import OutboundError

log = logging.getLogger("router")

PAGE_SIZE = 100
MAX_LISTED_FILES = 3000
# Leaves GitHub's 10 s webhook timeout several seconds for the rest of the work.
LISTING_BUDGET_SECONDS = 5.0
USER_AGENT = "hybrid-runner-router"


class ListingFailed(Exception):
    """A page of the file listing could not be read."""


async def fetch_pull_request_files(change: ChangeSet, services: Services) -> ChangeSet:
    """Return `change` with the pull request's files attached.

    When the listing fails, is slow, or the pull request has more files than the
    API lists, the result keeps the files it did read and is marked truncated.
    """
    total = change.files_total
    if change.pr_number is None or not total:
        return change
    pages = math.ceil(min(total, MAX_LISTED_FILES) / PAGE_SIZE)
    fetches = [_fetch_page(change, page, services) for page in range(1, pages + 1)]
    tasks = [asyncio.ensure_future(fetch) for fetch in fetches]
    done, pending = await asyncio.wait(tasks, timeout=LISTING_BUDGET_SECONDS)
    for task in pending:
        task.cancel()
    paths: list[str] = []
    failures = len(pending)
    for task in done:
        error = task.exception()
        if error is None:
            paths.extend(task.result())
        else:
            failures += 1
            log.warning(
                "pull request %s#%s: %s", change.repository, change.pr_number, error
            )
    if pending:
        log.warning(
            "pull request %s#%s: %d of %d file pages timed out after %.0f s",
            change.repository,
            change.pr_number,
            len(pending),
            pages,
            LISTING_BUDGET_SECONDS,
        )
    truncated = failures > 0 or total > MAX_LISTED_FILES
    return change.with_paths(paths, total, truncated)


async def _fetch_page(change: ChangeSet, page: int, services: Services) -> list[str]:
    config = services.config
    url = (
        f"{config.github_api_url}/repos/{quote(change.repository, safe='/')}"
        f"/pulls/{change.pr_number}/files?per_page={PAGE_SIZE}&page={page}"
    )
    headers = {
        "accept": "application/vnd.github+json",
        "user-agent": USER_AGENT,
        "x-github-api-version": "2022-11-28",
    }
    if config.github_token:
        headers["authorization"] = f"Bearer {config.github_token}"
    try:
        reply = await services.http.request(
            "GET", url, headers=headers, timeout=LISTING_BUDGET_SECONDS
        )
    except OutboundError as error:
        raise ListingFailed(f"page {page} failed: {error}") from error
    if reply.status != 200:
        raise ListingFailed(f"page {page} failed with HTTP {reply.status}")
    try:
        text = reply.body.decode("utf-8")
        return parse_pr_files_page(load_json(text, f"page {page}"))
    except (UnicodeDecodeError, RouterError) as error:
        raise ListingFailed(f"page {page} is not a file listing: {error}") from error
