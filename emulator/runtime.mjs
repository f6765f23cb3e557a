// The Python Worker runtime of the emulator: npm Pyodide with the real
// `workers` SDK, the runtime-internal modules the SDK imports, the bundle laid
// out as workerd lays it out, and ctx.waitUntil.

import { readdirSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { loadPyodide } from "pyodide";

const HOST_MOUNTS = "/host";
const SESSION_DIR = "/session/metadata";
// How long pending waitUntil work may run after a response; workerd allows 30 s.
export const WAIT_UNTIL_LIMIT_MS = 30_000;
// Extensions of the files wrangler uploads from the main module's folder:
// Python modules, text, data and WebAssembly.
const MODULE_EXTENSIONS = new Set([".py", ".txt", ".html", ".sql", ".bin", ".wasm"]);
// The SDK imports its own JS helpers under this prefix (workers-runtime-sdk 1.9.5).
const SDK_JS_PREFIX = "python_modules/workers/";

/** Load Pyodide, forwarding Python's stdout and stderr line by line. */
export async function loadPython() {
  const pyodide = await loadPyodide({
    env: { PYTHONDONTWRITEBYTECODE: "1" },
    stdout: (line) => process.stdout.write(line + "\n"),
    stderr: (line) => process.stderr.write(line + "\n"),
  });
  return pyodide;
}

/**
 * The Worker's waitUntil work: each task is tracked until it settles, and a
 * failure is logged instead of being lost.
 */
export class BackgroundWork {
  #pending = new Set();
  #PyProxy;
  #log;
  settled = 0;
  failed = 0;

  constructor(pyodide, log) {
    this.#PyProxy = pyodide.ffi.PyProxy;
    this.#log = log;
  }

  get pendingCount() {
    return this.#pending.size;
  }

  add(value) {
    // Python passes a borrowed proxy that is destroyed when waitUntil returns,
    // so keep a copy until the work settles (workerd's patchWaitUntil does the same).
    const copy = value instanceof this.#PyProxy ? value.copy() : null;
    const task = Promise.resolve(copy ?? value)
      .then(
        () => {
          this.settled += 1;
        },
        (error) => {
          this.failed += 1;
          this.#log(`waitUntil task failed: ${error?.message ?? error}`);
        },
      )
      .finally(() => {
        this.#pending.delete(task);
        copy?.destroy();
      });
    this.#pending.add(task);
  }

  /** Wait until no work is pending or `timeoutMs` passes; return what is left. */
  async drain(timeoutMs = WAIT_UNTIL_LIMIT_MS) {
    const deadline = Date.now() + timeoutMs;
    while (this.#pending.size > 0 && Date.now() < deadline) {
      let timer;
      const timeout = new Promise((resolve) => {
        timer = setTimeout(resolve, deadline - Date.now());
      });
      await Promise.race([Promise.allSettled([...this.#pending]), timeout]);
      clearTimeout(timer);
    }
    return this.#pending.size;
  }
}

/** The `ctx` of one event; its waitUntil work goes to the shared BackgroundWork. */
class ExecutionContext {
  #background;
  props = {};

  constructor(background) {
    this.#background = background;
  }

  get [Symbol.toStringTag]() {
    return "ExecutionContext";
  }

  waitUntil(promise) {
    this.#background.add(promise);
  }

  passThroughOnException() {}
}

/** The `controller` argument of a scheduled event. */
class ScheduledController {
  type = "scheduled";

  constructor(cron, scheduledTime) {
    this.cron = cron;
    this.scheduledTime = scheduledTime;
  }

  noRetry() {}
}

/**
 * Mount the project's files, provide the SDK's runtime-internal modules, import
 * the main module and return an object with fetch(request) and scheduled(cron, ms).
 *
 * `bundle` = {workerDir, mainModule, pythonModulesDir, sdkDir}; `env` is the
 * object the Worker gets as `self.env`; `compatFlags` lists enabled flags.
 */
export function loadWorker(pyodide, { bundle, env, compatFlags, background }) {
  mountBundle(pyodide, bundle);
  registerRuntimeModules(pyodide, { env, compatFlags, background, sdkDir: bundle.sdkDir });
  const harness = pyodide.pyimport("harness");
  const worker = harness.load(bundle.mainModule);
  harness.destroy();
  return {
    async fetch(request) {
      return await worker.fetch(request, env, new ExecutionContext(background));
    },
    async scheduled(cron, scheduledTime) {
      const controller = new ScheduledController(cron, scheduledTime);
      await worker.scheduled(controller, env, new ExecutionContext(background));
    },
  };
}

function mountBundle(pyodide, { workerDir, pythonModulesDir, sdkDir }) {
  const { FS } = pyodide;
  pyodide.mountNodeFS(`${HOST_MOUNTS}/worker`, workerDir);
  pyodide.mountNodeFS(`${HOST_MOUNTS}/emulator`, import.meta.dirname);
  const sitePackages = pyodide.runPython("import site; site.getsitepackages()[0]");
  pyodide.mountNodeFS(`${sitePackages}/workers`, sdkDir);

  // wrangler uploads the module files of the main module's folder at the
  // bundle root and python_modules/ beside them; link each so the layout
  // matches workerd's and files wrangler would leave out are absent here too.
  FS.mkdirTree(SESSION_DIR);
  for (const file of moduleFiles(workerDir)) {
    FS.mkdirTree(path.posix.dirname(`${SESSION_DIR}/${file}`));
    FS.symlink(`${HOST_MOUNTS}/worker/${file}`, `${SESSION_DIR}/${file}`);
  }
  if (pythonModulesDir !== null) {
    pyodide.mountNodeFS(`${HOST_MOUNTS}/python_modules`, pythonModulesDir);
    FS.symlink(`${HOST_MOUNTS}/python_modules`, `${SESSION_DIR}/python_modules`);
  }
  pyodide.runPython(`import sys; sys.path.insert(0, "${HOST_MOUNTS}/emulator")`);
}

/**
 * List the files under `dir` that wrangler 4.164 uploads by its default module
 * rules for a Python Worker, as paths relative to `dir`.
 * NOTE: `rules` in wrangler.toml are not read; the project sets none.
 */
function moduleFiles(dir) {
  const files = [];
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !MODULE_EXTENSIONS.has(path.extname(entry.name))) continue;
    const file = path.relative(dir, path.join(entry.parentPath, entry.name));
    if (!file.split(path.sep).includes("__pycache__")) files.push(file);
  }
  return files;
}

function registerRuntimeModules(pyodide, { env, compatFlags, background, sdkDir }) {
  // workerd exposes each compatibility flag as a bool; the SDK reads
  // python_request_headers_preserve_commas and python_workflows_implicit_dependencies.
  // NOTE: flags that a compatibility date turns on by default are not derived
  // here: only flags listed in compatibility_flags are true.
  const flags = {
    python_request_headers_preserve_commas: false,
    python_workflows_implicit_dependencies: false,
  };
  for (const flag of compatFlags) flags[flag] = true;
  pyodide.registerJsModule("_cloudflare_compat_flags", flags);

  const waitUntil = (promise) => background.add(promise);
  pyodide.registerJsModule("_pyodide_entrypoint_helper", {
    // The emulator's ExecutionContext already keeps Python proxies alive.
    patchWaitUntil() {},
    cloudflareWorkersModule: { env, waitUntil },
    cloudflareSocketsModule: {},
    doAnImport(name) {
      if (name.startsWith(SDK_JS_PREFIX)) {
        const file = path.join(sdkDir, name.slice(SDK_JS_PREFIX.length));
        return import(pathToFileURL(file).href);
      }
      return import(name);
    },
    patch_env_helper() {
      // NOTE: workers.patch_env is not emulated; the router does not use it.
      throw new Error("workers.patch_env is not supported by the emulator");
    },
  });
}
