"""Drive the local emulator from tests: start, request, restart, read logs.

`Emulator` runs `emulator/host.mjs` as a child process; `MockServer` replaces
GitHub or Discord on 127.0.0.1. The fixtures in conftest.py build on these.
"""

from __future__ import annotations

import http.client
import json
import re
import signal
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from shared_routing.signature import SIGNATURE_HEADER, compute_signature

PROJECT_ROOT = Path(__file__).resolve().parents[2]
NODE = PROJECT_ROOT / "node_modules" / ".bin" / "node"
HOST = PROJECT_ROOT / "emulator" / "host.mjs"
PYTHON_MODULES = PROJECT_ROOT / "python_modules"
PROBE_API = Path(__file__).with_name("probe_api.py")

WEBHOOK_SECRET = "e2e-webhook-secret"
API_TOKEN = "e2e-api-token"
READY_LINE = re.compile(r"\[emulator\] ready on (http://127\.0\.0\.1:\d+)")
# Bounds, not delays: a cold start took about 2.2 s on a 2-core machine.
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 45.0
REQUEST_TIMEOUT_S = 60.0


def sign(body: bytes, secret: str = WEBHOOK_SECRET) -> str:
    """Return the X-Hub-Signature-256 value GitHub would send for `body`."""
    return compute_signature(body, secret)


def webhook_headers(body: bytes, event: str, delivery: str) -> dict[str, str]:
    """Return the headers of a signed GitHub delivery of `event`."""
    return {
        "content-type": "application/json",
        "x-github-event": event,
        "x-github-delivery": delivery,
        SIGNATURE_HEADER: sign(body),
    }


@dataclass(frozen=True)
class Reply:
    """An HTTP response: status, lower-cased headers and body."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        """Decode the body as JSON."""
        return json.loads(self.body)


class Emulator:
    """One emulator process (`emulator/host.mjs`) and its output."""

    def __init__(self, args: list[str]) -> None:
        self._args = args
        self._process: subprocess.Popen[str] | None = None
        self._readers: list[threading.Thread] = []
        self._lines: list[str] = []
        self._changed = threading.Condition()
        self.url = ""
        self.start_seconds = 0.0

    @property
    def logs(self) -> list[str]:
        """Every line the emulator printed so far, stdout and stderr mixed."""
        with self._changed:
            return list(self._lines)

    @property
    def port(self) -> int:
        """The port the emulator listens on."""
        return int(self.url.rsplit(":", 1)[1])

    def start(self) -> None:
        """Spawn the emulator and wait for its ready line."""
        begun = time.perf_counter()
        first_line = len(self.logs)
        self._process = subprocess.Popen(
            [str(NODE), str(HOST), *self._args],
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._readers = [
            threading.Thread(target=self._collect, args=(stream,), daemon=True)
            for stream in (self._process.stdout, self._process.stderr)
        ]
        for reader in self._readers:
            reader.start()
        line = self.wait_for_log(
            READY_LINE.pattern, timeout=START_TIMEOUT_S, after=first_line
        )
        match = READY_LINE.search(line)
        assert match is not None
        self.url = match.group(1)
        self.start_seconds = time.perf_counter() - begun

    def _collect(self, stream: Any) -> None:
        for line in stream:
            with self._changed:
                self._lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for_log(self, pattern: str, timeout: float = 10.0, after: int = 0) -> str:
        """Return the first line from index `after` on that matches `pattern`."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            with self._changed:
                for line in self._lines[after:]:
                    if regex.search(line):
                        return line
                exited = self._process is None or self._process.poll() is not None
                remaining = deadline - time.monotonic()
                if not exited and remaining > 0:
                    self._changed.wait(min(remaining, 0.5))
                    continue
            if exited:
                # Read what the process printed before it exited, then look again.
                for reader in self._readers:
                    reader.join(timeout=5)
            with self._changed:
                for line in self._lines[after:]:
                    if regex.search(line):
                        return line
                output = "\n".join(self._lines[-60:])
            if exited:
                reason = "exited before printing a line"
            else:
                reason = f"printed no line within {timeout} s"
            raise AssertionError(
                f"emulator {reason} matching {pattern!r}; its output:\n{output}"
            )

    def stop(self) -> int | None:
        """Send SIGTERM and wait (kill after STOP_TIMEOUT_S); return the exit code."""
        process = self._process
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for reader in self._readers:
            reader.join(timeout=5)
        return process.returncode

    def restart(self) -> None:
        """Stop and start again with the same options (and KV folder)."""
        self.stop()
        self.start()

    def request(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """Send one request to the emulator and return the reply."""
        connection = http.client.HTTPConnection(
            "127.0.0.1", self.port, timeout=REQUEST_TIMEOUT_S
        )
        try:
            connection.request(
                method, path, body=body or None, headers=dict(headers or {})
            )
            response = connection.getresponse()
            payload = response.read()
            reply_headers = {
                name.lower(): value for name, value in response.getheaders()
            }
            return Reply(response.status, reply_headers, payload)
        finally:
            connection.close()

    def scheduled(self, cron: str, time_ms: int | None = None) -> Reply:
        """Trigger the cron handler as `wrangler dev` does at /__scheduled."""
        query = {"cron": cron} | ({} if time_ms is None else {"time": str(time_ms)})
        return self.request("GET", "/__scheduled?" + urlencode(query))

    def drain(self) -> dict[str, int]:
        """Wait for pending ctx.waitUntil work; return counts settled and failed."""
        reply = self.request("POST", "/__emulator/drain")
        assert reply.status == 200, reply.body
        counts: dict[str, int] = reply.json()
        return counts


@dataclass
class Recorded:
    """A request received by a MockServer."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class MockServer:
    """An HTTP server on 127.0.0.1 that records requests and sends a fixed reply.

    While `gate` is cleared, requests wait (up to 60 s) before the reply is sent.
    """

    status: int = 200
    body: bytes = b"{}"
    headers: dict[str, str] = field(
        default_factory=lambda: {"content-type": "application/json"}
    )
    requests: list[Recorded] = field(default_factory=list)
    gate: threading.Event = field(default_factory=threading.Event)
    url: str = ""

    def __post_init__(self) -> None:
        self.gate.set()
        self._arrived = threading.Condition()

    def record(self, request: Recorded) -> None:
        """Store a received request and wake waiters."""
        with self._arrived:
            self.requests.append(request)
            self._arrived.notify_all()

    def wait_for_requests(self, count: int, timeout: float = 10.0) -> list[Recorded]:
        """Return the requests once `count` have arrived; fail after `timeout`."""
        with self._arrived:
            arrived = self._arrived.wait_for(
                lambda: len(self.requests) >= count, timeout
            )
            assert arrived, f"{len(self.requests)} of {count} requests in {timeout} s"
            return list(self.requests)


def handler_for(mock: MockServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {name.lower(): value for name, value in self.headers.items()}
            mock.record(Recorded(self.command, self.path, headers, body))
            mock.gate.wait(timeout=60)
            self.send_response(mock.status)
            for name, value in mock.headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(mock.body)))
            self.end_headers()
            self.wfile.write(mock.body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
