/**
 * Config load time, with and without the fast YAML path (`src/config/_fast_yaml.ts`).
 *
 * Writes 50 pack-sized configs (about 200 lines each: five tools with typed
 * parameters, bridges with query parameters, headers and JSON bodies,
 * escalation rules, comments) into a temp dir and loads them with the real
 * `loadConfig()` (read, parse, schema, load-time checks, resolve, freeze):
 * one config, and all 50 one after another, as a mesh would at start-up.
 *
 * "Without the fast path" is the same file with a `---` document marker as its
 * first line: the fast path gives up on document markers, so the text goes
 * through the `yaml` package, and everything else `loadConfig()` does is the
 * same. The bench checks both facts before measuring (the fast path takes the
 * plain file and refuses the marked one; both resolve to the same config).
 *
 * Two kinds of figures, fast and library side by side in one run:
 *
 * - cold: a fresh `deno` process per measurement, timing its first loads (what
 *   `loom run` and a mesh pay at start-up: nothing is compiled yet), the two
 *   variants alternating;
 * - warm: in this process, interleaved rounds after a warm-up (the parsers at
 *   full speed, as for a config reload).
 *
 * Prints a table of medians (min-max) and a `RESULT {json}` line.
 *
 * Run: `deno run --config deno.dev.json -A scripts/bench/config_load_bench.ts
 * [--quick] [--rounds=N] [--cold-runs=N]`
 *
 * @module
 */

import { join } from "node:path";
import { deepStrictEqual } from "node:assert/strict";
import { parseArgs } from "node:util";
import { loadConfig } from "../../src/config/mod.ts";
import { parseFastYaml } from "../../src/config/_fast_yaml.ts";
import { type Spread, spread } from "./_stats.ts";
import { denoRunOutput } from "./_proc.ts";

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    quick: { type: "boolean", default: false },
    rounds: { type: "string" },
    "cold-runs": { type: "string" },
    // Internal: run one cold measurement and print its milliseconds.
    "cold-child": { type: "string" },
    dir: { type: "string" },
    count: { type: "string" },
  },
});

const MESH = 50;
const TOOLS = 5;

/** The YAML of one pack-sized agent config (about 200 lines). */
export function packConfig(index: number): string {
  const id = String(index).padStart(2, "0");
  const tools: string[] = [];
  const bridges: string[] = [];
  for (let t = 0; t < TOOLS; t++) {
    const write = t % 3 === 2;
    tools.push(`    # Tool ${t} of pack ${id}.
    - name: tool_${id}_${t}
      description: "Look up or update records of kind ${t} in the example API"
      access: ${write ? "write" : "read"}
      parameters:
        id:
          type: string
          description: "Record id"
          pattern: "[a-z0-9-]{1,32}"
          max_length: 32
        limit:
          type: integer
          default: 10
          required: false
          minimum: 1
          maximum: 100
        sort:
          type: string
          required: false
          enum: [name, created, updated]
        tags:
          type: array
          required: false
          items: { type: string, max_length: 40 }
`);
    bridges.push(`    - tool_name: tool_${id}_${t}
      method: ${write ? "POST" : "GET"}
      url: "https://api${id}.example.com/v1/kind${t}/{{id}}"
${
      write
        ? `      body_template: { id: "{{id}}", tags: "{{tags}}", note: "pack ${id}" }
`
        : `      query_params:
        limit: limit
        sort: sort
`
    }      headers:
        Accept: application/json
        X-Pack: "pack-${id}"
      response_path: data.items
      timeout: 10s
`);
  }
  return `# Pack ${id}: a bench config shaped like a real pack.
agent:
  name: pack-${id}
  version: "1.${index}.0"
  description: "Bench pack ${id} with ${TOOLS} tools"
  exposes:
${tools.join("")}  http_bridge:
${bridges.join("")}  escalation_rules:
    - name: big-page
      reason: "Large result pages need a look"
      tool: "tool_${id}_*"
      access: read
      param_gt: { limit: 50 }
    - name: flagged
      reason: "Flagged records need a look"
      tool: "tool_${id}_2"
      param_contains: { id: flagged }
  runtime:
    # Writes need tier 2.
    trust_tier: 2
    max_execution_time: 30s
    max_response_bytes: 1MiB
    rate_limit: { per_minute: 120 }
    injection: block
    sandbox: deno
    allow_networks: []
    audit_failure: refuse
`;
}

/** Load `count` configs from `dir`, one after another; returns milliseconds. */
async function loadAll(dir: string, variant: "fast" | "lib", count: number): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < count; i++) await loadConfig(join(dir, `${variant}-${i}.yaml`));
  return performance.now() - t0;
}

if (flags["cold-child"]) {
  // A fresh process: time its first loads only.
  const variant = flags["cold-child"] === "lib" ? "lib" : "fast";
  const ms = await loadAll(flags.dir!, variant, Number(flags.count));
  console.log(`COLD ${ms}`);
  Deno.exit(0);
}

