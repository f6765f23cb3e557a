// Offline local runtime for the Python Worker: Node 22 + npm Pyodide + the
// real `workers` SDK + Miniflare KV, served over HTTP on 127.0.0.1.
//
//   node_modules/.bin/node emulator/host.mjs [--port 8787] [--env staging]
//
// Routes besides the Worker's own:
//   GET  /__scheduled?cron=...&time=MS  runs the scheduled handler, like wrangler dev
//   POST /__emulator/drain              waits for pending ctx.waitUntil work

import { existsSync, mkdirSync, realpathSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import { parseArgs } from "node:util";

import {
  defaultVarsFile,
  describeProject,
  readVarsFile,
  selectEnvironment,
} from "./config.mjs";
import { startKv } from "./kv.mjs";
import { BackgroundWork, WAIT_UNTIL_LIMIT_MS, loadPython, loadWorker } from "./runtime.mjs";

const EMULATOR_ROOT = path.resolve(import.meta.dirname, "..");
// The Worker rejects bodies over 25 MB (MAX_BODY_BYTES in worker/entry.py), so
// the host responds 413 itself rather than buffer a body the Worker would reject.
// NOTE: the host's 413 has no CORS headers; the Worker's own 413 has them for
// an allowed Origin.
const MAX_BODY_BYTES = 25 * 1024 * 1024;
// After an early rejection the host reads and drops up to this many more body
// bytes, so a client that sends its whole body before it reads the response
// (Python's http.client does) still gets the response. Cloudflare rejects
// request bodies over 100 MB on the Free and Pro plans:
// https://developers.cloudflare.com/workers/platform/limits/
const DISCARD_LIMIT_BYTES = 100 * 1024 * 1024;
// The Fetch standard's forbidden methods: `new Request()` rejects them, so
// Cloudflare never passes one to a Worker.
const FORBIDDEN_METHODS = new Set(["CONNECT", "TRACE", "TRACK"]);
// Client errors that mean the client has gone (a reset, or the end of the
// stream inside a request), so no client is left to receive a response.
const CLIENT_GONE_CODES = new Set(["ECONNRESET", "HPE_INVALID_EOF_STATE"]);
// Paths in log lines are cut to this many characters.
const LOG_PATH_CHARS = 200;
const USAGE = `usage: host.mjs [options]
  --port N          port on 127.0.0.1 (default 8787; 0 picks a free port)
  --persist DIR     where KV data is kept (default .emulator/kv in the project)
  --env NAME        use [env.NAME] of wrangler.toml
  --vars-file FILE  secrets as KEY=VALUE lines (default .dev.vars, or .dev.vars.NAME)
  --config FILE     wrangler.toml to run (default: the one beside emulator/)
  --python FILE     CPython that reads wrangler.toml (default .venv/bin/python)`;

function say(message) {
  process.stdout.write(`[emulator] ${message}\n`);
}

function parseOptions(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: "string", default: "8787" },
      persist: { type: "string" },
      env: { type: "string" },
      "vars-file": { type: "string" },
      config: { type: "string" },
      python: { type: "string" },
      help: { type: "boolean", default: false },
    },
    strict: true,
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`--port must be an integer from 0 to 65535, got ${values.port}`);
  }
  const config = path.resolve(values.config ?? path.join(EMULATOR_ROOT, "wrangler.toml"));
  const projectRoot = path.dirname(config);
  return {
    help: values.help,
    port,
    config,
    projectRoot,
    envName: values.env ?? "",
    persist: path.resolve(values.persist ?? path.join(projectRoot, ".emulator", "kv")),
    varsFile: values["vars-file"] ? path.resolve(values["vars-file"]) : null,
    python: path.resolve(values.python ?? path.join(EMULATOR_ROOT, ".venv", "bin", "python")),
  };
}

/** Build the Worker's env: wrangler vars, overridden by the secrets file. */
function buildEnv(settings, options, kvBindings) {
  const varsFile = options.varsFile ?? defaultVarsFile(options.projectRoot, options.envName);
  const secrets = readVarsFile(varsFile, { required: options.varsFile !== null });
  const names = Object.keys(secrets);
  say(`secrets from ${varsFile}: ${names.length ? names.join(", ") : "none"}`);
  return { ...settings.vars, ...secrets, ...kvBindings };
}

