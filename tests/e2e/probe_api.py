"""Routes of the probe Worker, which tests the runtime through `worker/entry.py`.

The e2e fixture `probe_config` copies the project's `worker/` folder, adds
this file, makes `build_router()` register only these routes, and runs the
copy in the emulator. The routes expose each runtime effect (KV, outgoing
fetch, waitUntil, cron, the raw request) so tests can check them one by one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

from shared_routing.errors import BadRequest, NotFound

from .app import Router, Services
from .http import Request, Response, json_response
from .outbound import OutboundError

CRON_KEY = "probe:cron"


def register(router: Router) -> None:
    """Register the probe routes and the probe cron job."""
    router.add("GET", "/probe/kv/{key}", get_value, auth="none")
    router.add("PUT", "/probe/kv/{key}", put_value, auth="none")
    router.add("DELETE", "/probe/kv/{key}", delete_value, auth="none")
    router.add("GET", "/probe/keys", list_keys, auth="none")
    router.add("POST", "/probe/defer", defer_put, auth="none")
    router.add("POST", "/probe/fetch", fetch_url, auth="none")
    router.add("POST", "/probe/echo", echo, auth="none")
    router.add("GET", "/probe/config", show_config, auth="none")
    router.add("GET", "/probe/boom", boom, auth="none")
    router.add("GET", "/probe/bad-status", bad_status, auth="none")
    router.add_cron(record_cron)


async def get_value(
    request: Request, services: Services, params: Mapping[str, str]
) -> Response:
    """Return the stored text at the key."""
    value = await services.store.get(params["key"])
    if value is None:
        raise NotFound(f"no value at {params['key']!r}")
    return json_response(200, {"value": value})


async def put_value(
    request: Request, services: Services, params: Mapping[str, str]
) -> Response:
    """Store the body text at the key, with the TTL from `?ttl=` when given."""
    ttl = request.query.get("ttl")
    await services.store.put(
        params["key"], request.body.decode(), int(ttl) if ttl else None
    )
    return json_response(200, {"stored": params["key"]})


async def delete_value(
    request: Request, services: Services, params: Mapping[str, str]
) -> Response:
    """Remove the key."""
    await services.store.delete(params["key"])
    return json_response(200, {"deleted": params["key"]})


async def list_keys(
    request: Request, services: Services, params: Mapping[str, str]
) -> Response:
    """List keys under `?prefix=`, `?limit=` names per page, counting pages."""
    prefix = request.query.get("prefix", "")
    limit = int(request.query.get("limit", "1000"))
    keys: list[str] = []
    pages = 0
    cursor = None
    while True:
        page = await services.store.list(prefix, cursor, limit)
        pages += 1
        keys.extend(page.keys)
        if page.cursor is None:
            break
        cursor = page.cursor
    return json_response(200, {"keys": keys, "pages": pages})


async def defer_put(
    request: Request, services: Services, params: Mapping[str, str]
) -> Response:
    """Return 202 at once; later GET `?hold=` and store its body at `?key=`."""
    key = request.query["key"]
    hold = request.query["hold"]

    async def later() -> None:
        reply = await services.http.request("GET", hold, timeout=30)
        await services.store.put(key, reply.body.decode())

    services.defer(later())
    return json_response(202, {"deferred": key})


async def fetch_url(
    request: Request, services: Services, params: Mapping[str, str]
) -> Response:
    """Send the outgoing request described by the JSON body and report the reply."""
    spec = json.loads(request.body)
    try:
        reply = await services.http.request(
            spec["method"],
            spec["url"],
            headers=spec.get("headers"),
            body=spec["body"].encode() if "body" in spec else None,
            timeout=spec.get("timeout", 10.0),
        )
    except OutboundError as error:
        return json_response(502, {"error": str(error), "type": "OutboundError"})
    return json_response(
        200,
        {
            "status": reply.status,
            "headers": dict(reply.headers),
            "body": reply.body.decode(),
        },
    )


async def echo(
    request: Request, services: Services, params: Mapping[str, str]
) -> Response:
    """Describe the request as the handlers see it."""
    return json_response(
        200,
        {
            "method": request.method,
            "path": request.path,
            "query": dict(request.query),
            "headers": dict(request.headers),
            "length": len(request.body),
            "sha256": hashlib.sha256(request.body).hexdigest(),
        },
    )


async def show_config(
    request: Request, services: Services, params: Mapping[str, str]
) -> Response:
    """Show the config the Worker built from vars and secrets, secrets as counts."""
    config = services.config
    return json_response(
        200,
        {
            "environment": config.environment,
            "github_api_url": config.github_api_url,
            "webhook_secrets": len(config.webhook_secrets),
            "api_token_set": config.api_token is not None,
        },
    )


async def boom(
    request: Request, services: Services, params: Mapping[str, str]
) -> Response:
    """Fail the way a handler bug would."""
    raise RuntimeError("probe handler failed on purpose")


async def bad_status(
    request: Request, services: Services, params: Mapping[str, str]
) -> Response:
    """Return a status no HTTP response can have, so converting it fails."""
    return Response(999, b"never sent")


async def record_cron(cron: str, scheduled_time: float, services: Services) -> None:
    """Store the trigger's cron string and time."""
    if not cron:
        raise BadRequest("empty cron")
    record = {"cron": cron, "scheduled_time": scheduled_time}
    await services.store.put(CRON_KEY, json.dumps(record))
