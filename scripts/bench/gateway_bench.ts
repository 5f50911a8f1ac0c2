/**
 * The gateway rows of `deno task bench`: what putting an MCP server behind
 * LOOM (`mcp_upstream`) costs a client, against talking to the same server
 * directly.
 *
 * The server is LOOM's fixture MCP server
 * (`src/upstream/mcp/testdata/fixture_server.ts`, run by Deno over stdio).
 * One SDK client talks to it directly; another to `loom run` of a gateway
 * config wrapping it (its `echo` tool chosen, tier 1, every control on: the
 * gate, the audit log's intent and outcome, redaction, the output scan, the
 * pin check at start; only the rate limit is raised, as in the other rows). Each client makes sequential `echo` calls in
 * interleaved rounds (the order swaps every round), after a warm-up, so the
 * ratio is taken round by round under the same machine load.
 *
 * Prints a Markdown table and one `RESULT {json}` line for `main.ts`.
 *
 * Run: `deno run --config deno.dev.json -A scripts/bench/gateway_bench.ts
 * [--quick] [--rounds=N] [--calls=N]`
 *
 * @module
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Client, StdioClientTransport } from "../../src/mcp/client.ts";
import { LOOM_FLAGS, MAIN } from "../../tests/_helpers.ts";
import { percentile, type Spread, spread } from "./_stats.ts";

const FIXTURE = fileURLToPath(
  new URL("../../src/upstream/mcp/testdata/fixture_server.ts", import.meta.url),
);

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    quick: { type: "boolean", default: false },
    rounds: { type: "string" },
    calls: { type: "string" },
  },
});
const ROUNDS = Number(flags.rounds ?? (flags.quick ? 3 : 7));
const CALLS = Number(flags.calls ?? (flags.quick ? 200 : 1000));
const WARMUP = 50;

/** Per-call latencies of one round, in milliseconds. */
async function round(client: Client, calls: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < calls; i++) {
    const t0 = performance.now();
    const result = await client.callTool({ name: "echo", arguments: { text: `bench ${i}` } });
    times.push(performance.now() - t0);
    if (result.isError === true) throw new Error(`echo failed: ${JSON.stringify(result)}`);
  }
  return times;
}

async function connect(command: string, args: string[], env: Record<string, string>) {
  const client = new Client({ name: "gateway-bench", version: "1.0.0" });
  await client.connect(new StdioClientTransport({ command, args, env, stderr: "ignore" }));
  return client;
}

const root = await Deno.makeTempDir({ prefix: "loom-gateway-bench-" });
const clients: Client[] = [];
try {
  const config = join(root, "fx.yaml");
  await Deno.writeTextFile(
    config,
    `agent:
  name: fx
  mcp_upstream:
    command: ["${FIXTURE}"]
    tools: [{ name: echo, access: read }]
  runtime:
    rate_limit: { per_minute: 1000000 }
`,
  );
  const direct = await connect(Deno.execPath(), ["run", "--no-prompt", FIXTURE], {});
  clients.push(direct);
  const gateway = await connect(Deno.execPath(), [...LOOM_FLAGS, MAIN, "run", config], {
    LOOM_HOME: join(root, "home"),
    NO_COLOR: "1",
  });
  clients.push(gateway);
  await round(direct, WARMUP);
  await round(gateway, WARMUP);

  const medians = { direct: [] as number[], gateway: [] as number[] };
  const p95 = { direct: [] as number[], gateway: [] as number[] };
  const ratios: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 === 0 ? ["direct", "gateway"] as const : ["gateway", "direct"] as const;
    const seen: Record<string, number> = {};
    for (const which of order) {
      const times = (await round(which === "direct" ? direct : gateway, CALLS))
        .sort((a, b) => a - b);
      medians[which].push(percentile(times, 50));
      p95[which].push(percentile(times, 95));
      seen[which] = percentile(times, 50);
    }
    ratios.push(seen.gateway / seen.direct);
    console.error(
      `gateway round ${r + 1}/${ROUNDS}: ${seen.gateway.toFixed(3)} vs ` +
        `${seen.direct.toFixed(3)} ms per call`,
    );
  }

  const ms = (s: Spread) => `${s.median.toFixed(3)} (${s.min.toFixed(3)}–${s.max.toFixed(3)})`;
  const rate = (s: Spread) => `${Math.round(1000 / s.median)}`;
  const lines = [
    `gateway bench${flags.quick ? " (quick)" : ""}: ${ROUNDS} rounds × ${CALLS} sequential ` +
    "echo calls over stdio, median of the rounds (min–max)",
    "",
    "| gateway | through `loom run` (mcp_upstream) | baseline: the server direct |",
    "|---|---|---|",
    `| per-call latency, median, ms | ${ms(spread(medians.gateway))} | ${
      ms(spread(medians.direct))
    } |`,
    `| per-call latency, p95, ms | ${ms(spread(p95.gateway))} | ${ms(spread(p95.direct))} |`,
    `| sequential calls/s | ${rate(spread(medians.gateway))} | ${rate(spread(medians.direct))} |`,
    `| latency ratio, gateway / direct (per round) | ${spread(ratios).median.toFixed(2)} ` +
    `(${spread(ratios).min.toFixed(2)}–${spread(ratios).max.toFixed(2)})× | — |`,
  ];
  console.log(lines.join("\n"));
  console.log(`RESULT ${JSON.stringify({ rounds: ROUNDS, calls: CALLS, medians, p95, ratios })}`);
} finally {
  for (const client of clients) await client.close().catch(() => {});
  await Deno.remove(root, { recursive: true }).catch(() => {});
}