function bundleLayout(options, settings, sdkDir) {
  const workerDir = path.resolve(options.projectRoot, path.dirname(settings.main));
  const pythonModulesDir = path.join(options.projectRoot, "python_modules");
  if (!existsSync(pythonModulesDir)) {
    say(`WARNING: ${pythonModulesDir} is missing: run \`make vendor\``);
  }
  // Pyodide mounts only real directories, not symlinks to them.
  return {
    workerDir: realpathSync(workerDir),
    mainModule: path.basename(settings.main, ".py"),
    pythonModulesDir: existsSync(pythonModulesDir) ? realpathSync(pythonModulesDir) : null,
    sdkDir: realpathSync(sdkDir),
  };
}

function seconds(since) {
  return ((performance.now() - since) / 1000).toFixed(2);
}

/** Start Miniflare and Pyodide side by side and import the Worker. */
async function start(options) {
  const started = performance.now();
  const projectTask = describeProject(options.python, options.config).then((project) => ({
    ...project,
    settings: selectEnvironment(project.wrangler, options.envName, options.config),
  }));
  const kvTask = projectTask.then(async ({ settings }) => {
    mkdirSync(options.persist, { recursive: true });
    const kv = await startKv(settings.kvBindings, options.persist);
    say(`KV ${settings.kvBindings.join(", ") || "(none)"} in ${options.persist} ` +
      `(ready after ${seconds(started)} s)`);
    return kv;
  });
  const pythonTask = loadPython().then((pyodide) => {
    say(`Pyodide ${pyodide.version} loaded after ${seconds(started)} s`);
    return pyodide;
  });
  const [project, kv, pyodide] = await Promise.allSettled([projectTask, kvTask, pythonTask]);
  const failure = [project, kv, pyodide].find((result) => result.status === "rejected");
  if (failure) {
    if (kv.status === "fulfilled") await kv.value.dispose();
    throw failure.reason;
  }
  const { settings, sdkDir } = project.value;
  try {
    const background = new BackgroundWork(pyodide.value, say);
    const env = buildEnv(settings, options, kv.value.bindings);
    const worker = loadWorker(pyodide.value, {
      bundle: bundleLayout(options, settings, sdkDir),
      env,
      compatFlags: settings.compatibilityFlags,
      background,
    });
    say(`Worker ${settings.name} (${settings.main}) imported after ${seconds(started)} s`);
    return { worker, background, kv: kv.value, settings, started };
  } catch (error) {
    await kv.value.dispose();
    throw error;
  }
}

/** An error response that the host sends itself, without running the Worker. */
class HostRejection extends Error {
  constructor(status, code, message, details = {}) {
    super(message);
    this.status = status;
    this.body = { error: message, code, ...details };
  }
}

/** The connection closed before the whole request body arrived. */
class IncompleteBody extends Error {
  constructor(received, declared) {
    const total = declared === null ? "" : ` of ${declared}`;
    super(`connection closed after ${received}${total} body bytes`);
  }
}

function payloadTooLarge(message) {
  return new HostRejection(413, "payload_too_large", message, { limit: MAX_BODY_BYTES });
}

function forbiddenMethod(method) {
  return new HostRejection(
    405,
    "method_not_allowed",
    `method ${method} is forbidden by the Fetch standard, so Cloudflare does not ` +
      "pass it to a Worker",
  );
}

/** Return the path of a request target without its query, cut for the log. */
function logPath(target) {
  const pathname = target.split("?", 1)[0];
  if (pathname.length <= LOG_PATH_CHARS) return pathname;
  return `${pathname.slice(0, LOG_PATH_CHARS)}…`;
}

/** Return the declared Content-Length, or null when the header is absent. */
function declaredLength(request) {
  // Node's parser has already rejected a Content-Length that is not a number.
  const value = request.headers["content-length"];
  return value === undefined ? null : Number(value);
}

