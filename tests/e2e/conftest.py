"""Fixtures that run the Worker in the local emulator for end-to-end tests.

- `start_emulator(config=None, env=None, extra_vars=None)` starts an emulator
  on a free port with its own KV folder and vars file; all are stopped at the
  end of the session. `extra_vars` go into the vars file, so they override
  wrangler.toml `[vars]` (point `GITHUB_API_URL` at a
  `mock_server` this way).
- `emulator`: the project's Worker, shared by the tests of a module.
- `probe_config`: a wrangler.toml for the probe Worker (see probe_api.py).
- `mock_server`: an HTTP server on 127.0.0.1 that records requests.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterator, Mapping
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
from e2e_support import (
    API_TOKEN,
    NODE,
    PROBE_API,
    PROJECT_ROOT,
    PYTHON_MODULES,
    WEBHOOK_SECRET,
    Emulator,
    MockServer,
    handler_for,
)


def _check_prerequisites() -> None:
    if not NODE.exists():
        pytest.skip(f"{NODE} is missing: run `make install` (npm package `node`)")
    if not (PYTHON_MODULES / "shared_routing").is_dir():
        pytest.skip(f"{PYTHON_MODULES} is missing: run `make vendor`")


@pytest.fixture(scope="session")
def start_emulator(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., Emulator]]:
    """Return a function that starts an emulator; all are stopped at session end."""
    _check_prerequisites()
    started: list[Emulator] = []

    def start(
        config: Path | None = None,
        env: str | None = None,
        extra_vars: Mapping[str, str] | None = None,
    ) -> Emulator:
        folder = tmp_path_factory.mktemp("emulator")
        vars_file = folder / "dev.vars"
        values = {"GITHUB_WEBHOOK_SECRET": WEBHOOK_SECRET, "API_TOKEN": API_TOKEN}
        values.update(extra_vars or {})
        vars_file.write_text("".join(f'{k}="{v}"\n' for k, v in values.items()))
        args = ["--port", "0", "--persist", str(folder / "kv")]
        args += ["--vars-file", str(vars_file)]
        if config is not None:
            args += ["--config", str(config)]
        if env is not None:
            args += ["--env", env]
        emulator = Emulator(args)
        started.append(emulator)
        emulator.start()
        return emulator

    yield start
    for emulator in started:
        emulator.stop()


@pytest.fixture(scope="module")
def emulator(start_emulator: Callable[..., Emulator]) -> Emulator:
    """The project's Worker in a fresh emulator, shared by one test module."""
    return start_emulator()


# Appended to the probe's copy of app.py: the later definition replaces the
# real build_router, so the probe runs no project handler modules at all.
PROBE_ROUTER = """

def build_router() -> Router:
    \"\"\"Create the probe Worker's router (added by tests/e2e/conftest.py).\"\"\"
    from . import probe_api

    router = Router()
    probe_api.register(router)
    return router
"""


@pytest.fixture(scope="session")
def probe_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Lay out the probe Worker and return its wrangler.toml.

    It is a copy of the project's `worker/` whose router holds only the routes
    of probe_api.py, beside the project's own wrangler.toml and python_modules/.
    """
    _check_prerequisites()
    root = tmp_path_factory.mktemp("probe")
    shutil.copy(PROJECT_ROOT / "wrangler.toml", root / "wrangler.toml")
    worker = root / "worker"
    shutil.copytree(
        PROJECT_ROOT / "worker", worker, ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(PROBE_API, worker / "probe_api.py")
    with (worker / "app.py").open("a") as app:
        app.write(PROBE_ROUTER)
    (root / "python_modules").symlink_to(PYTHON_MODULES, target_is_directory=True)
    return root / "wrangler.toml"


@pytest.fixture
def mock_server() -> Iterator[MockServer]:
    """Serve a MockServer on a free port of 127.0.0.1 for one test."""
    mock = MockServer()
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(mock))
    server.daemon_threads = True
    mock.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield mock
    mock.gate.set()
    server.shutdown()
    server.server_close()
