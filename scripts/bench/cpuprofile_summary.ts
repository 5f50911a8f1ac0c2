/**
 * Summarise a V8 `.cpuprofile` (as written by `deno run --cpu-prof`): the
 * functions with the most self time, self time by source file and by the
 * stage of a LOOM call it belongs to, and LOOM's own functions by inclusive
 * time, so the bench can say what dominates a call.
 *
 * Native frames (ops such as `op_fetch_send`, builtins) have no URL; for the
 * file and stage views they are charged to the nearest JavaScript caller.
 *
 * Run: `deno run --allow-read scripts/bench/cpuprofile_summary.ts FILE
 * [--top=25] [--from-ms=N] [--until-ms=N]` (the window is relative to the
 * profile's start, to leave out startup and shutdown).
 *
 * @module
 */

/** One node of a V8 CPU profile. */
interface ProfileNode {
  id: number;
  callFrame: {
    functionName: string;
    url: string;
    lineNumber: number;
    columnNumber: number;
  };
  children?: number[];
}

/** The `.cpuprofile` JSON. */
export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** A row of the summary. */
export interface ProfileRow {
  /** Function, file or stage name. */
  name: string;
  /** Where it is: file and line ("" for files and stages). */
  where: string;
  /** Time in ms. */
  ms: number;
  /** Share of busy time (idle excluded), 0-100. */
  percent: number;
}

/** The summary of a profile window. */
export interface ProfileSummary {
  /** Sampled time in the window, idle included, ms. */
  totalMs: number;
  /** Time in `(idle)`, ms. */
  idleMs: number;
  /** Time in `(garbage collector)`, ms. */
  gcMs: number;
  /** Functions by self time, most first. */
  functions: ProfileRow[];
  /** Source files by self time (natives charged to their caller), most first. */
  files: ProfileRow[];
  /** Stages of a call by self time (natives charged to their caller). */
  stages: ProfileRow[];
  /**
   * LOOM's own functions (under `src/`) by inclusive time: samples with the
   * function anywhere on the stack. Synchronous part only: an `await` ends a
   * stack, and the continuation is sampled under the microtask that runs it.
   */
  inclusive: ProfileRow[];
}

/** Options of {@linkcode summarizeProfile}. */
export interface SummaryOptions {
  /** Rows kept per list (default 25). */
  top?: number;
  /** Ignore samples before this many ms after the profile's start. */
  fromMs?: number;
  /** Ignore samples after this many ms after the profile's start. */
  untilMs?: number;
}