function requestUrl(request, port) {
  const host = request.headers.host ?? `127.0.0.1:${port}`;
  const text = `http://${host}${request.url}`;
  if (!URL.canParse(text)) {
    const shown = JSON.stringify(logPath(text));
    throw new HostRejection(
      400,
      "bad_request",
      `invalid request URL ${shown}: check the Host header and the request target`,
    );
  }
  return new URL(text);
}

/**
 * Read the whole request body. Rejects with a 413 HostRejection as soon as the
 * body passes MAX_BODY_BYTES, and with IncompleteBody when the connection
 * closes first.
 */
function readBody(request, declared) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    const stop = () => {
      request.off("data", onData);
      request.off("end", onEnd);
      request.off("close", onClose);
    };
    function onData(chunk) {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        stop();
        reject(payloadTooLarge(`body is larger than the limit of ${MAX_BODY_BYTES} bytes`));
        return;
      }
      chunks.push(chunk);
    }
    function onEnd() {
      stop();
      resolve(Buffer.concat(chunks, size));
    }
    function onClose() {
      stop();
      reject(new IncompleteBody(size, declared));
    }
    request.on("data", onData);
    request.on("end", onEnd);
    request.on("close", onClose);
  });
}

/**
 * Send a HostRejection as JSON. While the body is still arriving, the response
 * goes out at once with `connection: close`, but it ends, closing the
 * connection, only after the rest of the body has been read and dropped. Past
 * DISCARD_LIMIT_BYTES the connection is closed at once.
 */
function sendRejection(request, response, rejection) {
  const payload = Buffer.from(JSON.stringify(rejection.body));
  const headers = {
    "content-type": "application/json; charset=utf-8",
    "content-length": payload.length,
  };
  if (request.complete) {
    response.writeHead(rejection.status, headers);
    response.end(payload);
    return;
  }
  response.writeHead(rejection.status, { ...headers, connection: "close" });
  response.write(payload);
  let dropped = 0;
  request.on("data", (chunk) => {
    dropped += chunk.length;
    if (dropped > DISCARD_LIMIT_BYTES) request.socket.destroy();
  });
  request.on("end", () => response.end());
  request.resume();
}

/** Write a HostRejection straight to a socket, bypassing any ServerResponse, and close it. */
function writeRawRejection(socket, rejection) {
  const payload = JSON.stringify(rejection.body);
  const head = [
    `HTTP/1.1 ${rejection.status} ${http.STATUS_CODES[rejection.status]}`,
    "content-type: application/json; charset=utf-8",
    `content-length: ${Buffer.byteLength(payload)}`,
    "connection: close",
  ];
  socket.end(`${head.join("\r\n")}\r\n\r\n${payload}`, () => socket.destroy());
}

function toWebRequest(request, url, body) {
  const headers = new Headers();
  try {
    for (let i = 0; i < request.rawHeaders.length; i += 2) {
      headers.append(request.rawHeaders[i], request.rawHeaders[i + 1]);
    }
    const hasBody = request.method !== "GET" && request.method !== "HEAD";
    return new Request(url, {
      method: request.method,
      headers,
      body: hasBody ? body : undefined,
    });
  } catch (error) {
    // A request that the Fetch API rejects is the client's error, not the Worker's.
    throw new HostRejection(400, "bad_request", `invalid request: ${error.message}`);
  }
}

async function writeWebResponse(response, webResponse) {
  const body = Buffer.from(await webResponse.arrayBuffer());
  for (const [name, value] of webResponse.headers) {
    if (name !== "set-cookie") response.appendHeader(name, value);
  }
  for (const cookie of webResponse.headers.getSetCookie()) {
    response.appendHeader("set-cookie", cookie);
  }
  const mayHaveBody = webResponse.status >= 200 && ![204, 304].includes(webResponse.status);
  if (mayHaveBody && !response.hasHeader("content-length")) {
    response.setHeader("content-length", body.length);
  }
  response.writeHead(webResponse.status, webResponse.statusText || undefined);
  response.end(body);
}

