/**
 * The import rows of `deno task bench`: `loom import openapi` of GitHub's
 * whole REST description (`@octokit/openapi`, about 1,200 operations, about 7 MB
 * of JSON) and of its `issues` tag, in this process: reading the document,
 * resolving its references, making the config and checking it with the
 * real loader (the part of the command that is LOOM's own work; process
 * start-up is the `loom run` ready row's).
 *
 * Prints a Markdown table and one `RESULT {json}` line for `main.ts`.
 *
 * Run: `deno run --config deno.dev.json -A scripts/bench/import_bench.ts
 * [--quick] [--rounds=N]`
 *
 * @module
 */

import { join } from "node:path";
import { parseArgs } from "node:util";
import { importOpenApi, readSpecFiles } from "../../src/generator/mod.ts";
import { type Spread, spread } from "./_stats.ts";

const { values: flags } = parseArgs({
  args: Deno.args,
  options: { quick: { type: "boolean", default: false }, rounds: { type: "string" } },
});
const ROUNDS = Number(flags.rounds ?? (flags.quick ? 3 : 7));

const root = await Deno.makeTempDir({ prefix: "loom-import-bench-" });
try {
  const { default: spec } = await import(
    "npm:@octokit/openapi@23.0.2/generated/api.github.com.json",
    { with: { type: "json" } }
  );
  const file = join(root, "api.github.com.json");
  await Deno.writeTextFile(file, JSON.stringify(spec));
  const bytes = (await Deno.stat(file)).size;

  const whole: number[] = [];
  const issues: number[] = [];
  let tools = { whole: 0, issues: 0 };
  for (let r = 0; r < ROUNDS; r++) {
    let t0 = performance.now();
    const all = importOpenApi(await readSpecFiles(file));
    whole.push(performance.now() - t0);
    t0 = performance.now();
    const tagged = importOpenApi(await readSpecFiles(file), { tags: ["issues"] });
    issues.push(performance.now() - t0);
    tools = { whole: all.tools, issues: tagged.tools };
    console.error(
      `import round ${r + 1}/${ROUNDS}: ${whole.at(-1)!.toFixed(0)} ms whole, ` +
        `${issues.at(-1)!.toFixed(0)} ms issues`,
    );
  }
  const ms = (s: Spread) => `${s.median.toFixed(0)} (${s.min.toFixed(0)}–${s.max.toFixed(0)})`;
  console.log([
    `import bench${flags.quick ? " (quick)" : ""}: ${ROUNDS} rounds, median (min–max)`,
    "",
    "| import | value |",
    "|---|---|",
    `| GitHub REST description, JSON | ${(bytes / 1024 / 1024).toFixed(1)} MiB |`,
    `| whole document: read, resolve, make, load-check, ms (${tools.whole} tools) | ${
      ms(spread(whole))
    } |`,
    `| \`--tag issues\`, ms (${tools.issues} tools) | ${ms(spread(issues))} |`,
  ].join("\n"));
  console.log(`RESULT ${JSON.stringify({ rounds: ROUNDS, bytes, tools, whole, issues })}`);
} finally {
  await Deno.remove(root, { recursive: true }).catch(() => {});
}
