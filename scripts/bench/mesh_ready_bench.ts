/**
 * The mesh rows of `deno task bench`: what serving many agents through one
 * `loom mesh DIR` costs, against `loom run` of one of its configs.
 *
 * The agents are the bench's own configs (`_configs.ts`: three tools each,
 * every control on, all bridging to one upstream, `upstream.ts` in its own
 * process), in directories of 10 and of 50, served with `--namespace`.
 *
 * - Time to ready: from spawning `loom mesh DIR` (the flags of `deno task
 *   loom`, over stdio, the way Claude Desktop runs it) to the answer of its
 *   first `tools/list`, checked to hold every agent's tools; for 10 and 50
 *   agents, interleaved with the same measure of `loom run` of one config (the
 *   baseline: Deno's and LOOM's own start-up). One untimed spawn first fills
 *   Deno's code cache and the `LOOM_HOME` registry, as on any machine after
 *   the first start.
 * - Memory: the resident set of the mesh process of 50 agents right after
 *   that answer. Listing starts no agent host process (the bench checks that
 *   the process has no children), so it is LOOM's process alone.
 * - `Mesh.open()` and `listTools()` in this process (load, signature check,
 *   gate of every agent), for 50 agents: the share of the ready time that is
 *   LOOM's own work rather than process start-up.
 * - CPU per call: `loom mesh` of the 50 agents and `loom run` of the first
 *   agent's config, both over HTTP with a 2025 session, calling the same tool
 *   of the same agent (`agent_00__get_item` and `get_item`) at concurrency 16
 *   with the bench's load generator, in interleaved rounds (the order swaps
 *   every round). CPU is the server's whole process tree (LOOM and the agent's
 *   sandbox process) per answered call; the ratio is taken round by round.
 *
 * Prints a Markdown table, the two target verdicts, and one `RESULT {json}`
 * line for `main.ts`.
 *
 * Run: `deno run --config deno.dev.json -A scripts/bench/mesh_ready_bench.ts
 * [--quick] [--ready-runs=N] [--rounds=N] [--seconds=S] [--generator=wrk|deno]
 * [--sandbox=MODE]`
 *
 * @module
 */

import { join } from "node:path";
import { parseArgs } from "node:util";
import { Mesh, servedToolName } from "../../src/app/mod.ts";
import { AuditLog } from "../../src/security/audit/mod.ts";
import { ensureHome, type LoomHome, resolveHome } from "../../src/store/mod.ts";
import { LOOM_FLAGS, MAIN } from "../../tests/_helpers.ts";
import {
  BENCH_ARGS,
  BENCH_TOOL,
  MESH_AGENT_TOOLS,
  meshAgentName,
  writeMeshConfigs,
} from "./_configs.ts";
import { ensureGenerator, runHttpLoad } from "./_load.ts";
import { rssKiB } from "./_proc.ts";
import {
  callOnce,
  callTemplate,
  descendants,
  openSession,
  type ServerProcess,
  startLoom,
  startLoomMesh,
  startUpstreamProcess,
  treeCpuMs,
} from "./_servers.ts";
import { type Spread, spread } from "./_stats.ts";

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    quick: { type: "boolean" },
    "ready-runs": { type: "string" },
    rounds: { type: "string" },
    seconds: { type: "string" },
    generator: { type: "string" },
    sandbox: { type: "string" },
  },
});
const QUICK = flags.quick ?? false;
const READY_RUNS = Number(flags["ready-runs"] ?? (QUICK ? 3 : 7));
const ROUNDS = Number(flags.rounds ?? (QUICK ? 2 : 5));
const SECONDS = Number(flags.seconds ?? (QUICK ? 1 : 5));
const WARM_SECONDS = QUICK ? 1 : 3;
const SIZES = [10, 50] as const;
const CONCURRENCY = 16;
/** Target (`docs/performance.md`): a mesh of 50 agents answers its first `tools/list` within this. */
const MESH_READY_TARGET_MS = 500;
/** Target: per-call CPU through a 50-agent mesh at most this many times a single `loom run`'s. */
const MESH_CPU_TARGET_RATIO = 1.1;

const started = performance.now();
const log = (line: string) =>
  console.error(`[${((performance.now() - started) / 1000).toFixed(1).padStart(5)} s] ${line}`);