function writeJson(response, status, data) {
  response.writeHead(status, { "content-type": "application/json; charset=utf-8" });
  response.end(JSON.stringify(data));
}

async function runScheduled(app, url, response) {
  const cron = url.searchParams.get("cron") ?? "";
  const time = url.searchParams.get("time");
  const scheduledTime = time === null ? Date.now() : Number(time);
  if (!Number.isFinite(scheduledTime)) {
    response.writeHead(400, { "content-type": "text/plain; charset=utf-8" });
    response.end(`time must be milliseconds since the epoch, got ${JSON.stringify(time)}\n`);
    return 400;
  }
  if (!app.settings.crons.includes(cron)) {
    say(`note: cron ${JSON.stringify(cron)} is not among the configured triggers`);
  }
  await app.worker.scheduled(cron, scheduledTime);
  response.writeHead(200, { "content-type": "text/plain; charset=utf-8" });
  response.end("Ran scheduled event\n");
  return 200;
}

async function drain(app, response) {
  const before = { settled: app.background.settled, failed: app.background.failed };
  const pending = await app.background.drain();
  writeJson(response, 200, {
    settled: app.background.settled - before.settled,
    failed: app.background.failed - before.failed,
    pending,
  });
  return 200;
}

async function dispatch(app, request, response, port) {
  if (FORBIDDEN_METHODS.has(request.method.toUpperCase())) {
    throw forbiddenMethod(request.method);
  }
  const declared = declaredLength(request);
  if (declared !== null && declared > MAX_BODY_BYTES) {
    throw payloadTooLarge(`body is ${declared} bytes; the limit is ${MAX_BODY_BYTES}`);
  }
  const url = requestUrl(request, port);
  const body = await readBody(request, declared);
  if (url.pathname === "/__scheduled") return await runScheduled(app, url, response);
  if (url.pathname === "/__emulator/drain" && request.method === "POST") {
    return await drain(app, response);
  }
  const webResponse = await app.worker.fetch(toWebRequest(request, url, body));
  await writeWebResponse(response, webResponse);
  return webResponse.status;
}

/**
 * Respond to a request whose dispatch threw, when the client is still there, and
 * return its log line's status and detail.
 */
function respondToFailure(request, response, error, rejection) {
  if (error instanceof HostRejection && !response.headersSent) {
    sendRejection(request, response, error);
    return { status: `${error.status}`, detail: "" };
  }
  if (error instanceof IncompleteBody) {
    // The socket is closed already: the client closed it, or the clientError
    // handler sent `rejection` and closed it.
    if (rejection) {
      const detail = `: ${rejection.body.error}, ${error.message}`;
      return { status: `${rejection.status}`, detail };
    }
    return { status: "not answered", detail: `: ${error.message}` };
  }
  // The Worker maps its own errors, so this is a bug in the Worker or here.
  const target = `${request.method} ${logPath(request.url)}`;
  process.stderr.write(`[emulator] uncaught error on ${target}:\n`);
  process.stderr.write(`${error?.stack ?? error}\n`);
  if (!response.headersSent) {
    writeJson(response, 500, { error: "uncaught error in the Worker", code: "internal" });
  } else {
    response.destroy();
  }
  return { status: "500", detail: "" };
}

/** Return the host's rejection of a request that Node's HTTP parser rejected. */
function parserRejection(error, method) {
  const reason = error.reason ?? error.message;
  if (error.code === "HPE_INVALID_METHOD" && FORBIDDEN_METHODS.has(method?.toUpperCase())) {
    return forbiddenMethod(method);
  }
  // The same statuses as Node's own clientError response.
  switch (error.code) {
    case "HPE_HEADER_OVERFLOW":
      return new HostRejection(
        431,
        "headers_too_large",
        `request headers are larger than ${http.maxHeaderSize} bytes`,
      );
    case "HPE_CHUNK_EXTENSIONS_OVERFLOW":
      return payloadTooLarge(`chunk extensions are too large: ${reason}`);
    case "ERR_HTTP_REQUEST_TIMEOUT":
      return new HostRejection(
        408,
        "request_timeout",
        "request timed out before it was complete",
      );
    default:
      return new HostRejection(400, "bad_request", `invalid HTTP request: ${reason}`);
  }
}

