"""The emulator runtime and worker/entry.py: KV, cron, waitUntil, fetch, logs.

Most tests drive the probe Worker (probe_api.py behind the real entry.py), so
each runtime effect is checked on its own. The last ones drive the project's
Worker. Start-up time and request latency are printed, not asserted.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import shutil
import socket
import statistics
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from e2e_support import (
    API_TOKEN,
    HOST,
    NODE,
    PROJECT_ROOT,
    WEBHOOK_SECRET,
    Emulator,
    MockServer,
    webhook_headers,
)

pytestmark = pytest.mark.e2e

MAX_BODY_BYTES = 25 * 1024 * 1024
# Body bytes the host drops after an early 413 (DISCARD_LIMIT_BYTES in host.mjs).
DISCARD_LIMIT_BYTES = 100 * 1024 * 1024
# A bound on waiting for a response that should come at once, not a delay.
REPLY_TIMEOUT_S = 30.0
VARS_GITHUB_API_URL = "http://127.0.0.1:9/github-from-vars-file"


@pytest.fixture(scope="module")
def probe(start_emulator: Callable[..., Emulator], probe_config: Path) -> Emulator:
    """The probe Worker in one emulator shared by this module's tests."""
    return start_emulator(
        config=probe_config, extra_vars={"GITHUB_API_URL": VARS_GITHUB_API_URL}
    )


