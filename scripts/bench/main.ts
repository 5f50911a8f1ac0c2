/**
 * `deno task bench`: LOOM against its baselines, side by side in one run,
 * checked against the performance targets listed in `docs/performance.md`.
 *
 * Starts, on 127.0.0.1: the upstream (`upstream.ts`, fixed JSON, own process),
 * the SDK baseline (`sdk_server.ts`), and `loom run --transport http` with the
 * flags of `tests/_helpers.ts` (one config with 1 tool, one with 50; every
 * control on, audit durable, `LOOM_HOME` in a temp dir) plus `loom run` over
 * stdio. Then, in interleaved rounds (direct, SDK, LOOM, direct, SDK, LOOM,
 * ...): latency at concurrency 1; throughput and server CPU per call at 16 and
 * 64 over HTTP (wrk, or the Deno generator) and over stdio. LOOM over HTTP is
 * measured twice at each concurrency, on the same process: with a 2025 session
 * (`Mcp-Session-Id`) and stateless (MCP 2026-07-28: `_meta` in each request,
 * `Mcp-Method` and `Mcp-Name` headers), in alternating order from round to
 * round. After the rounds:
 * time to ready, RSS over many calls, durable audit records/s and `audit
 * verify` (`audit_bench.ts`, and the real CLI over the run's own log); LOOM's
 * HTTP client against undici, client CPU per call (`http_client_bench.ts`);
 * audit records and bytes per second under a refusal flood
 * (`refusal_flood_bench.ts`); config load time for 1 and 50 pack-sized
 * configs, with and without the fast YAML path (`config_load_bench.ts`); the
 * mesh (`mesh_ready_bench.ts`): `loom mesh` of 10 and 50 agents from spawn to
 * its first `tools/list` answer, the RSS of the 50-agent mesh with every agent
 * idle, and CPU per call through it against `loom run` of one of its configs.
 * Prints a table of medians with min/max over rounds, LOOM/baseline ratios and
 * each performance target marked PASS or FAIL.
 *
 * Run: `deno run -A scripts/bench/main.ts [--quick] [--rounds=N] [--seconds=S]
 * [--rss-calls=N] [--sdk-rss-calls=N] [--generator=wrk|deno] [--json=FILE]`
 *
 * @module
 */

import { join } from "node:path";
import { parseArgs } from "node:util";
import { DEV_CONFIG_FLAGS, LOOM_FLAGS, MAIN } from "../../tests/_helpers.ts";
import { BENCH_ARGS, BENCH_TOOL, benchConfig } from "./_configs.ts";
import {
  ensureGenerator,
  type Generator,
  type HttpLoad,
  type HttpTarget,
  runHttpLoad,
} from "./_load.ts";
import { cpuMs, denoRunOutput, machineInfo } from "./_proc.ts";
import {
  callOnce,
  callStatelessOnce,
  callTemplate,
  initializeBody,
  openSession,
  type ServerProcess,
  spawnLoomStdio,
  startLoom,
  startSdkServer,
  startUpstreamProcess,
  STATELESS_PROTOCOL_VERSION,
  statelessCallHeaders,
  statelessCallTemplate,
  treeCpuMs,
  treeRssKiB,
} from "./_servers.ts";
import { ROUND_OPTIONS, type Spread, spread } from "./_stats.ts";
import { StdioClient } from "./_stdio.ts";

const { values: flags } = parseArgs({
  // `deno task bench -- --quick` passes the "--" through.
  args: Deno.args[0] === "--" ? Deno.args.slice(1) : Deno.args,
  options: {
    ...ROUND_OPTIONS,
    "rss-calls": { type: "string" },
    "sdk-rss-calls": { type: "string" },
    "ready-runs": { type: "string" },
    generator: { type: "string" },
    sandbox: { type: "string" },
    json: { type: "string" },
    help: { type: "boolean", short: "h" },
  },
});

if (flags.help) {
  console.log(`Usage: deno task bench [--quick] [options]

  --quick               a few minutes: 2 rounds of 1 s, 20k calls for RSS, 100k-record verify
  --rounds N            interleaved rounds (default 5)
  --seconds S           seconds per measurement (default 5)
  --rss-calls N         calls to LOOM for the RSS check (default 1000000)
  --sdk-rss-calls N     calls to the SDK server for its RSS check (default 100000)
  --ready-runs N        spawns for time to ready (default 10)
  --generator wrk|deno  load generator (default: wrk, installed if missing and root)
  --sandbox MODE        runtime.sandbox of the LOOM configs (default: the config default, deno)
  --json FILE           also write every figure as JSON`);
  Deno.exit(0);
}