/** Return the method and target of the request line in `packet`, if they are printable. */
function requestLine(packet) {
  const line = packet?.toString("latin1").split("\r\n", 1)[0] ?? "";
  const [method, target] = line.split(" ");
  const token = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
  const printable = /^[\x21-\x7e]+$/;
  if (!token.test(method ?? "") || !printable.test(target ?? "")) return {};
  return { method, target };
}

function serve(app, port) {
  // The response in progress on each socket, and the rejection that the
  // clientError handler sent in its place, if any.
  const inFlight = new WeakMap();

  const server = http.createServer(async (request, response) => {
    const begun = performance.now();
    const socket = request.socket;
    const state = { response, rejection: null };
    inFlight.set(socket, state);
    response.once("close", () => {
      if (inFlight.get(socket) === state) inFlight.delete(socket);
    });
    let outcome;
    try {
      const status = await dispatch(app, request, response, port());
      outcome = { status, detail: "" };
    } catch (error) {
      outcome = respondToFailure(request, response, error, state.rejection);
    }
    const ms = (performance.now() - begun).toFixed(1);
    const target = `${request.method} ${logPath(request.url)}`;
    say(`${target} ${outcome.status} ${ms} ms${outcome.detail}`);
  });

  // Node hands a CONNECT request to this event, not to the request handler.
  server.on("connect", (request, socket) => {
    // The client may reset the connection before the response is written; the
    // socket is closed either way.
    socket.on("error", () => socket.destroy());
    const rejection = forbiddenMethod(request.method);
    writeRawRejection(socket, rejection);
    say(`${request.method} ${logPath(request.url)} 405 (${rejection.body.error})`);
  });

  // Replaces Node's own handler, which responds to these errors without a body.
  server.on("clientError", (error, socket) => {
    const state = inFlight.get(socket);
    const gone = CLIENT_GONE_CODES.has(error.code) || !socket.writable;
    if (gone || state?.response.headersSent) {
      socket.destroy();
      return;
    }
    const { method, target } = requestLine(error.rawPacket);
    const rejection = parserRejection(error, method);
    writeRawRejection(socket, rejection);
    if (state) {
      // The body is cut short, so the request's handler logs the line.
      state.rejection = rejection;
      return;
    }
    const shown = method ? `${method} ${logPath(target)}` : "invalid request";
    say(`${shown} ${rejection.status} (${rejection.body.error})`);
  });
  return server;
}

async function main() {
  const options = parseOptions(process.argv.slice(2));
  if (options.help) {
    process.stdout.write(USAGE + "\n");
    return;
  }
  const app = await start(options);
  const server = serve(app, () => server.address().port);
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, "127.0.0.1", resolve);
  });
  const url = `http://127.0.0.1:${server.address().port}`;
  say(`ready on ${url} (started in ${seconds(app.started)} s)`);

  let stopping = false;
  const stop = async (signal) => {
    if (stopping) {
      say(`${signal} again: exiting without waiting`);
      process.exit(1);
    }
    stopping = true;
    say(`${signal}: stopping`);
    await new Promise((resolve) => server.close(resolve));
    const left = await app.background.drain(WAIT_UNTIL_LIMIT_MS);
    if (left > 0) say(`${left} waitUntil task(s) still pending after 30 s, dropped`);
    await app.kv.dispose();
    say("stopped");
    process.exit(0);
  };
  for (const signal of ["SIGTERM", "SIGINT"]) {
    // Miniflare (4.20260730.0) installs handlers that exit at once with
    // 128 + signal; replace them so pending waitUntil work can finish first.
    process.removeAllListeners(signal);
    process.on(signal, () => stop(signal));
  }
}

main().catch((error) => {
  process.stderr.write(`[emulator] failed to start: ${error?.stack ?? error}\n`);
  process.exit(1);
});
