/**
 * Agent host benchmark (`sandbox: deno`, see `docs/security-controls.md`): spawn-to-ready time, resident memory
 * of an idle agent host, the latency of one bridge call through the host
 * versus in the LOOM process, and the CPU per call of both under concurrent
 * load (the bench process, plus the host process for calls through it),
 * against the bench upstream in its own process.
 *
 * Run: `deno run --allow-all scripts/bench/sandbox_bench.ts`
 * Options: `--calls=<n>` calls per latency run (default 200), `--spawns=<n>`
 * fresh hosts timed (default 10), `--mode=process|worker` (default process),
 * `--concurrency=<n>` calls in flight for the CPU runs (default 64),
 * `--seconds=<n>` per CPU run (default 3), `--rounds=<n>` CPU runs of each
 * executor, interleaved (default 3; 0 skips them).
 *
 * @module
 */

import { AgentHost, type AgentHostMode } from "../../src/runtime/sandbox/mod.ts";
import { type BridgeExecutor, InProcessExecutor } from "../../src/runtime/mod.ts";
import type { BridgeSpec } from "../../src/config/mod.ts";
import { agentConfig } from "../../src/security/sandbox/_testing.ts";
import { cpuMs, rssKiB } from "./_proc.ts";
import { startUpstreamProcess } from "./_servers.ts";

const args = new Map(
  Deno.args.map((arg) => {
    const [key, value = "true"] = arg.replace(/^--/, "").split("=");
    return [key, value] as const;
  }),
);
if (args.has("help")) {
  console.log(
    "Usage: sandbox_bench.ts [--calls=200] [--spawns=10] [--mode=process|worker]\n" +
      "                        [--concurrency=64] [--seconds=3] [--rounds=3]",
  );
  Deno.exit(0);
}
const CALLS = Number(args.get("calls") ?? 200);
const SPAWNS = Number(args.get("spawns") ?? 10);
const MODE = (args.get("mode") ?? "process") as AgentHostMode;
const CONCURRENCY = Number(args.get("concurrency") ?? 64);
const SECONDS = Number(args.get("seconds") ?? 3);
const ROUNDS = Number(args.get("rounds") ?? 3);

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function ms(n: number): string {
  return `${n.toFixed(2)} ms`;
}

function mib(kib: number | null): string {
  return kib === null ? "n/a" : `${(kib / 1024).toFixed(1)} MiB`;
}

// One signal for all calls, never aborted: an `AbortSignal.timeout` per call
// would stay alive until it fires and weigh on the bench process, not on the
// executor measured (the host enforces `max_execution_time` on its own).
const SIGNAL = new AbortController().signal;

function callOptions() {
  return {
    signal: SIGNAL,
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

/** One CPU run: calls per second and CPU µs per call of the bench process and the host. */
interface CpuRun {
  rate: number;
  benchUs: number;
  hostUs: number;
}

async function cpuRun(
  executor: BridgeExecutor,
  bridge: BridgeSpec,
  hostPid: number | null,
): Promise<CpuRun> {
  const cpu = () => ({ bench: cpuMs("self") ?? NaN, host: hostPid ? cpuMs(hostPid) ?? NaN : 0 });
  let calls = 0;
  const before = cpu();
  const started = performance.now();
  const end = started + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async (_, worker) => {
      while (performance.now() < end) {
        await executor.run(bridge, { id: `item-${worker}` }, callOptions());
        calls++;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const after = cpu();
  return {
    rate: calls / seconds,
    benchUs: (after.bench - before.bench) * 1000 / calls,
    hostUs: (after.host - before.host) * 1000 / calls,
  };
}

function median(runs: CpuRun[], pick: (run: CpuRun) => number): number {
  return quantile(runs.map(pick), 0.5);
}

await using upstream = await startUpstreamProcess();
const config = agentConfig({
  bridges: [{ url: `${upstream.url}/items/{{id}}`, responsePath: "data" }],
  maxExecutionTime: "30s",
});
const bridge = config.bridges[0];

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

// 2. RSS of an idle host, 3. latency through it, 4. CPU per call under load.
const host = new AgentHost(config, { mode: MODE });
const inProcess = new InProcessExecutor();
let idleRss: number | null;
let busyRss: number | null;
let inProcessTimes: number[];
let hostTimes: number[];
const inProcessRuns: CpuRun[] = [];
const hostRuns: CpuRun[] = [];
try {
  await host.run(bridge, { id: "warm" }, callOptions());
  await new Promise((r) => setTimeout(r, 1000));
  idleRss = rssKiB(host.pid!);
  inProcessTimes = await latency(inProcess, bridge);
  hostTimes = await latency(host, bridge);
  if (ROUNDS > 0) {
    // Warm both paths at this concurrency before measuring.
    await cpuRun(inProcess, bridge, null);
    await cpuRun(host, bridge, host.pid);
  }
  for (let round = 0; round < ROUNDS; round++) {
    inProcessRuns.push(await cpuRun(inProcess, bridge, null));
    hostRuns.push(await cpuRun(host, bridge, host.pid));
  }
  busyRss = rssKiB(host.pid!);
} finally {
  await host.close();
}

console.log(`agent host benchmark (mode ${MODE}, Deno ${Deno.version.deno}, ${CALLS} calls)`);
console.log(
  `spawn to ready:       median ${ms(quantile(startups, 0.5))}, ` +
    `max ${ms(Math.max(...startups))} over ${SPAWNS} starts`,
);
console.log(
  `agent host RSS:       idle ${mib(idleRss)}, after the calls ${mib(busyRss)} ` +
    `(bench process ${mib(rssKiB("self"))})`,
);
console.log(
  `call in process:      median ${ms(quantile(inProcessTimes, 0.5))}, p95 ${
    ms(quantile(inProcessTimes, 0.95))
  }`,
);
console.log(
  `call through host:    median ${ms(quantile(hostTimes, 0.5))}, p95 ${
    ms(quantile(hostTimes, 0.95))
  }`,
);
console.log(
  `host overhead:        median ${
    ms(quantile(hostTimes, 0.5) - quantile(inProcessTimes, 0.5))
  } per call`,
);
if (ROUNDS > 0) {
  const inProcessUs = median(inProcessRuns, (r) => r.benchUs);
  const parentUs = median(hostRuns, (r) => r.benchUs);
  const childUs = median(hostRuns, (r) => r.hostUs);
  const totalUs = median(hostRuns, (r) => r.benchUs + r.hostUs);
  console.log(
    `CPU at ${CONCURRENCY} in flight (median of ${ROUNDS} × ${SECONDS} s, all threads):`,
  );
  console.log(
    `  in process:         ${inProcessUs.toFixed(0)} µs per call, ` +
      `${median(inProcessRuns, (r) => r.rate).toFixed(0)} calls/s`,
  );
  console.log(
    `  through host:       ${totalUs.toFixed(0)} µs per call (bench ${parentUs.toFixed(0)} + ` +
      `host ${childUs.toFixed(0)}), ${median(hostRuns, (r) => r.rate).toFixed(0)} calls/s`,
  );
  console.log(`  host overhead:      ${(totalUs - inProcessUs).toFixed(0)} µs per call`);
}