const QUICK = flags.quick;
const ROUNDS = Number(flags.rounds ?? (QUICK ? 2 : 5));
const SECONDS = Number(flags.seconds ?? (QUICK ? 1 : 5));
const WARM_SECONDS = QUICK ? 1 : 3;
const RSS_CALLS = Number(flags["rss-calls"] ?? (QUICK ? 20_000 : 1_000_000));
const SDK_RSS_CALLS = Number(flags["sdk-rss-calls"] ?? (QUICK ? 10_000 : 100_000));
const READY_RUNS = Number(flags["ready-runs"] ?? (QUICK ? 3 : 10));
const VERIFY_RECORDS = QUICK ? 100_000 : 1_000_000;
const AUDIT_SECONDS = QUICK ? 1 : 3;

const started = performance.now();
const log = (line: string) =>
  console.error(`[${((performance.now() - started) / 1000).toFixed(1).padStart(5)} s] ${line}`);

/** One measurement of one contender in one round. */
interface Sample {
  rps: number;
  p50Us: number;
  p99Us: number;
  /** Server process-tree CPU per call, µs. */
  cpuUs: number;
  /** Load generator CPU as a share of one core, 0-100. */
  clientPct: number;
  errors: number;
  requests: number;
}

/** Samples by "scenario/contender", one per round. */
const samples = new Map<string, Sample[]>();

function record(key: string, s: Sample): void {
  const list = samples.get(key) ?? [];
  list.push(s);
  samples.set(key, list);
}

function fromHttp(load: HttpLoad, cpuDeltaMs: number): Sample {
  return {
    rps: load.rps,
    p50Us: load.p50Us,
    p99Us: load.p99Us,
    cpuUs: load.requests > 0 ? (cpuDeltaMs * 1000) / load.requests : NaN,
    clientPct: (load.clientCpuMs / (load.seconds * 1000)) * 100,
    errors: load.errors,
    requests: load.requests,
  };
}

interface HttpContender {
  name: string;
  url: string;
  /** Server pid whose tree CPU is measured (0: none, e.g. the direct fetch). */
  pid: number;
  session?: string;
  body?: string;
  /** `MCP-Protocol-Version` when not the session era's. */
  protocol?: string;
  /** Extra request headers (a stateless call's `Mcp-Method`, `Mcp-Name`). */
  headers?: Record<string, string>;
}

/** The target a contender's load run sends. */
function loadTarget(c: HttpContender): HttpTarget {
  return {
    url: c.url,
    bodyTemplate: c.body,
    session: c.session,
    protocol: c.protocol,
    headers: c.headers,
  };
}

async function measureHttp(
  generator: Generator,
  c: HttpContender,
  connections: number,
  seconds: number,
): Promise<Sample> {
  const cpu0 = c.pid ? treeCpuMs(c.pid) ?? NaN : NaN;
  const load = await runHttpLoad(generator, loadTarget(c), { connections, seconds });
  const cpu1 = c.pid ? treeCpuMs(c.pid) ?? NaN : NaN;
  return fromHttp(load, cpu1 - cpu0);
}

/**
 * A stateless run with errors measured something else (a header LOOM refuses
 * gives 400s): stop the bench and show what LOOM answers to one call.
 */
async function refuseStatelessErrors(s: Sample, url: string, where: string): Promise<void> {
  if (s.errors === 0) return;
  const probe = await callStatelessOnce(url, BENCH_TOOL, BENCH_ARGS)
    .then(() => "a single call succeeds", (e) => (e as Error).message);
  throw new Error(`loom stateless: ${s.errors} errors in ${s.requests} calls (${where}); ${probe}`);
}

async function measureStdio(
  client: StdioClient,
  pid: number,
  body: string,
  concurrency: number,
  seconds: number,
): Promise<Sample> {
  const cpu0 = treeCpuMs(pid) ?? NaN;
  const self0 = cpuMs("self") ?? NaN;
  const load = await client.load(body, concurrency, seconds);
  const cpu1 = treeCpuMs(pid) ?? NaN;
  const self1 = cpuMs("self") ?? NaN;
  return {
    rps: load.rps,
    p50Us: load.p50Us,
    p99Us: load.p99Us,
    cpuUs: ((cpu1 - cpu0) * 1000) / load.requests,
    clientPct: ((self1 - self0) / (load.seconds * 1000)) * 100,
    errors: load.errors,
    requests: load.requests,
  };
}

/**
 * Spawn a server and time it until an initialize succeeds (ready), then until
 * a first `tools/call` has been answered (which, for LOOM with `sandbox:
 * deno`, includes starting the agent's host process), in ms.
 */
async function timeToReady(
  kind: "loom" | "sdk",
  config: string,
  home: string,
  upstream: string,
): Promise<{ ready: number; firstCall: number }> {
  const t0 = performance.now();
  const server = kind === "loom"
    ? await startLoom(config, { home })
    : await startSdkServer(upstream);
  try {
    let ready = NaN;
    for (;;) {
      const res = await fetch(server.url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
        },
        body: initializeBody(),
      }).catch(() => null);
      const ok = res?.status === 200;
      await res?.body?.cancel();
      if (ok) {
        ready = performance.now() - t0;
        break;
      }
      if (performance.now() - t0 > 30_000) throw new Error(`${kind} never became ready`);
      await new Promise((r) => setTimeout(r, 2));
    }
    const session = await openSession(server.url);
    await callOnce(server.url, session, BENCH_TOOL, BENCH_ARGS);
    return { ready, firstCall: performance.now() - t0 };
  } finally {
    await server.stop("SIGKILL");
  }
}

