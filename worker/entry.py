"""The Worker's entry point: turn runtime events into plain values for `worker.app`.

This is the only module that imports `workers`, `js` and `pyodide`. It converts
the JS request into `worker.http.Request`, adapts the KV binding and outgoing
`fetch` to the interfaces in `worker.store` and `worker.outbound`, calls
`handle` or `run_cron`, and converts the result back into a JS response.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import time
from collections.abc import Awaitable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import js
from pyodide.ffi import JsException, jsnull
from workers import Response as WorkersResponse
from workers import WorkerEntrypoint
from workers import fetch as workers_fetch


def _import_as_package(name: str) -> None:
    """Make this module's folder importable as the package `name`.

    wrangler (4.164) uploads the files of the main module's folder at the bundle
    root, so in the runtime this module is the top-level `entry` and its
    siblings are top-level modules too. Their relative imports need a package,
    and a top-level `http` would clash with the standard library's.
    """
    if __package__ or name in sys.modules:
        return
    folder = os.path.dirname(os.path.abspath(__file__))
    spec = importlib.util.spec_from_file_location(
        name, os.path.join(folder, "__init__.py"), submodule_search_locations=[folder]
    )
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {folder} as the package {name!r}")
    package = importlib.util.module_from_spec(spec)
    sys.modules[name] = package
    spec.loader.exec_module(package)


_import_as_package("worker")

from shared_routing.errors import PayloadTooLarge  # noqa: E402
from worker.app import (  # noqa: E402
    Router,
    Services,
    build_router,
    handle,
    run_cron,
    with_cors,
)
from worker.config import Config  # noqa: E402
from worker.http import Request, Response, json_response  # noqa: E402
from worker.outbound import OutboundError, OutboundResponse  # noqa: E402
from worker.store import KeyPage  # noqa: E402

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
log = logging.getLogger("router.edge")

# GitHub caps webhook payloads at 25 MB, and no other endpoint takes more.
# NOTE: a body near the limit is held twice (JS buffer, Python bytes) inside
# the isolate's 128 MB memory limit; only the emulator has run such bodies.
MAX_BODY_BYTES = 25 * 1024 * 1024
KV_BINDING = "BUILD_STATE"
# Workers KV rejects an expirationTtl below 60 seconds.
KV_MIN_TTL_SECONDS = 60
# Header values quoted in the log are cut to this many characters.
LOG_VALUE_CHARS = 80
# Request paths in the log are cut to this many characters.
LOG_PATH_CHARS = 200
# Statuses whose response must not carry a body (Fetch standard "null body status").
NULL_BODY_STATUSES = frozenset({101, 103, 204, 205, 304})

ROUTER: Router = build_router()
_config: Config | None = None


class KvNamespaceStore:
    """`KeyValueStore` over a Workers KV namespace binding."""

    def __init__(self, namespace: Any) -> None:
        self._namespace = namespace

    async def get(self, key: str) -> str | None:
        """Return the stored text, or None when the key is absent."""
        value = await self._namespace.get(key)
        if value is None or value is jsnull:
            return None
        return str(value)

    async def put(self, key: str, value: str, ttl_seconds: int | None = None) -> None:
        """Store `value`; with `ttl_seconds` the key expires after that long."""
        if ttl_seconds is None:
            await self._namespace.put(key, value)
            return
        if ttl_seconds < KV_MIN_TTL_SECONDS:
            raise ValueError(
                f"ttl_seconds for {key!r} is {ttl_seconds}; Workers KV needs at least "
                f"{KV_MIN_TTL_SECONDS}"
            )
        await self._namespace.put(key, value, expirationTtl=int(ttl_seconds))

    async def delete(self, key: str) -> None:
        """Remove the key; removing an absent key is not an error."""
        await self._namespace.delete(key)

    async def list(
        self, prefix: str, cursor: str | None = None, limit: int = 1000
    ) -> KeyPage:
        """List key names that start with `prefix`, one page at a time."""
        options: dict[str, Any] = {"prefix": prefix, "limit": limit}
        if cursor:
            options["cursor"] = cursor
        page = await self._namespace.list(**options)
        names = tuple(str(entry["name"]) for entry in page["keys"])
        complete = bool(page["list_complete"])
        next_cursor = page.get("cursor")
        if complete or next_cursor is None or next_cursor is jsnull:
            return KeyPage(names, None)
        return KeyPage(names, str(next_cursor))


class FetchHttpClient:
    """`HttpClient` over the runtime's `fetch`."""

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        timeout: float = 10.0,
    ) -> OutboundResponse:
        """Send the request; raise `OutboundError` when no response arrives in time."""
        options: dict[str, Any] = {
            "method": method,
            "headers": dict(headers or {}),
            "signal": js.AbortSignal.timeout(max(1, round(timeout * 1000))),
        }
        if body is not None:
            options["body"] = body
        # Only the origin goes into messages, because some webhook URLs (Discord's,
        # for one) carry a token in the path.
        origin = _origin(url)
        try:
            response = await workers_fetch(url, **options)
            payload = await response.bytes()
        # A refused connection or a timeout surfaces as pyodide's AbortError, an
        # OSError, with "fetch failed" (pyodide 314.0.7); other runtime errors as
        # JsException.
        except (OSError, JsException) as error:
            raise OutboundError(f"{method} {origin} failed: {error}") from error
        response_headers = {
            name.lower(): value for name, value in response.headers.items()
        }
        return OutboundResponse(int(response.status), response_headers, payload)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _config_from_env(env: Any) -> Config:
    """Build the config from the env's string values, once per isolate."""
    global _config
    if _config is None:
        # The SDK's env wrapper keeps the JS env as `_env` and cannot list names
        # (workers-runtime-sdk 1.9.5). NOTE: that workerd's env lists vars and
        # secrets as own properties is checked only in the emulator.
        raw = getattr(env, "_env", env)
        values = {}
        for name in js.Object.keys(raw):
            value = getattr(raw, name)
            if isinstance(value, str):
                values[str(name)] = value
        _config = Config.from_env(values)
    return _config


