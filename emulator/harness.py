"""Call the Worker's entrypoint class inside Pyodide the way workerd does.

The emulator host imports this module after it has laid out the bundle under
/session/metadata, then calls `load()` once and `fetch()` / `scheduled()` once
per event. Each event gets a new instance of the entrypoint class, built with
the JS `ctx` and `env`, as workerd builds one per request.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from typing import Any

# Folders of the uploaded files and of the vendored packages, as in workerd.
SESSION_DIR = "/session/metadata"
PYTHON_MODULES_DIR = SESSION_DIR + "/python_modules"


def set_search_path() -> None:
    """Put the bundle on sys.path in workerd's order and stop .pyc writes.

    workerd appends the session folder after the standard library and inserts
    python_modules before site-packages, so a Worker module named like a stdlib
    module (`http.py`) does not hide the stdlib one.
    """
    # The host folders are mounted read-write; never leave .pyc files there.
    sys.dont_write_bytecode = True
    if SESSION_DIR not in sys.path:
        sys.path.append(SESSION_DIR)
    if PYTHON_MODULES_DIR in sys.path:
        return
    for index, entry in enumerate(sys.path):
        if "site-packages" in entry:
            sys.path.insert(index, PYTHON_MODULES_DIR)
            return
    sys.path.append(PYTHON_MODULES_DIR)


class Worker:
    """The imported main module and its entrypoint class."""

    def __init__(self, module_name: str, class_name: str = "Default") -> None:
        self.module = importlib.import_module(module_name)
        entrypoint = getattr(self.module, class_name, None)
        if not inspect.isclass(entrypoint):
            raise TypeError(
                f"the Worker's main module {module_name!r} defines no class "
                f"{class_name!r}"
            )
        self.entrypoint = entrypoint

    async def fetch(self, request: Any, env: Any, ctx: Any) -> Any:
        """Call the instance's fetch() and return the JS Response object."""
        instance = self.entrypoint(ctx, env)
        result = await instance.fetch(request)
        return getattr(result, "js_object", result)

    async def scheduled(self, controller: Any, env: Any, ctx: Any) -> None:
        """Run the scheduled handler, passing as many arguments as it takes.

        Cloudflare documents `scheduled(self, controller, env, ctx)`; a handler
        that takes only `controller` gets only that.
        """
        instance = self.entrypoint(ctx, env)
        handler = getattr(instance, "scheduled", None)
        if handler is None:
            raise TypeError(f"{self.entrypoint.__name__} has no scheduled() method")
        arguments = (controller, env, ctx)[: _positional_count(handler)]
        await handler(*arguments)


def _positional_count(function: Any) -> int:
    parameters = inspect.signature(function).parameters.values()
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters):
        return 3
    return sum(1 for p in parameters if p.kind in kinds)


def load(module_name: str) -> Worker:
    """Set the search path and import the Worker's main module."""
    set_search_path()
    return Worker(module_name)