/** Stage of a call, by the file a frame is in. First match wins. */
const STAGES: [RegExp, string][] = [
  [
    /^src\/security\/audit\/|^src\/_util\/canonical_json|internal\/crypto|^node:crypto/,
    "audit log: records, hashing, write, fsync",
  ],
  [
    /^src\/runtime\/host\/|^src\/security\/sandbox\/|ext:deno_io\/|ext:deno_process\//,
    "sandbox host: spawn, pipe protocol",
  ],
  [
    /^src\/security\/(validate|trust|rate_limit)\/|^src\/runtime\//,
    "gate: validation, injection, tier, rate limit",
  ],
  [/^src\/bridge\//, "bridge: render, destination check, read, shape"],
  [/^src\/mcp\//, "MCP engine and JSON-RPC"],
  [/^src\/web\/|^npm:hono\/|ext:deno_http\//, "inbound HTTP: Deno.serve, Hono, /mcp handler"],
  [
    /^ext:deno_fetch\/|ext:deno_web\/00_url|ext:deno_webidl\/|ext:deno_net\//,
    "outbound fetch: Request, Headers, URL, webidl",
  ],
  [
    /ext:deno_web\/06_streams|ext:deno_web\/09_file|ext:deno_web\/08_text_encoding/,
    "web streams and text coding",
  ],
  [/ext:deno_web\/03_abort_signal|ext:deno_web\/02_event/, "AbortSignal and events"],
  [/timers|ext:core\/02_timers/, "timers"],
  [/^src\/config\/|^npm:yaml\//, "config load (startup)"],
  [/^npm:zod\//, "zod (LOOM: config at startup; SDK server: every message)"],
  [
    /^npm:@modelcontextprotocol\/|^npm:express\/|^npm:body-parser\/|^npm:@hono\/node-server\/|^node:_http|ext:deno_node\//,
    "SDK server, Express and node:http (baseline)",
  ],
];

function shortUrl(url: string): string {
  if (url === "") return "";
  const npm = /\/npm\/registry\.npmjs\.org\/((?:@[^/]+\/)?[^/]+)\/[^/]+\/(.*)$/.exec(url);
  if (npm) return `npm:${npm[1]}/${npm[2]}`;
  const src = /^file:\/\/.*?\/((?:src|scripts)\/.*|main\.ts)$/.exec(url);
  if (src) return src[1];
  if (url.startsWith("ext:") || url.startsWith("node:")) return url;
  return url.replace(/^file:\/\//, "");
}

function stageOf(file: string): string {
  for (const [re, name] of STAGES) if (re.test(file)) return name;
  return file.startsWith("(") ? file : "other runtime code";
}

/**
 * Summarise a parsed profile.
 *
 * @param profile the `.cpuprofile` JSON
 * @param options rows to keep and the time window
 * @returns totals, top functions, files, stages and LOOM functions
 */
export function summarizeProfile(
  profile: CpuProfile,
  options: SummaryOptions = {},
): ProfileSummary {
  const top = options.top ?? 25;
  const from = (options.fromMs ?? 0) * 1000;
  const until = (options.untilMs ?? Infinity) * 1000;
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  // A sample lasts until the next one.
  const self = new Map<number, number>();
  let t = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] ?? 0;
    if (t < from || t > until) continue;
    const dt = (profile.timeDeltas[i + 1] ?? 0) / 1000;
    self.set(profile.samples[i], (self.get(profile.samples[i]) ?? 0) + dt);
  }
  /**
   * Nearest frame (itself or an ancestor) with a URL outside `ext:core/`
   * (the op and promise plumbing every async call goes through).
   */
  const owner = (id: number): string => {
    let core = "";
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const url = byId.get(at)?.callFrame.url;
      if (!url) continue;
      if (!url.startsWith("ext:core/")) return shortUrl(url);
      core ||= url;
    }
    if (core) return core;
    const name = byId.get(id)?.callFrame.functionName ?? "";
    return name.startsWith("(") ? name : "(native)";
  };
  let total = 0;
  let idle = 0;
  let gc = 0;
  const fn = new Map<string, ProfileRow>();
  const files = new Map<string, ProfileRow>();
  const stages = new Map<string, ProfileRow>();
  const inclusive = new Map<string, ProfileRow>();
  const add = (map: Map<string, ProfileRow>, name: string, where: string, ms: number) => {
    const key = `${name} ${where}`;
    const row = map.get(key) ?? { name, where, ms: 0, percent: 0 };
    row.ms += ms;
    map.set(key, row);
  };
  for (const [id, ms] of self) {
    const node = byId.get(id);
    if (!node) continue;
    total += ms;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === "(idle)") {
      idle += ms;
      continue;
    }
    if (functionName === "(garbage collector)") gc += ms;
    add(fn, functionName || "(anonymous)", url ? `${shortUrl(url)}:${lineNumber + 1}` : "", ms);
    const file = owner(id);
    add(files, file, "", ms);
    add(stages, stageOf(file), "", ms);
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)?.callFrame;
      const where = frame ? shortUrl(frame.url) : "";
      if (!frame || !where.startsWith("src/")) continue;
      const name = frame.functionName || "(anonymous)";
      const key = `${name} ${where}:${frame.lineNumber + 1}`;
      if (seen.has(key)) continue;
      seen.add(key);
      add(inclusive, name, `${where}:${frame.lineNumber + 1}`, ms);
    }
  }
  const busy = total - idle;
  const finish = (rows: Iterable<ProfileRow>, n = top) =>
    [...rows]
      .map((r) => ({ ...r, percent: busy > 0 ? (r.ms / busy) * 100 : 0 }))
      .sort((a, b) => b.ms - a.ms)
      .slice(0, n);
  return {
    totalMs: total,
    idleMs: idle,
    gcMs: gc,
    functions: finish(fn.values()),
    files: finish(files.values()),
    stages: finish(stages.values(), 100),
    inclusive: finish(inclusive.values()),
  };
}

/**
 * Render a summary as text.
 *
 * @param summary from {@linkcode summarizeProfile}
 * @param calls calls made in the window, to show µs per call (0: not shown)
 * @returns the text
 */
export function formatSummary(summary: ProfileSummary, calls = 0): string {
  const busy = summary.totalMs - summary.idleMs;
  const perCall = (ms: number) =>
    calls > 0 ? `${((ms * 1000) / calls).toFixed(0).padStart(5)} µs` : "";
  const lines = [
    `main thread: sampled ${summary.totalMs.toFixed(0)} ms, busy ${busy.toFixed(0)} ms ` +
    `(${((busy / Math.max(1, summary.totalMs)) * 100).toFixed(0)}%), GC ${
      summary.gcMs.toFixed(0)
    } ms` +
    (calls > 0 ? `; ${calls} calls, ${((busy * 1000) / calls).toFixed(0)} µs busy per call` : ""),
  ];
  const row = (r: ProfileRow) =>
    `  ${r.percent.toFixed(1).padStart(5)}%  ${r.ms.toFixed(0).padStart(6)} ms ${perCall(r.ms)}  ` +
    `${r.name}${r.where ? `  ${r.where}` : ""}`;
  lines.push("", "by stage of a call (self time, natives charged to their caller):");
  for (const r of summary.stages) lines.push(row(r));
  lines.push("", "self time by function:");
  for (const r of summary.functions) lines.push(row(r));
  lines.push("", "self time by file (natives charged to their caller):");
  for (const r of summary.files) lines.push(row(r));
  lines.push("", "LOOM functions by inclusive (synchronous) time:");
  for (const r of summary.inclusive) lines.push(row(r));
  return lines.join("\n");
}

if (import.meta.main) {
  const path = Deno.args.find((a) => !a.startsWith("--"));
  if (!path) {
    console.error("Usage: cpuprofile_summary.ts FILE [--top=N] [--from-ms=N] [--until-ms=N]");
    Deno.exit(64);
  }
  const num = (name: string) => {
    const v = Deno.args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
    return v === undefined ? undefined : Number(v);
  };
  const profile = JSON.parse(await Deno.readTextFile(path)) as CpuProfile;
  const summary = summarizeProfile(profile, {
    top: num("top"),
    fromMs: num("from-ms"),
    untilMs: num("until-ms"),
  });
  console.log(formatSummary(summary));
}
