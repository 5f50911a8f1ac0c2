/**
 * Refusal flood: the worst case for the audit log's size. One client sends
 * calls the gate refuses (invalid arguments, injection attempts, calls past
 * the rate limit), 16 in flight, as fast as the gate answers, for a few
 * seconds. Measures audit records and bytes written per second, and process
 * CPU per refused call (the callers run in the same process, so this is an
 * upper bound for the gate and the log), twice:
 *
 * - `before`: no refusal budget (every refusal its own durable record, as the
 *   gate did before refusals were coalesced);
 * - `after`: the default budget (5 records per client, tool and kind, 100 in
 *   all, per 10 s window; the rest counted in `refusal_summary` records).
 *
 * The gate runs in this process with a real audit log in a temp dir and a
 * real upstream on 127.0.0.1 (only the few calls under the rate limit reach
 * it). Prints a table and a `RESULT {json}` line.
 *
 * Run: `deno run -A scripts/bench/refusal_flood_bench.ts [--seconds=S]`
 *
 * @module
 */

import { parseConfig } from "../../src/config/mod.ts";
import { AuditLog, type RefusalOptions } from "../../src/security/audit/mod.ts";
import { AgentGate } from "../../src/runtime/mod.ts";
import type { ToolCallContext } from "../../src/mcp/mod.ts";
import { cpuMs } from "./_proc.ts";

const args = new Map(
  Deno.args.map((arg) => {
    const [key, value = "true"] = arg.replace(/^--/, "").split("=");
    return [key, value] as const;
  }),
);
const SECONDS = Number(args.get("seconds") ?? 3);
const IN_FLIGHT = 16;
const UNBOUNDED = Number.MAX_SAFE_INTEGER;

/** The figures of one mode. */
export interface FloodResult {
  mode: "before" | "after";
  seconds: number;
  calls: number;
  refused: number;
  records: number;
  bytes: number;
  recordsPerSecond: number;
  bytesPerSecond: number;
  cpuUsPerRefusal: number;
}

const CALLS = [{ q: [5] }, { q: "x; rm -rf /" }, { q: "fine" }] as const;
const ctx: ToolCallContext = {
  signal: new AbortController().signal,
  sessionId: null,
  client: { name: "flood", version: "1" },
  log: () => {},
};

async function flood(
  mode: FloodResult["mode"],
  url: string,
  refusals: RefusalOptions,
): Promise<FloodResult> {
  const dir = await Deno.makeTempDir({ prefix: "loom_flood_" });
  try {
    const config = parseConfig(
      `agent:
  name: flood
  exposes:
    - name: lookup
      description: Look something up
      parameters:
        q: { type: string, max_length: 100 }
      rate_limit: { per_minute: 1 }
  http_bridge:
    - tool_name: lookup
      url: "${url}/lookup"
      query_params: { q: q }
  runtime:
    sandbox: none
`,
      { path: "flood.yaml" },
    );
    const audit = await AuditLog.open(dir);
    const gate = new AgentGate(config, { audit, refusals });
    let calls = 0;
    let executed = 0;
    const cpu0 = cpuMs("self") ?? 0;
    const t0 = performance.now();
    const deadline = t0 + SECONDS * 1000;
    await Promise.all(Array.from({ length: IN_FLIGHT }, async (_, w) => {
      for (let i = w; performance.now() < deadline; i += IN_FLIGHT) {
        const res = await gate.callTool("lookup", CALLS[i % 3], ctx);
        calls++;
        if (!res.isError) executed++;
      }
    }));
    await gate.close(); // the last window's summary
    await audit.close();
    const seconds = (performance.now() - t0) / 1000;
    const cpu = (cpuMs("self") ?? 0) - cpu0;
    const records = audit.stats.records;
    const bytes = (await Deno.stat(audit.path)).size;
    const refused = calls - executed;
    return {
      mode,
      seconds,
      calls,
      refused,
      records,
      bytes,
      recordsPerSecond: records / seconds,
      bytesPerSecond: bytes / seconds,
      cpuUsPerRefusal: (cpu * 1000) / Math.max(1, refused),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const server = Deno.serve(
  { hostname: "127.0.0.1", port: 0, onListen: () => {} },
  () => Response.json({ ok: true }),
);
try {
  const url = `http://127.0.0.1:${server.addr.port}`;
  const before = await flood("before", url, { perKey: UNBOUNDED, perWindow: UNBOUNDED });
  const after = await flood("after", url, {});
  const mib = (n: number) => (n / 1048576).toFixed(2);
  console.log(
    `| refusal flood, 1 client, ${IN_FLIGHT} in flight, ${SECONDS} s | refused calls/s | ` +
      "audit records/s | audit MiB/s (MiB/min) | CPU µs per refused call |",
  );
  console.log("|---|---|---|---|---|");
  for (const r of [before, after]) {
    const label = r.mode === "before"
      ? "before: one durable record per refusal"
      : "after: default refusal budget";
    console.log(
      `| ${label} | ${(r.refused / r.seconds).toFixed(0)} | ${r.recordsPerSecond.toFixed(1)} | ` +
        `${mib(r.bytesPerSecond)} (${mib(r.bytesPerSecond * 60)}) | ` +
        `${r.cpuUsPerRefusal.toFixed(1)} |`,
    );
  }
  console.log(`RESULT ${JSON.stringify({ before, after })}`);
} finally {
  await server.shutdown();
}