/** The first `tools/list` a client sends (stateless: no initialize before it). */
const TOOLS_LIST = JSON.stringify({
  jsonrpc: "2.0",
  id: 1,
  method: "tools/list",
  params: {
    _meta: {
      "io.modelcontextprotocol/protocolVersion": "2026-07-28",
      "io.modelcontextprotocol/clientInfo": { name: "bench", version: "1" },
      "io.modelcontextprotocol/clientCapabilities": {},
    },
  },
}) + "\n";

/** One spawn timed to its first `tools/list` answer. */
interface ReadyRun {
  ms: number;
  rssKiB: number;
  /** Child processes at that moment (agent hosts: none expected). */
  children: number;
}

/** Spawn LOOM (`mesh DIR` or `run CONFIG`) over stdio; time it to its first `tools/list` answer. */
async function processReady(command: string[], home: string, tools: number): Promise<ReadyRun> {
  const [run, ...perms] = LOOM_FLAGS;
  const start = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: [run, ...perms, MAIN, ...command],
    env: { LOOM_HOME: home, NO_COLOR: "1" },
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(TOOLS_LIST));
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  try {
    while (!text.includes("\n")) {
      const next = await reader.read();
      if (next.done) throw new Error(`loom ${command[0]} ended before answering tools/list`);
      text += next.value;
    }
    const ms = performance.now() - start;
    const listed = JSON.parse(text.slice(0, text.indexOf("\n"))).result?.tools?.length;
    if (listed !== tools) throw new Error(`loom ${command[0]}: ${listed} tools, expected ${tools}`);
    return { ms, rssKiB: rssKiB(child.pid) ?? NaN, children: descendants(child.pid).length };
  } finally {
    await writer.close().catch(() => {});
    await reader.cancel().catch(() => {});
    await child.status;
  }
}

/** A namespaced mesh of DIR in this process, its warnings and log lines dropped. */
function openQuietMesh(
  dir: string,
  home: LoomHome,
  audit: AuditLog,
  extra: { tools?: string[]; discovery?: boolean } = {},
): Promise<Mesh> {
  return Mesh.open(dir, {
    home,
    audit,
    env: new Map(),
    version: "bench",
    namespace: true,
    requireSigned: false,
    onWarning: () => {},
    log: () => {},
    ...extra,
  });
}

/** `Mesh.open()` + `listTools()` of DIR in this process, ms per run. */
async function inProcessOpen(dir: string, homePath: string, runs: number): Promise<number[]> {
  const home = await ensureHome(resolveHome(new Map([["LOOM_HOME", homePath]])));
  const audit = await AuditLog.open(home.audit);
  const times: number[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      const start = performance.now();
      await using mesh = await openQuietMesh(dir, home, audit);
      mesh.listTools();
      times.push(performance.now() - start);
    }
  } finally {
    await audit.close();
  }
  return times;
}

/** The bytes of a `tools/list` answer (JSON-RPC, as the engine sends it) for one mesh. */
async function listSizes(dir: string, homePath: string): Promise<Record<string, number>> {
  const home = await ensureHome(resolveHome(new Map([["LOOM_HOME", homePath]])));
  const audit = await AuditLog.open(home.audit);
  const bytes = (value: unknown) => new TextEncoder().encode(JSON.stringify(value)).length;
  const answer = (tools: unknown) => bytes({ jsonrpc: "2.0", id: 1, result: { tools } });
  const open = (extra: { tools?: string[]; discovery?: boolean }) =>
    openQuietMesh(dir, home, audit, extra);
  try {
    const sizes: Record<string, number> = {};
    {
      await using mesh = await open({});
      sizes.all = answer(mesh.listTools());
    }
    {
      // One client entry for one agent's tools: `--tools 'agent_name__*'`.
      await using mesh = await open({
        tools: [`${servedToolName(meshAgentName(0), "", true)}*`],
      });
      sizes.oneAgent = answer(mesh.listTools());
    }
    {
      await using mesh = await open({ discovery: true });
      sizes.discovery = answer(mesh.listTools());
      const found = await mesh.callTool("loom_search_tools", { query: BENCH_TOOL }, {
        signal: new AbortController().signal,
        sessionId: null,
        client: null,
        log() {},
      });
      sizes.search = bytes({ jsonrpc: "2.0", id: 2, result: found });
    }
    return sizes;
  } finally {
    await audit.close();
  }
}