const QUICK = flags.quick;
const ROUNDS = Number(flags.rounds ?? (QUICK ? 5 : 20));
const COLD_RUNS = Number(flags["cold-runs"] ?? (QUICK ? 3 : 10));

async function coldRun(dir: string, variant: "fast" | "lib", count: number): Promise<number> {
  const text = await denoRunOutput("Cold run", [
    "-A",
    "--config",
    new URL("../../deno.dev.json", import.meta.url).pathname,
    new URL(import.meta.url).pathname,
    `--cold-child=${variant}`,
    `--dir=${dir}`,
    `--count=${count}`,
  ]);
  const m = /^COLD (\S+)$/m.exec(text);
  if (!m) throw new Error(`Cannot read the cold run's output:\n${text}`);
  return Number(m[1]);
}

const dir = await Deno.makeTempDir({ prefix: "loom_config_bench_" });
try {
  let lines = 0;
  let bytes = 0;
  for (let i = 0; i < MESH; i++) {
    const text = packConfig(i);
    lines += text.split("\n").length - 1;
    bytes += new TextEncoder().encode(text).length;
    if (parseFastYaml(text) === undefined) {
      throw new Error(`The fast path gave up on pack config ${i}`);
    }
    if (parseFastYaml(`---\n${text}`) !== undefined) {
      throw new Error("The fast path took a document marker; the library variant is not one");
    }
    await Deno.writeTextFile(join(dir, `fast-${i}.yaml`), text);
    await Deno.writeTextFile(join(dir, `lib-${i}.yaml`), `---\n${text}`);
  }
  const a = await loadConfig(join(dir, "fast-0.yaml"));
  const b = await loadConfig(join(dir, "lib-0.yaml"));
  deepStrictEqual({ ...a, source: null }, { ...b, source: null });

  // Cold: fresh processes, variants alternating.
  const cold: Record<string, number[]> = { fast1: [], lib1: [], fast50: [], lib50: [] };
  for (let r = 0; r < COLD_RUNS; r++) {
    for (const count of [1, MESH]) {
      for (const variant of r % 2 === 0 ? ["fast", "lib"] as const : ["lib", "fast"] as const) {
        cold[`${variant}${count}`].push(await coldRun(dir, variant, count));
      }
    }
  }

  // Warm: this process, after a warm-up, interleaved.
  for (let i = 0; i < 3; i++) {
    await loadAll(dir, "fast", MESH);
    await loadAll(dir, "lib", MESH);
  }
  const warm: Record<string, number[]> = { fast1: [], lib1: [], fast50: [], lib50: [] };
  for (let r = 0; r < ROUNDS; r++) {
    for (const variant of r % 2 === 0 ? ["fast", "lib"] as const : ["lib", "fast"] as const) {
      warm[`${variant}1`].push(await loadAll(dir, variant, 1));
      warm[`${variant}50`].push(await loadAll(dir, variant, MESH));
    }
  }

  const fmt = (s: Spread, digits = 1): string =>
    `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})`;
  const row = (label: string, kind: Record<string, number[]>, count: number, budget: number) => {
    const fast = spread(kind[`fast${count}`]);
    const lib = spread(kind[`lib${count}`]);
    const saved = lib.median - fast.median;
    return {
      line: `| ${label} | ${fmt(fast)} | ${fmt(lib)} | ${saved.toFixed(1)} | ${
        (saved / budget * 100).toFixed(1)
      }% of ${budget} ms |`,
      fast,
      lib,
      saved,
    };
  };
  const rows = {
    cold1: row(`1 config, cold (${COLD_RUNS} processes)`, cold, 1, 250),
    cold50: row(`${MESH} configs, cold (${COLD_RUNS} processes)`, cold, MESH, 500),
    warm1: row(`1 config, warm (${ROUNDS} rounds)`, warm, 1, 250),
    warm50: row(`${MESH} configs, warm (${ROUNDS} rounds)`, warm, MESH, 500),
  };
  console.log(
    `Config load (loadConfig: read, parse, validate, resolve), ${MESH} pack configs of ` +
      `${Math.round(lines / MESH)} lines / ${Math.round(bytes / MESH)} bytes each; ` +
      `ms, median (min–max)`,
  );
  console.log("");
  console.log("| load | fast path, ms | yaml package only, ms | saved, ms | share of budget |");
  console.log("|---|---|---|---|---|");
  for (const r of Object.values(rows)) console.log(r.line);
  console.log(
    `RESULT ${
      JSON.stringify({
        linesPerConfig: Math.round(lines / MESH),
        bytesPerConfig: Math.round(bytes / MESH),
        ...Object.fromEntries(
          Object.entries(rows).map(([k, r]) => [k, { fast: r.fast, lib: r.lib, saved: r.saved }]),
        ),
      })
    }`,
  );
} finally {
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}