/** RSS (KiB) of a server over a long run, sampled after each segment. */
interface RssRun {
  calls: number;
  seconds: number;
  /** RSS when the run starts (the server has already served the rounds). */
  startKiB: number;
  /** RSS after the first segment (a tenth of the calls): the warm reference. */
  beforeKiB: number;
  afterKiB: number;
  peakKiB: number;
  /** Growth per call over the second half of the run (least squares), bytes. */
  tailBytesPerCall: number;
  /** Growth per call after the first tenth (least squares), bytes. */
  bytesPerCall: number;
  errors: number;
  points: { calls: number; rssKiB: number }[];
}

async function rssRun(
  generator: Generator,
  c: HttpContender,
  calls: number,
  expectedRps: number,
): Promise<RssRun> {
  const segments = QUICK ? 5 : 10;
  const perSegment = Math.max(1, calls / segments);
  const before = treeRssKiB(c.pid) ?? NaN;
  const points = [{ calls: 0, rssKiB: before }];
  let done = 0;
  let errors = 0;
  let peak = before;
  let rps = Math.max(50, expectedRps);
  const t0 = performance.now();
  while (done < calls) {
    const seconds = Math.max(
      1,
      Math.min(120, Math.round(Math.min(perSegment, calls - done) / rps)),
    );
    const load = await runHttpLoad(generator, loadTarget(c), { connections: 64, seconds });
    done += load.requests;
    errors += load.errors;
    if (load.rps > 0) rps = load.rps;
    const rss = treeRssKiB(c.pid) ?? NaN;
    peak = Math.max(peak, rss);
    points.push({ calls: done, rssKiB: rss });
    log(`  ${c.name} RSS: ${done} calls, ${(rss / 1024).toFixed(1)} MiB`);
  }
  const after = points[points.length - 1].rssKiB;
  const mid = points[Math.floor(points.length / 2)];
  const warm = points[Math.min(1, points.length - 1)];
  return {
    calls: done,
    seconds: (performance.now() - t0) / 1000,
    startKiB: before,
    beforeKiB: warm.rssKiB,
    afterKiB: after,
    peakKiB: peak,
    tailBytesPerCall: slope(points.slice(points.indexOf(mid))) * 1024,
    bytesPerCall: slope(points.slice(points.indexOf(warm))) * 1024,
    errors,
    points,
  };
}

/** Least-squares slope of RSS (KiB) over calls; RSS samples are a sawtooth (GC). */
function slope(points: { calls: number; rssKiB: number }[]): number {
  if (points.length < 2) return NaN;
  const n = points.length;
  const mx = points.reduce((a, p) => a + p.calls, 0) / n;
  const my = points.reduce((a, p) => a + p.rssKiB, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.calls - mx) * (p.rssKiB - my);
    den += (p.calls - mx) ** 2;
  }
  return den > 0 ? num / den : NaN;
}

/** One RSS row cell. */
function rssLine(r: RssRun): string {
  const mib = (k: number) => (k / 1024).toFixed(1);
  return `${mib(r.startKiB)} / ${mib(r.beforeKiB)} → ${mib(r.afterKiB)} (${mib(r.peakKiB)}) ` +
    `over ${r.calls} calls`;
}

interface AuditBench {
  durableRecordsPerSecond: number;
  recordsPerFsync: number;
  verifyRecords: number;
  verifySeconds: number;
  /** The same with the Merkle roots of a checkpoint every 1000 records: what the CLI checks. */
  verifyRootsSeconds: number;
}