/** An HTTP server under load: its URL, session, call body and the process whose tree CPU counts. */
interface CallTarget {
  server: ServerProcess;
  session: string;
  body: string;
}

async function callTarget(server: ServerProcess, tool: string): Promise<CallTarget> {
  const session = await openSession(server.url);
  // The first call also starts the agent's sandbox process: outside the measure.
  const text = await callOnce(server.url, session, tool, BENCH_ARGS);
  if (!text.includes('"widget"')) throw new Error(`${server.name}: unexpected result ${text}`);
  return { server, session, body: callTemplate(tool, BENCH_ARGS) };
}

/** Server tree CPU per answered call (µs) over one load run; calls/s. */
async function cpuPerCall(
  generator: Awaited<ReturnType<typeof ensureGenerator>>,
  t: CallTarget,
  seconds: number,
): Promise<{ cpuUs: number; rps: number; errors: number }> {
  const cpu0 = treeCpuMs(t.server.pid) ?? NaN;
  const load = await runHttpLoad(generator, {
    url: t.server.url,
    bodyTemplate: t.body,
    session: t.session,
  }, { connections: CONCURRENCY, seconds });
  const cpu1 = treeCpuMs(t.server.pid) ?? NaN;
  return { cpuUs: ((cpu1 - cpu0) * 1000) / load.requests, rps: load.rps, errors: load.errors };
}

const fmt = (s: Spread, digits = 0): string =>
  Number.isFinite(s.median)
    ? `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})`
    : "—";

