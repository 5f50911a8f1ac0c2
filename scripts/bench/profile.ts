/**
 * Profile a server under load: start the upstream and `loom run --transport
 * http` (or the SDK baseline) with `deno run --cpu-prof`, drive `tools/call`
 * at a fixed concurrency, stop the server with SIGTERM so the profile is
 * written, and print where the main thread's time went during the load only
 * (startup and shutdown are cut from the window).
 *
 * Run: `deno run -A scripts/bench/profile.ts [--server=loom|sdk] [--seconds=10]
 * [--concurrency=64] [--tools=1] [--sandbox=deno|none] [--keep=DIR] [--top=30]`
 *
 * @module
 */

import { join } from "node:path";
import { type CpuProfile, formatSummary, summarizeProfile } from "./cpuprofile_summary.ts";
import { BENCH_ARGS, BENCH_TOOL, benchConfig } from "./_configs.ts";
import { ensureGenerator, runHttpLoad } from "./_load.ts";
import {
  callOnce,
  callTemplate,
  openSession,
  startLoom,
  startSdkServer,
  startUpstreamProcess,
  treeCpuMs,
} from "./_servers.ts";

function option(name: string, fallback: string): string {
  const prefix = `--${name}=`;
  return Deno.args.find((a) => a.startsWith(prefix))?.slice(prefix.length) ?? fallback;
}

const server = option("server", "loom");
const seconds = Number(option("seconds", "10"));
const concurrency = Number(option("concurrency", "64"));
const tools = Number(option("tools", "1"));
const top = Number(option("top", "30"));
const keep = option("keep", "");
const sandbox = option("sandbox", "") || undefined;

const root = await Deno.makeTempDir({ prefix: "loom_profile_" });
const profDir = keep || join(root, "prof");
try {
  const generator = await ensureGenerator({ log: console.error });
  await using upstream = await startUpstreamProcess();
  const denoFlags = ["--cpu-prof", `--cpu-prof-dir=${profDir}`];
  const spawned = performance.now();
  let target;
  if (server === "sdk") {
    target = await startSdkServer(upstream.url, denoFlags);
  } else {
    const config = join(root, "bench.yaml");
    await Deno.writeTextFile(config, benchConfig(upstream.url, tools, sandbox));
    target = await startLoom(config, { home: join(root, "home"), denoFlags });
  }
  await using _server = target;
  const session = await openSession(target.url);
  await callOnce(target.url, session, BENCH_TOOL, BENCH_ARGS);
  const body = callTemplate(BENCH_TOOL, BENCH_ARGS);
  // One second of warm-up so the window shows the steady state, not the JIT.
  await runHttpLoad(generator, { url: target.url, bodyTemplate: body, session }, {
    connections: concurrency,
    seconds: 1,
  });
  const cpu0 = treeCpuMs(target.pid) ?? NaN;
  const from = performance.now() - spawned;
  const load = await runHttpLoad(generator, { url: target.url, bodyTemplate: body, session }, {
    connections: concurrency,
    seconds,
  });
  const until = performance.now() - spawned;
  const cpu1 = treeCpuMs(target.pid) ?? NaN;
  // SIGTERM: both servers exit through Deno.exit, which writes the profile.
  await target.stop("SIGTERM");
  console.log(
    `${server}: ${load.requests} calls at concurrency ${concurrency} in ` +
      `${load.seconds.toFixed(1)} s: ${load.rps.toFixed(0)} calls/s, ` +
      `${((cpu1 - cpu0) * 1000 / load.requests).toFixed(0)} µs process CPU per call ` +
      `(all threads), ${load.errors} errors\n`,
  );
  const files = [...Deno.readDirSync(profDir)].filter((e) => e.name.endsWith(".cpuprofile"));
  if (files.length === 0) throw new Error(`No .cpuprofile written in ${profDir}`);
  const path = join(profDir, files[0].name);
  const profile = JSON.parse(await Deno.readTextFile(path)) as CpuProfile;
  // The profile starts when the process does, a few ms after the spawn: the
  // window is the load run, trimmed by 100 ms at each end.
  const summary = summarizeProfile(profile, { top, fromMs: from + 100, untilMs: until - 100 });
  console.log(formatSummary(summary, Math.round(load.requests * (1 - 0.2 / load.seconds))));
  if (keep) console.log(`\nprofile kept in ${path}`);
} finally {
  await Deno.remove(root, { recursive: true }).catch(() => {});
}