def free_port() -> int:
    """Return a port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# KV


def test_kv_put_get_delete(probe: Emulator) -> None:
    assert probe.request("PUT", "/probe/kv/kv-a", b"first").status == 200
    assert probe.request("GET", "/probe/kv/kv-a").json() == {"value": "first"}
    assert probe.request("DELETE", "/probe/kv/kv-a").status == 200
    missing = probe.request("GET", "/probe/kv/kv-a")
    assert missing.status == 404
    assert missing.json()["code"] == "not_found"


def test_kv_put_with_ttl(probe: Emulator) -> None:
    assert probe.request("PUT", "/probe/kv/kv-ttl?ttl=3600", b"expiring").status == 200
    assert probe.request("GET", "/probe/kv/kv-ttl").json() == {"value": "expiring"}


def test_kv_ttl_below_minimum_is_a_bug(probe: Emulator) -> None:
    reply = probe.request("PUT", "/probe/kv/kv-short?ttl=59", b"x")
    assert reply.status == 500
    probe.wait_for_log(r"ValueError: ttl_seconds for 'kv-short' is 59")


def test_kv_list_follows_cursors(probe: Emulator) -> None:
    names = [f"page:{index}" for index in range(5)]
    for name in reversed(names):
        assert probe.request("PUT", f"/probe/kv/{name}", b"v").status == 200
    listing = probe.request("GET", "/probe/keys?prefix=page:&limit=2").json()
    assert listing["keys"] == names
    assert listing["pages"] == 3


def test_kv_persists_across_restart(probe: Emulator) -> None:
    assert probe.request("PUT", "/probe/kv/kept", b"before restart").status == 200
    probe.restart()
    assert probe.request("GET", "/probe/kv/kept").json() == {"value": "before restart"}


# Cron triggers


def test_scheduled_runs_cron_jobs(probe: Emulator) -> None:
    reply = probe.scheduled("0 9 * * 1", time_ms=1_700_000_000_000)
    assert reply.status == 200
    assert reply.body == b"Ran scheduled event\n"
    stored = json.loads(probe.request("GET", "/probe/kv/probe:cron").json()["value"])
    assert stored == {"cron": "0 9 * * 1", "scheduled_time": 1_700_000_000.0}


def test_scheduled_rejects_bad_time(probe: Emulator) -> None:
    reply = probe.request("GET", "/__scheduled?cron=*+*+*+*+*&time=soon")
    assert reply.status == 400
    assert b'"soon"' in reply.body


def test_failing_cron_job_is_logged(probe: Emulator) -> None:
    mark = len(probe.logs)
    assert probe.scheduled("").status == 200
    probe.wait_for_log(r"cron job record_cron failed for ''", after=mark)


# ctx.waitUntil


def test_wait_until_work_lands_after_response(
    probe: Emulator, mock_server: MockServer
) -> None:
    mock_server.body = b"late value"
    mock_server.gate.clear()
    path = f"/probe/defer?key=deferred-1&hold={mock_server.url}/hold"
    assert probe.request("POST", path).status == 202
    # The deferred fetch is now waiting on the mock, after the response was sent.
    mock_server.wait_for_requests(1)
    assert probe.request("GET", "/probe/kv/deferred-1").status == 404
    mock_server.gate.set()
    counts = probe.drain()
    assert counts["pending"] == 0
    assert counts["settled"] >= 1
    assert probe.request("GET", "/probe/kv/deferred-1").json() == {
        "value": "late value"
    }


def test_failing_deferred_work_is_logged(probe: Emulator) -> None:
    mark = len(probe.logs)
    hold = f"http://127.0.0.1:{free_port()}/refused"
    assert probe.request("POST", f"/probe/defer?key=never&hold={hold}").status == 202
    probe.drain()
    probe.wait_for_log(r"ERROR router\.edge: deferred task failed", after=mark)
    probe.wait_for_log(r"OutboundError: GET http://127\.0\.0\.1:\d+ failed", after=mark)
    assert probe.request("GET", "/probe/kv/never").status == 404


# Outgoing fetch


def fetch_through(probe: Emulator, spec: dict[str, object]) -> tuple[int, dict]:
    reply = probe.request("POST", "/probe/fetch", json.dumps(spec).encode())
    return reply.status, reply.json()


def test_fetch_reaches_local_server(probe: Emulator, mock_server: MockServer) -> None:
    mock_server.status = 207
    mock_server.body = b"multi"
    mock_server.headers = {"content-type": "text/plain", "X-Reply": "yes"}
    status, result = fetch_through(
        probe,
        {
            "method": "POST",
            "url": f"{mock_server.url}/hook?x=1",
            "headers": {"x-from": "worker"},
            "body": "ping",
        },
    )
    assert status == 200
    assert result["status"] == 207
    assert result["body"] == "multi"
    assert result["headers"]["x-reply"] == "yes"
    [received] = mock_server.wait_for_requests(1)
    assert received.method == "POST"
    assert received.path == "/hook?x=1"
    assert received.headers["x-from"] == "worker"
    assert received.body == b"ping"


def test_fetch_refused_raises_outbound_error(probe: Emulator) -> None:
    port = free_port()
    status, result = fetch_through(
        probe, {"method": "GET", "url": f"http://127.0.0.1:{port}/secret-path"}
    )
    assert status == 502
    assert result["type"] == "OutboundError"
    assert result["error"].startswith(f"GET http://127.0.0.1:{port} failed")
    assert "secret-path" not in result["error"]


def test_fetch_timeout_raises_outbound_error(
    probe: Emulator, mock_server: MockServer
) -> None:
    mock_server.gate.clear()
    status, result = fetch_through(
        probe, {"method": "GET", "url": f"{mock_server.url}/slow", "timeout": 0.5}
    )
    mock_server.gate.set()
    assert status == 502
    assert result["type"] == "OutboundError"


def test_requests_run_concurrently(probe: Emulator, mock_server: MockServer) -> None:
    mock_server.gate.clear()
    results: list[tuple[int, dict]] = []
    spec = {"method": "GET", "url": f"{mock_server.url}/held"}
    held = threading.Thread(target=lambda: results.append(fetch_through(probe, spec)))
    held.start()
    mock_server.wait_for_requests(1)
    # The first request waits on the mock; another one is answered meanwhile.
    assert probe.request("GET", "/probe/config").status == 200
    mock_server.gate.set()
    held.join(timeout=60)
    assert [status for status, _ in results] == [200]


# Requests and responses


def test_raw_body_and_headers_reach_handler(probe: Emulator) -> None:
    body = bytes(range(256)) * 3 + b"\r\n\x00tail"
    reply = probe.request(
        "POST",
        "/probe/echo?x=1&x=2&empty=&q=a%20b",
        body,
        {"X-Custom-Header": "Value", "Content-Type": "application/octet-stream"},
    )
    seen = reply.json()
    assert seen["length"] == len(body)
    assert seen["sha256"] == hashlib.sha256(body).hexdigest()
    assert seen["method"] == "POST"
    assert seen["path"] == "/probe/echo"
    assert seen["query"] == {"x": "1", "empty": "", "q": "a b"}
    assert seen["headers"]["x-custom-header"] == "Value"
    assert seen["headers"]["content-type"] == "application/octet-stream"


def test_body_at_limit_is_accepted(probe: Emulator) -> None:
    body = b"a" * MAX_BODY_BYTES
    seen = probe.request("POST", "/probe/echo", body).json()
    assert seen["length"] == MAX_BODY_BYTES
    assert seen["sha256"] == hashlib.sha256(body).hexdigest()


def test_body_over_limit_gets_413(probe: Emulator) -> None:
    reply = probe.request("POST", "/probe/echo", b"a" * (MAX_BODY_BYTES + 1))
    assert reply.status == 413
    assert reply.json()["code"] == "payload_too_large"
    assert reply.json()["limit"] == MAX_BODY_BYTES


def chunks(total: int, size: int = 1024 * 1024) -> Iterator[bytes]:
    for start in range(0, total, size):
        yield b"b" * min(size, total - start)


def test_chunked_body_over_limit_gets_413(probe: Emulator) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", probe.port, timeout=60)
    try:
        connection.request(
            "POST", "/probe/echo", body=chunks(MAX_BODY_BYTES + 1), encode_chunked=True
        )
        response = connection.getresponse()
        payload = json.loads(response.read())
    finally:
        connection.close()
    assert response.status == 413
    assert payload == {
        "error": f"body is larger than the limit of {MAX_BODY_BYTES} bytes",
        "code": "payload_too_large",
        "limit": MAX_BODY_BYTES,
    }


def raw_exchange(port: int, data: bytes) -> http.client.HTTPResponse:
    """Send `data` as is and return the parsed response, its body unread."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=REPLY_TIMEOUT_S)
    sock.sendall(data)
    response = http.client.HTTPResponse(sock)
    response.begin()
    sock.close()  # the response keeps its own reference to the socket file
    return response


