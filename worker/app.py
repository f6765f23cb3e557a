"""Route requests and cron triggers to handlers, and map errors to responses.

This is the one place where a `RouterError` becomes a JSON error response and
where authentication is checked, so handlers only parse, decide and store.
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shared_routing.errors import (
    MethodNotAllowed,
    NotFound,
    RouterError,
    SignatureError,
    Unauthorized,
)

from .config import Config
from .http import Request, Response, json_response
from .outbound import HttpClient
from .store import KeyValueStore

log = logging.getLogger("router")


@dataclass
class Services:
    """Everything a handler may touch: storage, outgoing HTTP, config and time."""

    store: KeyValueStore
    http: HttpClient
    config: Config
    clock: Callable[[], float]
    defer: Callable[[Awaitable[Any]], None]


@dataclass(frozen=True)
class Delivery:
    """A verified GitHub webhook delivery with its decoded payload."""

    id: str
    event: str
    payload: Mapping[str, Any]
    received_at: float


Handler = Callable[[Request, Services, Mapping[str, str]], Awaitable[Response]]
EventHandler = Callable[[Delivery, Services], Awaitable[Response]]
CronJob = Callable[[str, float, Services], Awaitable[None]]


@dataclass(frozen=True)
class Route:
    """A method and path pattern with its handler; `auth` is "none" or "bearer"."""

    method: str
    pattern: re.Pattern[str]
    handler: Handler
    auth: str


@dataclass
class Router:
    """The table of routes and cron jobs, filled by each handler module."""

    routes: list[Route] = field(default_factory=list)
    events: dict[str, EventHandler] = field(default_factory=dict)
    cron_jobs: list[CronJob] = field(default_factory=list)

    def add(
        self, method: str, path: str, handler: Handler, auth: str = "bearer"
    ) -> None:
        """Register `handler` for `method` on `path`; `{name}` captures a segment."""
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path)
        self.routes.append(Route(method, re.compile(f"^{regex}$"), handler, auth))

    def add_event(self, event: str, handler: EventHandler) -> None:
        """Register `handler` for verified webhook deliveries of `event`."""
        self.events[event] = handler

    def add_cron(self, job: CronJob) -> None:
        """Register `job` to run on every cron trigger."""
        self.cron_jobs.append(job)

    def allowed_methods(self, path: str) -> list[str]:
        """Return the methods `path` accepts, HEAD and OPTIONS included; [] if none."""
        methods = {route.method for route in self.routes if route.pattern.match(path)}
        if not methods:
            return []
        if "GET" in methods:
            methods.add("HEAD")
        return sorted(methods | {"OPTIONS"})

    def find(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        """Return the route for `method` and `path` with its captured segments."""
        for route in self.routes:
            match = route.pattern.match(path)
            if match is None:
                continue
            if route.method == method or (method == "HEAD" and route.method == "GET"):
                return route, match.groupdict()
        allowed = self.allowed_methods(path)
        if allowed:
            raise MethodNotAllowed(
                f"method {method} is not allowed on {path}", allowed=allowed
            )
        raise NotFound(f"no endpoint at {path}")


def check_bearer(request: Request, config: Config) -> None:
    """Raise `Unauthorized` unless the request carries the configured API token."""
    if not config.api_token:
        raise Unauthorized("API_TOKEN is not configured, so the API is disabled")
    header = request.header("authorization") or ""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("missing bearer token in the Authorization header")
    if not hmac.compare_digest(token.strip().encode(), config.api_token.encode()):
        raise Unauthorized("bearer token is not valid")


def build_router() -> Router:
    """Create the router with every handler module registered."""
    from . import api, tracking, webhooks

    router = Router()
    webhooks.register(router)
    api.register(router)
    tracking.register(router)
    return router


async def handle(request: Request, services: Services, router: Router) -> Response:
    """Respond to `request`: find the route, check auth, run the handler, map errors."""
    try:
        if request.method == "OPTIONS":
            return preflight(request, router, services.config)
        route, params = router.find(request.method, request.path)
        if route.auth == "bearer":
            check_bearer(request, services.config)
        response = await route.handler(request, services, params)
    except RouterError as error:
        response = json_response(error.status, error.to_dict(), error_headers(error))
    except Exception:
        # A bug, not bad input: tests drive every handler with arbitrary input
        # to keep this branch unreachable. The log has the traceback, the
        # client only a generic message.
        log.exception("unhandled error on %s %s", request.method, request.path)
        response = json_response(500, {"error": "internal error", "code": "internal"})
    return with_cors(request, response, services.config)


def error_headers(error: RouterError) -> dict[str, str]:
    """Return the headers HTTP requires with an error: `Allow` and the auth scheme."""
    if isinstance(error, MethodNotAllowed):
        return {"allow": ", ".join(error.details.get("allowed", []))}
    if isinstance(error, SignatureError):
        return {}
    if isinstance(error, Unauthorized):
        return {"www-authenticate": 'Bearer realm="hybrid-runner-router"'}
    return {}


def preflight(request: Request, router: Router, config: Config) -> Response:
    """Respond to a CORS preflight or OPTIONS request with the allowed methods."""
    allowed = router.allowed_methods(request.path)
    if not allowed:
        raise NotFound(f"no endpoint at {request.path}")
    methods = ", ".join(allowed)
    headers = {"allow": methods}
    origin = request.header("origin")
    if origin is not None and origin in config.allowed_origins:
        headers["access-control-allow-methods"] = methods
        headers["access-control-allow-headers"] = "Authorization, Content-Type"
        headers["access-control-max-age"] = "600"
    return with_cors(request, Response(204, b"", headers), config)


def with_cors(request: Request, response: Response, config: Config) -> Response:
    """Add CORS headers when the request's Origin is on the allowed list.

    `Vary: Origin` goes on every response once origins are configured, so a
    cache never serves one origin's response to another.
    """
    if not config.allowed_origins:
        return response
    headers = dict(response.headers)
    headers["vary"] = "Origin"
    origin = request.header("origin")
    if origin is not None and origin in config.allowed_origins:
        headers["access-control-allow-origin"] = origin
    return Response(response.status, response.body, headers)


async def run_cron(
    cron: str, scheduled_time: float, services: Services, router: Router
) -> None:
    """Run every registered cron job; one job failing does not stop the others."""
    for job in router.cron_jobs:
        try:
            await job(cron, scheduled_time, services)
        except Exception:
            log.exception("cron job %s failed for %r", job.__name__, cron)
