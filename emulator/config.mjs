// Read the Worker's configuration the way wrangler does: wrangler.toml (through
// the project's CPython, see project.py) and the secrets in `.dev.vars`.

import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

// Keys that wrangler does not inherit from the top level into `[env.NAME]`.
// https://developers.cloudflare.com/workers/wrangler/configuration/#non-inheritable-keys
const NON_INHERITABLE = new Set(["vars", "kv_namespaces"]);

/** Run project.py under `python` and return {wrangler, sdkDir}. */
export async function describeProject(python, configPath) {
  const script = path.join(import.meta.dirname, "project.py");
  let stdout;
  try {
    ({ stdout } = await execFileAsync(python, [script, configPath], {
      maxBuffer: 16 * 1024 * 1024,
    }));
  } catch (error) {
    if (error.code === "ENOENT") {
      throw new Error(`Python not found at ${python}: run \`make install\` first`);
    }
    const reason = (error.stderr || error.message).trim();
    throw new Error(`reading ${configPath} failed: ${reason}`);
  }
  const info = JSON.parse(stdout);
  return { wrangler: info.wrangler, sdkDir: info.sdk_dir };
}

/** Select the top level or `[env.NAME]` of a parsed wrangler.toml. */
export function selectEnvironment(wrangler, envName, configPath) {
  if (!envName) {
    return settingsFrom(wrangler, configPath);
  }
  const environments = wrangler.env ?? {};
  const selected = environments[envName];
  if (selected === undefined) {
    const known = Object.keys(environments).join(", ") || "none";
    throw new Error(
      `environment "${envName}" is not defined in ${configPath} (defined: ${known})`,
    );
  }
  const merged = {};
  for (const [key, value] of Object.entries(wrangler)) {
    if (key !== "env" && !NON_INHERITABLE.has(key)) merged[key] = value;
  }
  return settingsFrom({ ...merged, ...selected }, configPath);
}

function settingsFrom(table, configPath) {
  if (typeof table.main !== "string" || !table.main.endsWith(".py")) {
    throw new Error(`${configPath}: "main" must name the Worker's .py entry module`);
  }
  const kvBindings = (table.kv_namespaces ?? []).map((namespace, index) => {
    if (typeof namespace.binding !== "string" || !namespace.binding) {
      throw new Error(`${configPath}: kv_namespaces[${index}] has no "binding" name`);
    }
    return namespace.binding;
  });
  return {
    name: table.name ?? "worker",
    main: table.main,
    compatibilityDate: table.compatibility_date ?? "",
    compatibilityFlags: table.compatibility_flags ?? [],
    vars: table.vars ?? {},
    kvBindings,
    crons: table.triggers?.crons ?? [],
  };
}

/**
 * Return the path of the secrets file wrangler would read: `.dev.vars.ENV`
 * when it exists and an environment is selected, else `.dev.vars`.
 */
export function defaultVarsFile(projectRoot, envName) {
  if (envName) {
    const specific = path.join(projectRoot, `.dev.vars.${envName}`);
    if (existsSync(specific)) return specific;
  }
  return path.join(projectRoot, ".dev.vars");
}

/** Read a `.dev.vars` file into an object; a missing file yields {}. */
export function readVarsFile(file, { required = false } = {}) {
  if (!existsSync(file)) {
    if (required) throw new Error(`vars file ${file} not found`);
    return {};
  }
  return parseDevVars(readFileSync(file, "utf8"), file);
}

const ASSIGNMENT = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*)$/;
const DOUBLE_QUOTE_ESCAPES = { n: "\n", r: "\r", t: "\t", '"': '"', "\\": "\\" };

/**
 * Parse dotenv text: `KEY=VALUE` lines, blank lines, `#` comments and an
 * optional `export ` prefix. A value may be in single, double or back quotes,
 * and a quoted value may span lines. Double quotes expand \n, \r, \t, \" and
 * \\. An unquoted value ends at ` #`. Wrangler skips lines it cannot read, but
 * here a malformed line is an error naming the file and line, because a
 * silently dropped secret is hard to find.
 */
export function parseDevVars(text, file = ".dev.vars") {
  const lines = text.split(/\r?\n/);
  const vars = {};
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index].trimStart();
    if (line.trim() === "" || line.startsWith("#")) continue;
    const match = ASSIGNMENT.exec(line);
    if (match === null) {
      const lineText = JSON.stringify(line.trim());
      throw new Error(`${file}:${index + 1}: expected KEY=VALUE, got ${lineText}`);
    }
    const [, key, rest] = match;
    const quote = rest[0];
    if (quote !== '"' && quote !== "'" && quote !== "`") {
      vars[key] = rest.replace(/\s+#.*$/, "").trim();
      continue;
    }
    const findEnd = quote === '"' ? closingDoubleQuote : (raw) => raw.indexOf(quote);
    // Collect lines until the closing quote, for values that span lines.
    const startLine = index;
    let raw = rest.slice(1);
    let end = findEnd(raw);
    while (end < 0 && index + 1 < lines.length) {
      index += 1;
      raw += "\n" + lines[index];
      end = findEnd(raw);
    }
    if (end < 0) {
      throw new Error(`${file}:${startLine + 1}: ${key} has no closing ${quote}`);
    }
    const value = raw.slice(0, end);
    vars[key] = quote === '"' ? expandEscapes(value) : value;
  }
  return vars;
}

function closingDoubleQuote(raw) {
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === "\\") i += 1;
    else if (raw[i] === '"') return i;
  }
  return -1;
}

function expandEscapes(value) {
  return value.replace(/\\(.)/g, (escape, char) => DOUBLE_QUOTE_ESCAPES[char] ?? escape);
}
