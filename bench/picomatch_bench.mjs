// Evaluate the default policy's path rules with npm picomatch and time it.
//
//   node_modules/.bin/node bench/picomatch_bench.mjs INPUT.json
//
// Same work as evaluate_naive in bench/routing_core.py: each rule's patterns
// are compiled once, then applied path by path in reverse order (the last
// pattern that matches decides, `!` negates), stopping as soon as the rule's
// result is known. `dot: true` matches dotfiles, as the router does.
// Prints one JSON report; bench/routing.py runs this script.

import { readFileSync } from "node:fs";
import picomatch from "picomatch";

function compileRule(rule) {
  return {
    name: rule.name,
    match: rule.paths_match,
    patterns: rule.paths.map((pattern) => ({
      negated: pattern.startsWith("!"),
      isMatch: picomatch(pattern.replace(/^!/, ""), { dot: true }),
    })),
  };
}

function selected(path, patterns) {
  for (let index = patterns.length - 1; index >= 0; index -= 1) {
    if (patterns[index].isMatch(path)) return !patterns[index].negated;
  }
  return false;
}

function evaluateRules(rules, paths) {
  const results = {};
  for (const rule of rules) {
    if (rule.match === "any") {
      results[rule.name] = paths.some((path) => selected(path, rule.patterns));
    } else {
      results[rule.name] = paths.length > 0 && paths.every((path) => selected(path, rule.patterns));
    }
  }
  return results;
}

function timed(work, repeats) {
  const result = work();
  const samples = [];
  for (let round = 0; round < repeats; round += 1) {
    const start = performance.now();
    work();
    samples.push(performance.now() - start);
  }
  samples.sort((a, b) => a - b);
  const middle = samples.length >> 1;
  const median =
    samples.length % 2 ? samples[middle] : (samples[middle - 1] + samples[middle]) / 2;
  return { figures: { best_ms: samples[0], median_ms: median, repeats }, result };
}

const spec = JSON.parse(readFileSync(process.argv[2], "utf8"));
const rules = spec.rules.map(compileRule);
const report = { runtime: `node ${process.versions.node}`, inputs: {} };
for (const [label, input] of Object.entries(spec.inputs)) {
  const paths = input.paths;
  const { figures, result } = timed(() => evaluateRules(rules, paths), spec.repeats);
  report.inputs[label] = { paths: paths.length, picomatch: figures, results: result };
}
process.stdout.write(JSON.stringify(report) + "\n");