def test_declared_length_over_limit_answered_at_once(probe: Emulator) -> None:
    mark = len(probe.logs)
    connection = http.client.HTTPConnection(
        "127.0.0.1", probe.port, timeout=REPLY_TIMEOUT_S
    )
    try:
        # The body is 11 bytes, so reading the declared length would hang.
        headers = {"Content-Length": "99999999999"}
        connection.request("POST", "/probe/echo", b"hello world", headers)
        response = connection.getresponse()
        payload = json.loads(response.read())
    finally:
        connection.close()
    assert response.status == 413
    assert response.getheader("connection") == "close"
    assert payload == {
        "error": f"body is 99999999999 bytes; the limit is {MAX_BODY_BYTES}",
        "code": "payload_too_large",
        "limit": MAX_BODY_BYTES,
    }
    probe.wait_for_log(r"^\[emulator\] POST /probe/echo 413 \d+\.\d ms$", after=mark)


def test_streamed_body_over_limit_stops_reading(probe: Emulator) -> None:
    chunk = b"c" * (1024 * 1024)
    frame = b"%x\r\n%s\r\n" % (len(chunk), chunk)
    # Without a bound on the bytes it drops, the host would read forever.
    send_cap = MAX_BODY_BYTES + DISCARD_LIMIT_BYTES + 64 * len(chunk)
    sent = 0
    send_error: list[OSError] = []
    sock = socket.create_connection(("127.0.0.1", probe.port), timeout=REPLY_TIMEOUT_S)

    def send_endless_body() -> None:
        nonlocal sent
        try:
            sock.sendall(
                b"POST /probe/echo HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n"
            )
            while sent < send_cap:
                sock.sendall(frame)
                sent += len(chunk)
        except OSError as error:
            send_error.append(error)

    sender = threading.Thread(target=send_endless_body)
    sender.start()
    try:
        response = http.client.HTTPResponse(sock)
        response.begin()
        payload = json.loads(response.read())
        sender.join(timeout=REPLY_TIMEOUT_S)
    finally:
        sock.close()
        sender.join()
    assert response.status == 413
    assert payload["code"] == "payload_too_large"
    assert payload["limit"] == MAX_BODY_BYTES
    # The host closed the connection once it had dropped DISCARD_LIMIT_BYTES.
    assert sent < send_cap
    assert len(send_error) == 1
    assert isinstance(send_error[0], (BrokenPipeError, ConnectionResetError))