const root = await Deno.makeTempDir({ prefix: "loom-mesh-bench-" });
const cleanups: (() => Promise<unknown>)[] = [];
try {
  const generator = await ensureGenerator({
    prefer: flags.generator === "deno" ? "deno" : undefined,
    log,
  });
  const upstream = await startUpstreamProcess();
  cleanups.push(() => upstream.stop());
  const dirs = new Map<number, string[]>();
  for (const n of SIZES) {
    dirs.set(n, await writeMeshConfigs(join(root, `mesh-${n}`), upstream.url, n, flags.sandbox));
  }
  const dirOf = (n: number) => join(root, `mesh-${n}`);
  const single = dirs.get(50)![0];

  // Time to ready, every size and the baseline interleaved, after one untimed start of each.
  const home = join(root, "home-ready");
  await processReady(["mesh", dirOf(50), "--namespace"], home, 50 * MESH_AGENT_TOOLS);
  await processReady(["run", single], home, MESH_AGENT_TOOLS);
  const ready: Record<string, number[]> = { run: [], mesh10: [], mesh50: [] };
  const rss50: number[] = [];
  let children = 0;
  for (let i = 0; i < READY_RUNS; i++) {
    for (const n of SIZES) {
      const r = await processReady(["mesh", dirOf(n), "--namespace"], home, n * MESH_AGENT_TOOLS);
      ready[`mesh${n}`].push(r.ms);
      if (n === 50) rss50.push(r.rssKiB / 1024);
      children = Math.max(children, r.children);
    }
    ready.run.push((await processReady(["run", single], home, MESH_AGENT_TOOLS)).ms);
  }
  log(`mesh ready: 50 agents ${spread(ready.mesh50).median.toFixed(0)} ms`);
  const inProcess = await inProcessOpen(dirOf(50), join(root, "home-in-process"), READY_RUNS);
  const listBytes = await listSizes(dirOf(50), join(root, "home-list-sizes"));

  // CPU per call: the 50-agent mesh against `loom run` of its first agent, same upstream.
  const [meshServer, runServer] = await Promise.all([
    startLoomMesh(dirOf(50), { home: join(root, "home-mesh") }),
    startLoom(single, { home: join(root, "home-run") }),
  ]);
  cleanups.push(() => meshServer.stop(), () => runServer.stop());
  const mesh = await callTarget(
    meshServer,
    servedToolName(meshAgentName(0), BENCH_TOOL, true),
  );
  const run = await callTarget(runServer, BENCH_TOOL);
  const meshHosts = descendants(meshServer.pid).length;
  await cpuPerCall(generator, mesh, WARM_SECONDS);
  await cpuPerCall(generator, run, WARM_SECONDS);
  const cpu = { mesh: [] as number[], run: [] as number[], ratio: [] as number[] };
  const rps = { mesh: [] as number[], run: [] as number[] };
  let errors = 0;
  for (let round = 1; round <= ROUNDS; round++) {
    const order = round % 2 === 1 ? ["mesh", "run"] as const : ["run", "mesh"] as const;
    const got: Record<string, number> = {};
    for (const who of order) {
      const s = await cpuPerCall(generator, who === "mesh" ? mesh : run, SECONDS);
      cpu[who].push(s.cpuUs);
      rps[who].push(s.rps);
      errors += s.errors;
      got[who] = s.cpuUs;
    }
    cpu.ratio.push(got.mesh / got.run);
    log(`mesh CPU round ${round}/${ROUNDS}: ${got.mesh.toFixed(0)} vs ${got.run.toFixed(0)} µs`);
  }

  const ratio = spread(cpu.ratio);
  const ready50 = spread(ready.mesh50);
  console.log(
    `mesh bench${QUICK ? " (quick)" : ""}: ${READY_RUNS} spawns per size, ${ROUNDS} rounds × ` +
      `${SECONDS} s at c=${CONCURRENCY}, generator ${generator}, median (min–max)`,
  );
  console.log("");
  console.log("| mesh | value | baseline: loom run of one config |");
  console.log("|---|---|---|");
  for (const n of SIZES) {
    console.log(
      `| ${n} agents (${n * MESH_AGENT_TOOLS} tools): spawn → first tools/list answered, ms ` +
        `| ${fmt(spread(ready[`mesh${n}`]))} | ${fmt(spread(ready.run))} |`,
    );
  }
  console.log(
    `| 50 agents: Mesh.open() + listTools() in process, ms | ${fmt(spread(inProcess), 1)} | — |`,
  );
  const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB (${n} bytes)`;
  console.log(`| 50 agents: tools/list answer, every tool | ${kib(listBytes.all)} | — |`);
  console.log(
    `| 50 agents: tools/list answer, --tools for one agent | ${kib(listBytes.oneAgent)} | — |`,
  );
  console.log(
    `| 50 agents: tools/list answer, --discovery (2 tools) | ${kib(listBytes.discovery)} | — |`,
  );
  console.log(
    `| 50 agents: --discovery, one search answer (10 best tools) | ${kib(listBytes.search)} | — |`,
  );
  console.log(
    `| 50 agents idle: RSS of the mesh process, MiB (agent host processes: ${children}) | ` +
      `${fmt(spread(rss50), 1)} | — |`,
  );
  console.log(
    `| server CPU per call at c=${CONCURRENCY}, µs (mesh: 50 agents, ${meshHosts} host ` +
      `process started) | ${fmt(spread(cpu.mesh))} | ${fmt(spread(cpu.run))} |`,
  );
  console.log(
    `| calls/s at c=${CONCURRENCY} | ${fmt(spread(rps.mesh))} | ${fmt(spread(rps.run))} |`,
  );
  console.log(`| CPU per call, mesh / loom run (per round) | ${fmt(ratio, 2)}× | — |`);
  console.log("");
  const verdict = (ok: boolean) => ok ? "PASS" : "FAIL";
  console.log(
    `target: mesh of 50 agents ready ≤ ${MESH_READY_TARGET_MS} ms: ` +
      `${ready50.median.toFixed(0)} ms ${verdict(ready50.median <= MESH_READY_TARGET_MS)}`,
  );
  console.log(
    `target: CPU per call through a 50-agent mesh ≤ ${MESH_CPU_TARGET_RATIO}× loom run: ` +
      `${ratio.median.toFixed(2)}× ${verdict(ratio.median <= MESH_CPU_TARGET_RATIO)}`,
  );
  console.log(`errors during the load runs: ${errors}`);
  console.log(
    `RESULT ${
      JSON.stringify({
        readyMs: ready,
        inProcessMs: inProcess,
        listBytes,
        rss50MiB: rss50,
        idleChildren: children,
        meshHostProcesses: meshHosts,
        cpuUs: cpu,
        rps,
        errors,
        generator,
        targets: { readyMs: MESH_READY_TARGET_MS, cpuRatio: MESH_CPU_TARGET_RATIO },
      })
    }`,
  );
} finally {
  for (const c of cleanups.reverse()) await c().catch(() => {});
  await Deno.remove(root, { recursive: true }).catch(() => {});
}
