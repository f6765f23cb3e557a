// Run bench/routing_core.py inside Pyodide on Node 22 and print its JSON report.
//
//   node_modules/.bin/node bench/pyodide_bench.mjs INPUT.json
//
// The project is mounted at its host path, so shared_routing is imported from
// the working tree. build/pyodide-site provides wcmatch and bracex
// (`make build/pyodide-site/.built`). bench/routing.py runs this script.

import { existsSync } from "node:fs";
import path from "node:path";
import { loadPyodide } from "pyodide";

const PROJECT_ROOT = path.resolve(import.meta.dirname, "..");
const SITE_DIR = path.join(PROJECT_ROOT, "build", "pyodide-site");

async function main() {
  const input = path.resolve(process.argv[2] ?? "");
  if (!existsSync(input)) {
    process.stderr.write(`usage: pyodide_bench.mjs INPUT.json (no file at ${input})\n`);
    return 2;
  }
  if (!existsSync(SITE_DIR)) {
    process.stderr.write(`${SITE_DIR} is missing: run \`make build/pyodide-site/.built\`\n`);
    return 2;
  }
  const pyodide = await loadPyodide({ env: { PYTHONDONTWRITEBYTECODE: "1" } });
  pyodide.mountNodeFS(PROJECT_ROOT, PROJECT_ROOT);
  pyodide.globals.set("project_root", PROJECT_ROOT);
  pyodide.globals.set("input_file", input);
  const report = pyodide.runPython(`
import site, sys

site.addsitedir(project_root + "/build/pyodide-site")
sys.path[:0] = [project_root, project_root + "/bench"]

import routing_core

routing_core.run_file(input_file)
`);
  process.stdout.write(report + "\n");
  return 0;
}

process.exitCode = await main();