INCOMPLETE_BODIES = [
    (b"Content-Length: 100\r\n\r\nhello world", "11 of 100 body bytes"),
    (b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", "5 body bytes"),
]


@pytest.mark.parametrize(("head_and_body", "received"), INCOMPLETE_BODIES)
def test_incomplete_body_is_not_answered(
    probe: Emulator, head_and_body: bytes, received: str
) -> None:
    mark = len(probe.logs)
    request = b"POST /probe/echo HTTP/1.1\r\nHost: 127.0.0.1\r\n" + head_and_body
    with socket.create_connection(("127.0.0.1", probe.port), timeout=10) as sock:
        sock.sendall(request)
    line = probe.wait_for_log(r"^\[emulator\] POST /probe/echo ", after=mark)
    assert line.startswith("[emulator] POST /probe/echo not answered ")
    assert line.endswith(f" ms: connection closed after {received}")
    assert not [entry for entry in probe.logs[mark:] if "uncaught error" in entry]


def test_malformed_chunked_body_gets_400(probe: Emulator) -> None:
    mark = len(probe.logs)
    response = raw_exchange(
        probe.port,
        b"POST /probe/echo HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n",
    )
    assert response.status == 400
    assert json.loads(response.read()) == {
        "error": "invalid HTTP request: Invalid character in chunk size",
        "code": "bad_request",
    }
    line = probe.wait_for_log(r"^\[emulator\] POST /probe/echo ", after=mark)
    assert line.startswith("[emulator] POST /probe/echo 400 ")
    assert line.endswith(
        " ms: invalid HTTP request: Invalid character in chunk size,"
        " connection closed after 5 body bytes"
    )


@pytest.mark.parametrize("method", ["TRACE", "CONNECT", "TRACK", "trace"])
def test_forbidden_method_gets_405(emulator: Emulator, method: str) -> None:
    mark = len(emulator.logs)
    reply = emulator.request(method, "/health")
    assert reply.status == 405
    assert reply.headers["content-type"] == "application/json; charset=utf-8"
    assert reply.json() == {
        "error": f"method {method} is forbidden by the Fetch standard,"
        " so Cloudflare does not pass it to a Worker",
        "code": "method_not_allowed",
    }
    line = emulator.wait_for_log(rf"^\[emulator\] {method} /health ", after=mark)
    assert line.startswith(f"[emulator] {method} /health 405")
    assert not [entry for entry in emulator.logs[mark:] if "uncaught" in entry]


@pytest.mark.parametrize("host", ["bad host", "127.0.0.1:99999"])
def test_invalid_host_gets_400(probe: Emulator, host: str) -> None:
    mark = len(probe.logs)
    reply = probe.request("GET", "/probe/config", headers={"Host": host})
    assert reply.status == 400
    assert reply.json() == {
        "error": f'invalid request URL "http://{host}/probe/config":'
        " check the Host header and the request target",
        "code": "bad_request",
    }
    probe.wait_for_log(r"^\[emulator\] GET /probe/config 400 \d+\.\d ms$", after=mark)
    assert not [entry for entry in probe.logs[mark:] if "uncaught" in entry]


PARSER_REJECTIONS = [
    (
        b"X-Bad: a\x01b\r\n",
        400,
        {
            "error": "invalid HTTP request: Invalid header value char",
            "code": "bad_request",
        },
    ),
    (
        b"X-Big: " + b"h" * 20_000 + b"\r\n",
        431,
        {
            "error": "request headers are larger than 16384 bytes",
            "code": "headers_too_large",
        },
    ),
]


@pytest.mark.parametrize(("header", "status", "answer"), PARSER_REJECTIONS)
def test_parser_rejection_gets_json(
    probe: Emulator, header: bytes, status: int, answer: dict[str, str]
) -> None:
    mark = len(probe.logs)
    response = raw_exchange(
        probe.port,
        b"GET /probe/config HTTP/1.1\r\nHost: 127.0.0.1\r\n" + header + b"\r\n",
    )
    assert response.status == status
    assert response.getheader("content-type") == "application/json; charset=utf-8"
    assert json.loads(response.read()) == answer
    line = probe.wait_for_log(r"^\[emulator\] GET /probe/config ", after=mark)
    assert line == f"[emulator] GET /probe/config {status} ({answer['error']})"


def test_unknown_path_gets_json_404(probe: Emulator) -> None:
    reply = probe.request("GET", "/no/such/endpoint")
    assert reply.status == 404
    assert reply.headers["content-type"].startswith("application/json")
    assert reply.json() == {
        "code": "not_found",
        "error": "no endpoint at /no/such/endpoint",
    }


def test_handler_bug_gets_500_json(probe: Emulator) -> None:
    mark = len(probe.logs)
    reply = probe.request("GET", "/probe/boom")
    assert reply.status == 500
    assert reply.json() == {"code": "internal", "error": "internal error"}
    probe.wait_for_log(r"RuntimeError: probe handler failed on purpose", after=mark)


def test_uncaught_worker_error_gets_500_json(probe: Emulator) -> None:
    mark = len(probe.logs)
    reply = probe.request("GET", "/probe/bad-status")
    assert reply.status == 500
    assert reply.json() == {"code": "internal", "error": "uncaught error in the Worker"}
    probe.wait_for_log(
        r"^\[emulator\] uncaught error on GET /probe/bad-status:$", after=mark
    )
    probe.wait_for_log(r"RangeError", after=mark)


def test_request_log_lines(probe: Emulator) -> None:
    mark = len(probe.logs)
    headers = {"X-GitHub-Delivery": "d-1234", "X-GitHub-Event": "push"}
    reply = probe.request("GET", "/probe/config?token=hidden", headers=headers)
    assert reply.status == 200
    probe.wait_for_log(
        r"^INFO router\.edge: GET /probe/config 200 delivery='d-1234' event='push'$",
        after=mark,
    )
    line = probe.wait_for_log(
        r"^\[emulator\] GET /probe/config 200 \d+\.\d ms$", after=mark
    )
    assert "hidden" not in line


def test_request_log_line_without_github_headers(probe: Emulator) -> None:
    mark = len(probe.logs)
    assert probe.request("GET", "/probe/keys?prefix=none:").status == 200
    probe.wait_for_log(r"^INFO router\.edge: GET /probe/keys 200$", after=mark)


def test_request_log_line_cuts_long_path(probe: Emulator) -> None:
    mark = len(probe.logs)
    path = "/probe/" + "x" * 8000
    assert probe.request("GET", path).status == 404
    line = probe.wait_for_log(r"^\[emulator\] GET /probe/x+", after=mark)
    assert line.startswith(f"[emulator] GET {path[:200]}… 404 ")
    assert len(line) < 250


def test_secrets_never_logged(probe: Emulator) -> None:
    probe.request("GET", "/probe/config")
    for line in probe.logs:
        assert WEBHOOK_SECRET not in line
        assert API_TOKEN not in line


# Configuration


def test_vars_file_overrides_wrangler_vars(probe: Emulator) -> None:
    config = probe.request("GET", "/probe/config").json()
    assert config == {
        "environment": "development",
        "github_api_url": VARS_GITHUB_API_URL,
        "webhook_secrets": 1,
        "api_token_set": True,
    }


def test_env_option_selects_environment(
    start_emulator: Callable[..., Emulator], probe_config: Path
) -> None:
    staging = start_emulator(config=probe_config, env="staging")
    config = staging.request("GET", "/probe/config").json()
    assert config["environment"] == "staging"
    assert config["github_api_url"] == "https://api.github.com"
    assert staging.stop() == 0
    staging.wait_for_log(r"^\[emulator\] stopped$")


def parse_dev_vars(text: str) -> dict[str, str]:
    """Parse `text` with the emulator's .dev.vars reader (emulator/config.mjs)."""
    script = (
        'import { parseDevVars } from "./emulator/config.mjs";'
        "process.stdout.write(JSON.stringify(parseDevVars(process.argv[1], 'v')));"
    )
    result = subprocess.run(
        [str(NODE), "--input-type=module", "-e", script, text],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    values: dict[str, str] = json.loads(result.stdout)
    return values


DEV_VARS_CASES = [
    ("A=1\n", {"A": "1"}),
    ("# comment\n\nA = spaced value  \n", {"A": "spaced value"}),
    ("export A=x\r\nB=y\r\n", {"A": "x", "B": "y"}),
    ("A=value # comment\n", {"A": "value"}),
    ("A=value#not-a-comment\n", {"A": "value#not-a-comment"}),
    ('A="a # b"\n', {"A": "a # b"}),
    ('A="line\\nbreak \\"quoted\\""\n', {"A": 'line\nbreak "quoted"'}),
    ("A='raw\\n'\n", {"A": "raw\\n"}),
    ('A="first\nsecond"\nB=2\n', {"A": "first\nsecond", "B": "2"}),
    ("A=\n", {"A": ""}),
    ("A=1\nA=2\n", {"A": "2"}),
    ("A=s1,s2\n", {"A": "s1,s2"}),
]


@pytest.mark.parametrize(("text", "expected"), DEV_VARS_CASES)
def test_dev_vars_parsing(text: str, expected: dict[str, str]) -> None:
    assert parse_dev_vars(text) == expected


def test_dev_vars_unclosed_quote_names_line() -> None:
    script = (
        'import { parseDevVars } from "./emulator/config.mjs";'
        "parseDevVars('A=1\\nB=\"open\\n', 'secrets.vars');"
    )
    result = subprocess.run(
        [str(NODE), "--input-type=module", "-e", script],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert 'secrets.vars:2: B has no closing "' in result.stderr


def run_host(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(NODE), str(HOST), *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_malformed_vars_file_stops_start(tmp_path: Path, probe_config: Path) -> None:
    vars_file = tmp_path / "bad.vars"
    vars_file.write_text("# secrets\nAPI_TOKEN=x\nnot an assignment\n")
    result = run_host(
        "--config", str(probe_config), "--port", "0",
        "--persist", str(tmp_path / "kv"), "--vars-file", str(vars_file),
    )  # fmt: skip
    assert result.returncode == 1
    assert (
        f'{vars_file}:3: expected KEY=VALUE, got "not an assignment"' in result.stderr
    )


def test_unknown_environment_stops_start(tmp_path: Path, probe_config: Path) -> None:
    result = run_host(
        "--config", str(probe_config), "--env", "qa", "--port", "0",
        "--persist", str(tmp_path / "kv"),
    )  # fmt: skip
    assert result.returncode == 1
    assert 'environment "qa" is not defined' in result.stderr
    assert "(defined: staging, production)" in result.stderr


# Core tests under Pyodide (emulator/pyodide-pytest.mjs)

SHARED_MARKER = "read through a symlinked shared folder\n"
SYMLINK_PROBE_TEST = f"""
from pathlib import Path


def test_shared_folder_beside_project():
    marker = Path(__file__).resolve().parents[2] / "shared" / "marker.txt"
    assert marker.read_text() == {SHARED_MARKER!r}
"""


def test_pyodide_runner_follows_symlinked_folders(tmp_path: Path) -> None:
    site = PROJECT_ROOT / "build" / "pyodide-site"
    if not site.is_dir():
        pytest.skip(f"{site} is missing: run `make build/pyodide-site/.built`")
    # A project beside a symlinked ../shared, whose wheels folder is a symlink too.
    (tmp_path / "real-shared").mkdir()
    (tmp_path / "real-shared" / "marker.txt").write_text(SHARED_MARKER)
    (tmp_path / "shared").symlink_to(tmp_path / "real-shared")
    project = tmp_path / "project"
    (project / "emulator").mkdir(parents=True)
    # A copy, not a symlink: Node would resolve a symlinked script to this project.
    runner = project / "emulator" / "pyodide-pytest.mjs"
    shutil.copy(PROJECT_ROOT / "emulator" / "pyodide-pytest.mjs", runner)
    (project / "node_modules").symlink_to(PROJECT_ROOT / "node_modules")
    (project / "build").mkdir()
    (project / "build" / "pyodide-site").symlink_to(site)
    (project / "tests").mkdir()
    (project / "tests" / "test_layout.py").write_text(SYMLINK_PROBE_TEST)

    result = subprocess.run(
        [str(NODE), str(runner), "tests", "-q"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "is not a directory" not in result.stderr
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


# Measurements (printed, not asserted)


def latencies_ms(
    probe: Emulator, send: Callable[[int], int], count: int
) -> list[float]:
    times = []
    for index in range(count):
        begun = time.perf_counter()
        assert send(index) == 200
        times.append((time.perf_counter() - begun) * 1000)
    return sorted(times)


def summary(times: list[float]) -> str:
    p99 = times[min(len(times) - 1, round(len(times) * 0.99))]
    return f"p50 {statistics.median(times):.1f} ms, p99 {p99:.1f} ms"


def test_measure_start_and_latency(
    probe: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    no_kv = latencies_ms(
        probe, lambda i: probe.request("GET", "/probe/config").status, 50
    )
    kv_write = latencies_ms(
        probe, lambda i: probe.request("PUT", f"/probe/kv/bench-{i}", b"v").status, 50
    )
    kv_read = latencies_ms(
        probe, lambda i: probe.request("GET", f"/probe/kv/bench-{i}").status, 50
    )
    with capsys.disabled():
        print(
            f"\nemulator start-up {probe.start_seconds:.2f} s (spawn to ready);"
            f" 50 sequential requests each: no KV {summary(no_kv)};"
            f" KV put {summary(kv_write)}; KV get {summary(kv_read)}"
        )


# The project's Worker


def test_project_unknown_path_gets_json_404(emulator: Emulator) -> None:
    reply = emulator.request("GET", "/no/such/endpoint")
    assert reply.status == 404
    assert reply.json()["code"] == "not_found"


def test_project_health(emulator: Emulator) -> None:
    reply = emulator.request("GET", "/health")
    assert reply.status == 200
    assert reply.json()["status"] == "ok"
    # The built-in policy is package data (TOML) inside python_modules.
    assert reply.json()["policy_source"] == "built-in"


def test_project_signed_ping(emulator: Emulator) -> None:
    body = json.dumps({"zen": "Keep it logically awesome.", "hook_id": 1}).encode()
    headers = webhook_headers(body, "ping", "e2e-ping-1")
    reply = emulator.request("POST", "/webhook/github", body, headers)
    assert reply.status == 200, reply.body
    assert reply.json()["event"] == "ping"
    forged = dict(headers, **{"X-Hub-Signature-256": "sha256=" + "0" * 64})
    rejected = emulator.request("POST", "/webhook/github", body, forged)
    assert rejected.status == 401
    assert rejected.json()["code"] == "invalid_signature"
