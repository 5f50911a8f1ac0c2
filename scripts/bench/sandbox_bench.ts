/**
 * Agent host benchmark (SPEC section 5): spawn-to-ready time, resident memory
 * of an idle agent host, and the latency of one bridge call through the host
 * versus in the LOOM process, against a loopback upstream.
 *
 * Run: `deno run --allow-all scripts/bench/sandbox_bench.ts`
 * Options: `--calls=<n>` calls per latency run (default 200), `--spawns=<n>`
 * fresh hosts timed (default 10), `--mode=process|worker` (default process).
 *
 * @module
 */

import { AgentHost, type AgentHostMode } from "../../src/runtime/host/mod.ts";
import { InProcessExecutor } from "../../src/runtime/executor.ts";
import type { BridgeExecutor } from "../../src/runtime/executor.ts";
import type { BridgeSpec } from "../../src/config/mod.ts";
import { agentConfig } from "../../src/security/sandbox/_testing.ts";

const args = new Map(
  Deno.args.map((arg) => {
    const [key, value = "true"] = arg.replace(/^--/, "").split("=");
    return [key, value] as const;
  }),
);
const CALLS = Number(args.get("calls") ?? 200);
const SPAWNS = Number(args.get("spawns") ?? 10);
const MODE = (args.get("mode") ?? "process") as AgentHostMode;

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function ms(n: number): string {
  return `${n.toFixed(2)} ms`;
}

async function rssKiB(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const line = status.split("\n").find((l) => l.startsWith("VmRSS:"));
  return Number(/(\d+)/.exec(line ?? "")?.[1] ?? NaN);
}

function callOptions() {
  return {
    signal: AbortSignal.timeout(10_000),
    maxResponseBytes: 1024 * 1024,
    allowNetworks: [] as string[],
    secrets: new Map<string, string>(),
  };
}

async function latency(executor: BridgeExecutor, bridge: BridgeSpec): Promise<number[]> {
  for (let i = 0; i < 20; i++) await executor.run(bridge, { id: `w${i}` }, callOptions());
  const times: number[] = [];
  for (let i = 0; i < CALLS; i++) {
    const t = performance.now();
    await executor.run(bridge, { id: String(i) }, callOptions());
    times.push(performance.now() - t);
  }
  return times;
}

const server = Deno.serve(
  { hostname: "127.0.0.1", port: 0, onListen() {} },
  (req) => Response.json({ data: { path: new URL(req.url).pathname, ok: true } }),
);
const config = agentConfig({
  bridges: [{ url: `http://127.0.0.1:${server.addr.port}/items/{{id}}`, responsePath: "data" }],
});
const bridge = config.bridges[0];

try {
  // 1. Spawn to ready, fresh processes (first call drives the start).
  const startups: number[] = [];
  for (let i = 0; i < SPAWNS; i++) {
    let spawned = 0;
    let ready = 0;
    const host = new AgentHost(config, {
      mode: MODE,
      onEvent: (e) => {
        if (e.action === "spawn") spawned = performance.now();
        if (e.action === "ready") ready = performance.now();
      },
    });
    await host.run(bridge, { id: "warm" }, callOptions());
    startups.push(ready - spawned);
    await host.close();
  }

  // 2. RSS of an idle host, and 3. latency through it.
  const host = new AgentHost(config, { mode: MODE });
  await host.run(bridge, { id: "warm" }, callOptions());
  await new Promise((r) => setTimeout(r, 1000));
  const idleRss = await rssKiB(host.pid!);

  const inProcess = await latency(new InProcessExecutor(), bridge);
  const throughHost = await latency(host, bridge);
  const busyRss = await rssKiB(host.pid!);
  await host.close();

  const parentRss = await rssKiB(Deno.pid);
  console.log(`agent host benchmark (mode ${MODE}, Deno ${Deno.version.deno}, ${CALLS} calls)`);
  console.log(
    `spawn to ready:       median ${ms(quantile(startups, 0.5))}, ` +
      `max ${ms(Math.max(...startups))} over ${SPAWNS} starts`,
  );
  console.log(
    `agent host RSS:       idle ${(idleRss / 1024).toFixed(1)} MiB, ` +
      `after ${CALLS + 20} calls ${(busyRss / 1024).toFixed(1)} MiB ` +
      `(bench process ${(parentRss / 1024).toFixed(1)} MiB)`,
  );
  console.log(
    `call in process:      median ${ms(quantile(inProcess, 0.5))}, p95 ${
      ms(quantile(inProcess, 0.95))
    }`,
  );
  console.log(
    `call through host:    median ${ms(quantile(throughHost, 0.5))}, p95 ${
      ms(quantile(throughHost, 0.95))
    }`,
  );
  console.log(
    `host overhead:        median ${
      ms(quantile(throughHost, 0.5) - quantile(inProcess, 0.5))
    } per call`,
  );
} finally {
  await server.shutdown();
}
