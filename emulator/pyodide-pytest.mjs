// Run pytest inside Pyodide, the interpreter the Worker runs on, so a
// CPython-versus-Pyodide or 3.11-versus-3.14 difference in the core shows up.
//
//   node_modules/.bin/node emulator/pyodide-pytest.mjs tests/core [pytest args]
//
// The project and ../shared are mounted at their host paths, so paths the
// tests compute from __file__ match. build/pyodide-site contains the
// pure-Python wheels (pytest, hypothesis, wcmatch, prometheus-client). The exit
// code is pytest's.

import { existsSync, realpathSync, statSync } from "node:fs";
import path from "node:path";
import { loadPyodide } from "pyodide";

const PROJECT_ROOT = path.resolve(import.meta.dirname, "..");
const SITE_DIR = path.join(PROJECT_ROOT, "build", "pyodide-site");
const SHARED_DIR = path.join(path.dirname(PROJECT_ROOT), "shared");
// pytest's cache plugin writes into the project; the run must leave no files.
const PYTEST_ARGS = ["-p", "no:cacheprovider"];

function writer(stream) {
  return {
    write(buffer) {
      stream.write(buffer);
      return buffer.length;
    },
  };
}

async function main() {
  if (!existsSync(SITE_DIR)) {
    process.stderr.write(`${SITE_DIR} is missing: run \`make build/pyodide-site/.built\`\n`);
    return 2;
  }
  // Hypothesis keeps caches under HYPOTHESIS_STORAGE_DIRECTORY: in memory here.
  const pyodide = await loadPyodide({
    env: { PYTHONDONTWRITEBYTECODE: "1", HYPOTHESIS_STORAGE_DIRECTORY: "/tmp/hypothesis" },
  });
  pyodide.setStdout(writer(process.stdout));
  pyodide.setStderr(writer(process.stderr));

  // mountNodeFS (pyodide 314.0.7) rejects a symlink to a directory, so each
  // folder is mounted at the path the tests see and read from its real path.
  pyodide.mountNodeFS("/site", realpathSync(SITE_DIR));
  pyodide.mountNodeFS(PROJECT_ROOT, realpathSync(PROJECT_ROOT));
  // NOTE: NODEFS has no read-only mode; the tests only read ../shared/fixtures.
  if (statSync(SHARED_DIR, { throwIfNoEntry: false })?.isDirectory()) {
    pyodide.mountNodeFS(SHARED_DIR, realpathSync(SHARED_DIR));
  }

  pyodide.globals.set("project_root", PROJECT_ROOT);
  pyodide.globals.set("pytest_args", pyodide.toPy([...PYTEST_ARGS, ...process.argv.slice(2)]));
  return pyodide.runPython(`
import os, site, sys

site.addsitedir("/site")
sys.path.insert(0, project_root)
os.chdir(project_root)

import pytest


class PyodideProfile:
    """Load a hypothesis profile for Pyodide once pytest has started.

    No example database, so hypothesis writes nothing into the mounted
    project, and no per-example deadline, because WebAssembly runs the same
    code slower. Importing hypothesis before pytest starts would keep pytest
    from rewriting its asserts.
    """

    def pytest_configure(self, config):
        from hypothesis import settings

        settings.register_profile("pyodide", parent=settings(), database=None, deadline=None)
        settings.load_profile("pyodide")


int(pytest.main(list(pytest_args), plugins=[PyodideProfile()]))
`);
}

main().then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(`${error?.stack ?? error}\n`);
    process.exit(3);
  },
);