async def _run_logged(awaitable: Awaitable[Any]) -> None:
    """Await deferred work and log its failure, which no client would see."""
    try:
        await awaitable
    except Exception:
        log.exception("deferred task failed")


def _query_from(text: str) -> dict[str, str]:
    """Decode a query string; a repeated name keeps its first value."""
    query: dict[str, str] = {}
    for name, value in parse_qsl(text, keep_blank_values=True):
        query.setdefault(name, value)
    return query


def _delivery_fields(headers: Mapping[str, str]) -> str:
    """Return " delivery='...' event='...'" for the GitHub headers present."""
    fields = ""
    for label, header in (
        ("delivery", "x-github-delivery"),
        ("event", "x-github-event"),
    ):
        value = headers.get(header)
        if value is not None:
            fields += f" {label}={value[:LOG_VALUE_CHARS]!r}"
    return fields


class Default(WorkerEntrypoint):
    """The Worker: HTTP requests and cron triggers."""

    def _services(self) -> Services:
        return Services(
            store=KvNamespaceStore(getattr(self.env, KV_BINDING)),
            http=FetchHttpClient(),
            config=_config_from_env(self.env),
            clock=time.time,
            defer=lambda awaitable: self.ctx.waitUntil(_run_logged(awaitable)),
        )

    async def fetch(self, request: Any) -> WorkersResponse:
        """Handle one HTTP request and return the runtime's response."""
        js_request = getattr(request, "js_object", request)
        url = urlsplit(str(js_request.url))
        method = str(js_request.method).upper()
        headers = {str(name).lower(): str(value) for name, value in js_request.headers}
        head = Request(method, url.path or "/", _query_from(url.query), headers)
        services = self._services()
        try:
            response = await self._answer(js_request, head, services)
        except Exception:
            # handle() maps every error of the handlers, so this is a bug here.
            log.exception(
                "unhandled error on %s %s", method, head.path[:LOG_PATH_CHARS]
            )
            response = json_response(
                500, {"error": "internal error", "code": "internal"}
            )
        fields = _delivery_fields(headers)
        path = head.path[:LOG_PATH_CHARS] + (
            "…" if len(head.path) > LOG_PATH_CHARS else ""
        )
        log.info("%s %s %d%s", method, path, response.status, fields)
        return _to_workers_response(response)

    async def _answer(
        self, js_request: Any, head: Request, services: Services
    ) -> Response:
        try:
            body = await _read_body(js_request, head)
        except PayloadTooLarge as error:
            response = json_response(error.status, error.to_dict())
            return with_cors(head, response, services.config)
        request = Request(head.method, head.path, head.query, head.headers, body)
        return await handle(request, services, ROUTER)

    async def scheduled(
        self, controller: Any, env: Any = None, ctx: Any = None
    ) -> None:
        """Run the cron jobs for one trigger; `env` and `ctx` are also on self."""
        cron = str(controller.cron)
        await run_cron(
            cron, float(controller.scheduledTime) / 1000, self._services(), ROUTER
        )
        log.info("cron %r done", cron)


async def _read_body(js_request: Any, head: Request) -> bytes:
    """Read the raw body bytes, rejecting more than MAX_BODY_BYTES."""
    declared = head.header("content-length")
    if declared is not None and declared.strip().isdigit():
        _check_size(int(declared))
    buffer = await js_request.arrayBuffer()
    body: bytes = buffer.to_bytes()
    _check_size(len(body))
    return body


def _check_size(size: int) -> None:
    if size > MAX_BODY_BYTES:
        raise PayloadTooLarge(
            f"body is {size} bytes; the limit is {MAX_BODY_BYTES}", limit=MAX_BODY_BYTES
        )


def _to_workers_response(response: Response) -> WorkersResponse:
    """Build the runtime's response from a plain `Response`."""
    body = response.body if response.body else None
    if response.status in NULL_BODY_STATUSES:
        body = None
    return WorkersResponse(body, status=response.status, headers=dict(response.headers))