async function auditBench(records: number, seconds: number): Promise<AuditBench> {
  const text = await denoRunOutput("audit_bench.ts", [
    "--allow-read",
    "--allow-write",
    "--allow-env",
    new URL("./audit_bench.ts", import.meta.url).pathname,
    `--records=${records}`,
    `--seconds=${seconds}`,
  ]);
  const durable = /in flight: (\d+) records\/s .*?([\d.]+) records\/fsync/.exec(text);
  // The first verify line is the default mode (what `loom audit verify` runs).
  const verify = /^verify\b[^:]*: (\d+) records in ([\d.]+) s/m.exec(text);
  const roots = /^verify \(with Merkle roots[^:]*: \d+ records in ([\d.]+) s/m.exec(text);
  if (!durable || !verify || !roots) {
    throw new Error(`Cannot read audit_bench.ts output:\n${text}`);
  }
  return {
    durableRecordsPerSecond: Number(durable[1]),
    recordsPerFsync: Number(durable[2]),
    verifyRecords: Number(verify[1]),
    verifySeconds: Number(verify[2]),
    verifyRootsSeconds: Number(roots[1]),
  };
}

/**
 * Run a bench script of this folder in its own process, which prints a
 * Markdown table and one `RESULT <json>` line: returns both.
 *
 * - `http_client_bench.ts`: LOOM's HTTP client against undici, client CPU per
 *   call and calls/s;
 * - `refusal_flood_bench.ts`: audit records and bytes per second, and CPU per
 *   refused call, without and with the refusal budget;
 * - `config_load_bench.ts`: `loadConfig()` of 1 and of 50 pack-sized configs,
 *   cold and warm, with and without the fast YAML path;
 * - `mesh_ready_bench.ts`: the mesh rows (ready time, idle RSS, CPU per call
 *   against `loom run`);
 * - `gateway_bench.ts`: an MCP server behind `loom run` (`mcp_upstream`)
 *   against the same server direct, per-call latency;
 * - `import_bench.ts`: `loom import openapi` of GitHub's REST description,
 *   whole and its `issues` tag.
 */
async function subBench(
  script: string,
  args: string[],
): Promise<{ table: string[]; result: unknown }> {
  const text = await denoRunOutput(script, [
    "-A",
    ...DEV_CONFIG_FLAGS,
    new URL(`./${script}`, import.meta.url).pathname,
    ...args,
  ]);
  const result = /^RESULT (.*)$/m.exec(text);
  if (!result) throw new Error(`Cannot read the result of ${script}:\n${text}`);
  const table = text.split("\n").filter((l) => l.startsWith("|"));
  return { table, result: JSON.parse(result[1]) };
}

/** `loom audit verify` (the real CLI) over a LOOM_HOME; returns records and seconds. */
async function cliVerify(home: string): Promise<{ ok: boolean; records: number; seconds: number }> {
  const t0 = performance.now();
  const out = await new Deno.Command(Deno.execPath(), {
    args: [...LOOM_FLAGS, MAIN, "audit", "verify"],
    env: { LOOM_HOME: home, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const seconds = (performance.now() - t0) / 1000;
  const text = new TextDecoder().decode(out.stdout);
  const m = /intact: (\d+) records/.exec(text);
  return { ok: out.code === 0 && m !== null, records: m ? Number(m[1]) : 0, seconds };
}

// ---------------------------------------------------------------------------

const machine = machineInfo();
const root = await Deno.makeTempDir({ prefix: "loom_bench_" });
const cleanups: (() => Promise<unknown>)[] = [];
const results: Record<string, unknown> = {
  machine,
  quick: QUICK,
  rounds: ROUNDS,
  seconds: SECONDS,
};
let stdioChild: Deno.ChildProcess | null = null;
try {
  log(
    `machine: ${machine.cpus} CPU ${machine.model}, ${machine.memoryGiB} GiB, Deno ${machine.deno}, ` +
      `load ${machine.loadAverage}`,
  );
  const generator = await ensureGenerator({
    prefer: flags.generator === "deno" ? "deno" : undefined,
    log,
  });
  log(`load generator: ${generator === "wrk" ? "wrk (1 thread)" : "Deno (load_http.ts)"}`);
  results.generator = generator;

  const upstream = await startUpstreamProcess();
  cleanups.push(() => upstream.stop());
  const config1 = join(root, "bench-1.yaml");
  const config50 = join(root, "bench-50.yaml");
  await Deno.writeTextFile(config1, benchConfig(upstream.url, 1, flags.sandbox));
  await Deno.writeTextFile(config50, benchConfig(upstream.url, 50, flags.sandbox));

  const [sdk, loom1, loom50] = await Promise.all([
    startSdkServer(upstream.url),
    startLoom(config1, { home: join(root, "home-1") }),
    startLoom(config50, { home: join(root, "home-50") }),
  ]);
  for (const s of [sdk, loom1, loom50]) cleanups.push(() => s.stop());
  const sandboxNote = /sandbox "(\w+)" is not enforced/.exec(loom1.log());
  results.sandbox = sandboxNote
    ? `${sandboxNote[1]} (not enforced: bridge in process)`
    : `${flags.sandbox ?? "deno (default)"}`;

  stdioChild = spawnLoomStdio(config1, { home: join(root, "home-stdio") });
  const stdioPid = stdioChild.pid;
  stdioChild.stderr.pipeTo(new WritableStream()).catch(() => {});
  const stdio = new StdioClient(stdioChild);
  await stdio.initialize();

  const body = callTemplate(BENCH_TOOL, BENCH_ARGS);
  const contenders: Record<string, HttpContender> = {
    direct: { name: "direct", url: `${upstream.url}/items/item-42`, pid: 0 },
  };
  for (const s of [sdk, loom1, loom50] as ServerProcess[]) {
    const session = await openSession(s.url);
    const text = await callOnce(s.url, session, BENCH_TOOL, BENCH_ARGS);
    if (!text.includes('"widget"')) throw new Error(`${s.name}: unexpected tool result ${text}`);
    const name = s === loom50 ? "loom50" : s.name;
    contenders[name] = { name, url: s.url, pid: s.pid, session, body };
  }
  // Stateless calls to the same LOOM process: same config, upstream and audit log.
  const statelessText = await callStatelessOnce(loom1.url, BENCH_TOOL, BENCH_ARGS);
  if (!statelessText.includes('"widget"')) {
    throw new Error(`loom stateless: unexpected tool result ${statelessText}`);
  }
  contenders.loomStateless = {
    name: "loomStateless",
    url: loom1.url,
    pid: loom1.pid,
    body: statelessCallTemplate(BENCH_TOOL, BENCH_ARGS),
    protocol: STATELESS_PROTOCOL_VERSION,
    headers: statelessCallHeaders(BENCH_TOOL),
  };
  log(
    `servers up: upstream ${upstream.url}, sdk ${sdk.url}, loom ${loom1.url}, loom50 ${loom50.url}`,
  );

  // Warm-up: JIT, connection pools, the rate limiter's ring buffer.
  for (const name of ["sdk", "loom", "loomStateless", "loom50"]) {
    const warm = await measureHttp(generator, contenders[name], 16, WARM_SECONDS);
    if (name === "loomStateless") await refuseStatelessErrors(warm, loom1.url, "warm-up at c=16");
  }
  await stdio.load(body, 16, WARM_SECONDS);
  log("warm-up done");

  // The targets measured at each concurrency; scenario "c<N>" runs N clients.
  const byConcurrency: [number, string[]][] = [
    [1, ["direct", "sdk", "loom", "loomStateless"]],
    [16, ["direct", "sdk", "loom", "loomStateless", "loom50", "stdio"]],
    [64, ["direct", "sdk", "loom", "loomStateless", "stdio"]],
  ];
  const plan = byConcurrency
    .flatMap(([n, names]) => names.map((c): [string, string, number] => [`c${n}`, c, n]))
    .filter(([s, c]) => !(QUICK && c === "direct" && s !== "c1"));
  for (let round = 1; round <= ROUNDS; round++) {
    // Session and stateless LOOM swap places every other round (order effects cancel).
    const order = round % 2 === 1
      ? plan
      : plan.map((p, i, a) =>
        p[1] === "loom" && a[i + 1]?.[1] === "loomStateless"
          ? a[i + 1]
          : p[1] === "loomStateless" && a[i - 1]?.[1] === "loom"
          ? a[i - 1]
          : p
      );
    for (const [scenario, who, conc] of order) {
      const s = who === "stdio"
        ? await measureStdio(stdio, stdioPid, body, conc, SECONDS)
        : await measureHttp(generator, contenders[who], conc, SECONDS);
      if (who === "loomStateless") {
        await refuseStatelessErrors(s, loom1.url, `${scenario}, round ${round}`);
      }
      record(`${scenario}/${who}`, s);
    }
    log(`round ${round}/${ROUNDS} done`);
  }

  // Time to ready: spawn -> first successful initialize, LOOM and SDK alternating.
  const ready: Record<string, number[]> = { loom: [], sdk: [], loomCall: [], sdkCall: [] };
  for (let i = 0; i < READY_RUNS; i++) {
    const home = join(root, `home-ready-${i}`);
    const loom = await timeToReady("loom", config1, home, upstream.url);
    const sdk = await timeToReady("sdk", config1, home, upstream.url);
    ready.loom.push(loom.ready);
    ready.loomCall.push(loom.firstCall);
    ready.sdk.push(sdk.ready);
    ready.sdkCall.push(sdk.firstCall);
  }
  log(`time to ready: loom ${spread(ready.loom).median.toFixed(0)} ms`);

  // RSS over a long run (the 1-tool LOOM, already warm), then the SDK server.
  const loomRps = spread((samples.get("c64/loom") ?? []).map((s) => s.rps)).median;
  const sdkRps = spread((samples.get("c64/sdk") ?? []).map((s) => s.rps)).median;
  const rss = {
    loom: await rssRun(generator, contenders.loom, RSS_CALLS, loomRps),
    sdk: await rssRun(generator, contenders.sdk, SDK_RSS_CALLS, sdkRps),
  };

  // Stop the servers (graceful: the audit log is flushed), then verify their logs.
  await stdio.close();
  await stdioChild.status;
  stdioChild = null;
  for (const s of [sdk, loom1, loom50]) await s.stop();
  const verified = await cliVerify(join(root, "home-1"));
  const verified50 = await cliVerify(join(root, "home-50"));
  const verifiedStdio = await cliVerify(join(root, "home-stdio"));
  log(
    `loom audit verify: ${verified.records} records in ${verified.seconds.toFixed(2)} s ` +
      `(${verified.ok && verified50.ok && verifiedStdio.ok ? "all logs intact" : "DAMAGED"})`,
  );

  log(`audit bench: ${VERIFY_RECORDS} records…`);
  const audit = await auditBench(VERIFY_RECORDS, AUDIT_SECONDS);

  log("HTTP client bench: LOOM's client against undici…");
  const httpClient = await subBench("http_client_bench.ts", QUICK ? ["--quick"] : []);

  log("refusal flood: one client sending refused calls…");
  const refusalFlood = await subBench("refusal_flood_bench.ts", [`--seconds=${QUICK ? 1 : 3}`]);

  log("config load: 1 and 50 pack-sized configs, with and without the fast YAML path…");
  const configLoad = await subBench("config_load_bench.ts", QUICK ? ["--quick"] : []);

  log("mesh: 10 and 50 agents, ready time, idle RSS, CPU per call against loom run…");
  const meshBench = await subBench("mesh_ready_bench.ts", [
    ...(QUICK ? ["--quick"] : []),
    `--generator=${generator}`,
    ...(flags.sandbox ? [`--sandbox=${flags.sandbox}`] : []),
  ]);
  log("gateway: an MCP server behind loom run against the server direct…");
  const gatewayBench = await subBench("gateway_bench.ts", QUICK ? ["--quick"] : []);
  log("import: GitHub's REST description, whole and one tag…");
  const importBench = await subBench("import_bench.ts", QUICK ? ["--quick"] : []);
  const meshResult = meshBench.result as {
    readyMs: { mesh50: number[] };
    cpuUs: { mesh: number[]; run: number[]; ratio: number[] };
    targets: { readyMs: number; cpuRatio: number };
  };

  // -------------------------------------------------------------------------
  // Report.
  const get = (key: string, field: keyof Sample): Spread =>
    spread((samples.get(key) ?? []).map((s) => s[field]));
  /** Per-round ratio a/b of one field, as a spread. */
  const ratio = (a: string, b: string, field: keyof Sample): Spread => {
    const xs = samples.get(a) ?? [];
    const ys = samples.get(b) ?? [];
    return spread(xs.map((x, i) => x[field] / (ys[i]?.[field] ?? NaN)));
  };
  const diff = (a: string, b: string, field: keyof Sample): Spread => {
    const xs = samples.get(a) ?? [];
    const ys = samples.get(b) ?? [];
    return spread(xs.map((x, i) => x[field] - (ys[i]?.[field] ?? NaN)));
  };
  const fmt = (s: Spread, digits = 0, scale = 1): string =>
    Number.isFinite(s.median)
      ? `${(s.median * scale).toFixed(digits)} (${(s.min * scale).toFixed(digits)}–${
        (s.max * scale).toFixed(digits)
      })`
      : "—";

  const out: string[] = [];
  out.push(
    `LOOM bench ${QUICK ? "(quick) " : ""}— ${ROUNDS} interleaved rounds × ${SECONDS} s, ` +
      `generator ${generator}, median (min–max over rounds)`,
    `machine: ${machine.cpus} × ${machine.model}, ${machine.memoryGiB} GiB, ${machine.os} ` +
      `${machine.kernel}, Deno ${machine.deno} (V8 ${machine.v8}), load avg at start ${machine.loadAverage}`,
    `LOOM: 1 tool (and 50), trust_tier 1, injection block, rate limit 1,000,000/min, ` +
      `durable audit (fsync), sandbox ${results.sandbox}`,
    "",
    "| scenario | contender | calls/s | p50 ms | p99 ms | server CPU µs/call | generator CPU % | errors |",
    "|---|---|---|---|---|---|---|---|",
  );
  const names: Record<string, string> = {
    direct: "direct fetch",
    sdk: "SDK server",
    loom: "LOOM http",
    loomStateless: "LOOM http, stateless",
    loom50: "LOOM http, 50 tools",
    stdio: "LOOM stdio",
  };
  for (
    const [scenario, who] of plan.filter((p, i, a) =>
      a.findIndex((q) => q[0] === p[0] && q[1] === p[1]) === i
    )
  ) {
    const key = `${scenario}/${who}`;
    const errs = (samples.get(key) ?? []).reduce((n, s) => n + s.errors, 0);
    out.push(
      `| ${scenario.replace("c", "c=")} | ${names[who]} | ${fmt(get(key, "rps"))} | ` +
        `${fmt(get(key, "p50Us"), 2, 1e-3)} | ${fmt(get(key, "p99Us"), 2, 1e-3)} | ` +
        `${who === "direct" ? "—" : fmt(get(key, "cpuUs"))} | ` +
        `${who === "stdio" ? "(client in bench) " : ""}${fmt(get(key, "clientPct"))} | ${errs} |`,
    );
  }

  const addedP50 = diff("c1/loom", "c1/direct", "p50Us");
  const cpu64 = ratio("c64/loom", "c64/sdk", "cpuUs");
  const cpu16 = ratio("c16/loom", "c16/sdk", "cpuUs");
  const thr64 = ratio("c64/loom", "c64/sdk", "rps");
  const tools = ratio("c16/loom50", "c16/loom", "cpuUs");
  const stateless16 = ratio("c16/loomStateless", "c16/loom", "cpuUs");
  const stateless64 = ratio("c64/loomStateless", "c64/loom", "cpuUs");
  const readyLoom = spread(ready.loom);
  const readySdk = spread(ready.sdk);
  const verify1M = (audit.verifySeconds / audit.verifyRecords) * 1_000_000;
  const verifyRoots1M = (audit.verifyRootsSeconds / audit.verifyRecords) * 1_000_000;
  // Growth from the first tenth to the end along the fitted line, not between two noisy samples.
  const warmCalls = rss.loom.points[Math.min(1, rss.loom.points.length - 1)].calls;
  const rssGrowthMiB = (rss.loom.bytesPerCall * (rss.loom.calls - warmCalls)) / 1048576;
  const rssFlat = rssGrowthMiB <= Math.max(16, (rss.loom.beforeKiB / 1024) * 0.1) &&
    rss.loom.tailBytesPerCall <= 64;

  out.push(
    "",
    "| other | LOOM | SDK server |",
    "|---|---|---|",
    `| time to ready (spawn → first initialize), ms, ${READY_RUNS} runs | ${fmt(readyLoom)} | ` +
      `${fmt(readySdk)} |`,
    `| spawn → first tools/call answered, ms | ${fmt(spread(ready.loomCall))} | ` +
      `${fmt(spread(ready.sdkCall))} |`,
    `| RSS at start / after the first tenth → end (peak), MiB | ${rssLine(rss.loom)} | ` +
      `${rssLine(rss.sdk)} |`,
    `| RSS growth per call (least squares), after the first tenth / second half, bytes | ` +
      `${rss.loom.bytesPerCall.toFixed(1)} / ${rss.loom.tailBytesPerCall.toFixed(1)} | ` +
      `${rss.sdk.bytesPerCall.toFixed(1)} / ${rss.sdk.tailBytesPerCall.toFixed(1)} |`,
    `| durable audit records/s, 64 in flight (audit_bench.ts) | ` +
      `${audit.durableRecordsPerSecond} (${audit.recordsPerFsync.toFixed(1)} records/fsync) | — |`,
    `| audit verify (audit_bench.ts), ${audit.verifyRecords} records | ` +
      `${audit.verifySeconds.toFixed(2)} s (${verify1M.toFixed(2)} s per 1M) | — |`,
    `| audit verify with Merkle roots (a checkpoint every 1000 records), ${audit.verifyRecords} ` +
      `records | ${audit.verifyRootsSeconds.toFixed(2)} s (${
        verifyRoots1M.toFixed(2)
      } s per 1M) | — |`,
    `| \`loom audit verify\` CLI over this run's log | ${verified.records} records in ` +
      `${verified.seconds.toFixed(2)} s (${
        (verified.seconds / Math.max(1, verified.records) * 1e6).toFixed(2)
      } s per 1M), ${
        verified.ok && verified50.ok && verifiedStdio.ok ? "intact" : "DAMAGED"
      } | — |`,
  );

  out.push("", "HTTP client (http_client_bench.ts), client process CPU:", "", ...httpClient.table);
  out.push("", "Refusal flood (refusal_flood_bench.ts), worst case for the audit log:", "");
  out.push(...refusalFlood.table);
  out.push("", "Config load (config_load_bench.ts), fast YAML path against the yaml package:", "");
  out.push(...configLoad.table);
  out.push("", "Mesh (mesh_ready_bench.ts), `loom mesh` against `loom run` of one config:", "");
  out.push(...meshBench.table);
  out.push("", "Gateway (gateway_bench.ts), an MCP server behind `loom run` against direct:", "");
  out.push(...gatewayBench.table);
  out.push("", "Import (import_bench.ts), `loom import openapi` in process:", "");
  out.push(...importBench.table);
  const meshReady = spread(meshResult.readyMs.mesh50);
  const meshCpu = spread(meshResult.cpuUs.ratio);

  const verdict = (ok: boolean | null) => ok === null ? "n/a" : ok ? "PASS" : "FAIL";
  const targets: [string, string, string, boolean | null][] = [
    [
      "server CPU per call at c=64 ≤ 0.5× SDK",
      `${fmt(cpu64, 2)}×`,
      `${fmt(get("c64/loom", "cpuUs"))} vs ${fmt(get("c64/sdk", "cpuUs"))} µs`,
      cpu64.median <= 0.5,
    ],
    [
      "server CPU per call at c=16 ≤ 0.5× SDK",
      `${fmt(cpu16, 2)}×`,
      `${fmt(get("c16/loom", "cpuUs"))} vs ${fmt(get("c16/sdk", "cpuUs"))} µs`,
      cpu16.median <= 0.5,
    ],
    [
      "throughput at c=64 ≥ 2× SDK",
      `${fmt(thr64, 2)}×`,
      `${fmt(get("c64/loom", "rps"))} vs ${fmt(get("c64/sdk", "rps"))} calls/s`,
      thr64.median >= 2,
    ],
    [
      "added p50 over direct fetch at c=1 ≤ 0.6 ms",
      `${fmt(addedP50, 2, 1e-3)} ms`,
      `${fmt(get("c1/loom", "p50Us"), 2, 1e-3)} vs ${fmt(get("c1/direct", "p50Us"), 2, 1e-3)} ms`,
      addedP50.median <= 600,
    ],
    [
      "same per-call cost with 50 tools (CPU ratio ≤ 1.10)",
      `${fmt(tools, 2)}×`,
      `${fmt(get("c16/loom50", "cpuUs"))} vs ${fmt(get("c16/loom", "cpuUs"))} µs at c=16`,
      tools.median <= 1.1,
    ],
    [
      "stateless CPU per call ≤ 1.05× session (c=16 and c=64, same process)",
      `${fmt(stateless16, 2)}× / ${fmt(stateless64, 2)}×`,
      `c=16 ${fmt(get("c16/loomStateless", "cpuUs"))} vs ${fmt(get("c16/loom", "cpuUs"))} µs, ` +
      `c=64 ${fmt(get("c64/loomStateless", "cpuUs"))} vs ${fmt(get("c64/loom", "cpuUs"))} µs`,
      stateless16.median <= 1.05 && stateless64.median <= 1.05,
    ],
    [
      "RSS flat after the first tenth (fitted growth ≤ max(16 MiB, 10%), ≤ 64 B/call in the second half)",
      `${rssGrowthMiB >= 0 ? "+" : ""}${rssGrowthMiB.toFixed(1)} MiB`,
      `${rss.loom.calls} calls${
        rss.loom.calls < 1_000_000 ? " (target: 1M; use the full run)" : ""
      }`,
      rssFlat,
    ],
    [
      "ready ≤ 250 ms",
      `${readyLoom.median.toFixed(0)} ms`,
      `SDK server ${readySdk.median.toFixed(0)} ms`,
      readyLoom.median <= 250,
    ],
    [
      `mesh of 50 agents ready ≤ ${meshResult.targets.readyMs / 1000} s (spawn → first tools/list)`,
      `${meshReady.median.toFixed(0)} ms`,
      `min–max ${meshReady.min.toFixed(0)}–${meshReady.max.toFixed(0)} ms`,
      meshReady.median <= meshResult.targets.readyMs,
    ],
    [
      `CPU per call through a 50-agent mesh ≤ ${meshResult.targets.cpuRatio}× loom run`,
      `${fmt(meshCpu, 2)}×`,
      `${fmt(spread(meshResult.cpuUs.mesh))} vs ${fmt(spread(meshResult.cpuUs.run))} µs at c=16`,
      meshCpu.median <= meshResult.targets.cpuRatio,
    ],
    [
      "≥ 30k durable audit records/s at 64 in flight",
      `${audit.durableRecordsPerSecond}/s`,
      `${audit.recordsPerFsync.toFixed(1)} records per fsync`,
      audit.durableRecordsPerSecond >= 30_000,
    ],
    [
      "audit verify of 1M records ≤ 5 s (chain and Merkle roots)",
      `${verifyRoots1M.toFixed(2)} s`,
      audit.verifyRecords === 1_000_000
        ? "measured on 1M"
        : `extrapolated from ${audit.verifyRecords}`,
      verifyRoots1M <= 5,
    ],
    ["OpenAPI import of GitHub's spec ≤ 5 s", "—", "importer not implemented yet", null],
  ];
  out.push("", "| target | LOOM | detail | verdict |", "|---|---|---|---|");
  for (const [name, value, detail, ok] of targets) {
    out.push(`| ${name} | ${value} | ${detail} | ${verdict(ok)} |`);
  }
  const errors = [...samples.values()].flat().reduce((n, s) => n + s.errors, 0) +
    rss.loom.errors + rss.sdk.errors;
  out.push(
    "",
    `errors during the run: ${errors}; bench time ${
      ((performance.now() - started) / 1000).toFixed(0)
    } s`,
  );
  console.log(out.join("\n"));

  if (flags.json) {
    Object.assign(results, {
      samples: Object.fromEntries(samples),
      ready,
      rss,
      audit,
      httpClient: httpClient.result,
      refusalFlood: refusalFlood.result,
      configLoad: configLoad.result,
      mesh: meshBench.result,
      gateway: gatewayBench.result,
      import: importBench.result,
      cliVerify: verified,
      targets: targets.map(([name, value, detail, ok]) => ({ name, value, detail, ok })),
    });
    await Deno.writeTextFile(flags.json, JSON.stringify(results, null, 2) + "\n");
  }
} finally {
  if (stdioChild) {
    try {
      stdioChild.kill("SIGKILL");
    } catch { /* gone */ }
    await stdioChild.status.catch(() => {});
  }
  for (const c of cleanups.reverse()) await c().catch(() => {});
  await Deno.remove(root, { recursive: true }).catch(() => {});
}
