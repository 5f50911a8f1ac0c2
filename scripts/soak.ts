/**
 * Long runs of the reliability checks (the CI suite runs them with modest
 * counts).
 *
 * - `--mode=tests` (default): run `tests/reliability/` again and again with
 *   raised counts (16 clients x 500 calls, more kill rounds, more fuzz runs)
 *   until the time is up; stop at the first failure and show its output.
 * - `--mode=load`: one `loom run --transport http` under steady load (wrk or
 *   the Deno generator, 64 connections) for the whole time, sampling RSS and
 *   CPU per call every minute; fails when RSS keeps growing in the second
 *   half, a call fails, or `loom audit verify` does not pass at the end.
 *
 * Run: `deno run -A scripts/soak.ts [--mode=tests|load] [--minutes=30] [--scale=10]`
 *
 * @module
 */

import { join } from "node:path";
import { parseArgs } from "node:util";
import { LOOM_FLAGS, MAIN } from "../tests/_helpers.ts";
import { BENCH_ARGS, BENCH_TOOL, benchConfig } from "./bench/_configs.ts";
import { ensureGenerator, runHttpLoad } from "./bench/_load.ts";
import {
  callOnce,
  callTemplate,
  openSession,
  startLoom,
  startUpstreamProcess,
  treeCpuMs,
  treeRssKiB,
} from "./bench/_servers.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    mode: { type: "string", default: "tests" },
    minutes: { type: "string", default: "30" },
    scale: { type: "string", default: "10" },
    help: { type: "boolean", short: "h" },
  },
});
if (values.help) {
  console.log(
    "Usage: deno run -A scripts/soak.ts [--mode=tests|load] [--minutes=30] [--scale=10]",
  );
  Deno.exit(0);
}
const minutes = Number(values.minutes);
const scale = Math.max(1, Number(values.scale));
const until = performance.now() + minutes * 60_000;
const started = performance.now();
const stamp = () => `[${((performance.now() - started) / 60_000).toFixed(1).padStart(5)} min]`;

async function soakTests(): Promise<number> {
  const env = {
    LOOM_RELIABILITY_KILL_ROUNDS: String(3 * scale),
    LOOM_RELIABILITY_KILL_CLIENTS: String(Math.min(32, 6 + scale)),
    LOOM_RELIABILITY_CLIENTS: "16",
    LOOM_RELIABILITY_CALLS: String(Math.min(500, 50 * scale)),
    LOOM_FUZZ_RUNS: String(200 * scale),
  };
  console.log(`${stamp()} reliability suite with ${JSON.stringify(env)}`);
  let runs = 0;
  while (performance.now() < until) {
    runs++;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["test", "--allow-all", "tests/reliability/"],
      env: { ...env, NO_COLOR: "1" },
      cwd: new URL("..", import.meta.url).pathname,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    const summary = /(ok|FAILED) \| (\d+) passed.*?\| (\d+) failed/.exec(
      text,
    );
    console.log(`${stamp()} run ${runs}: ${summary ? summary[0] : `exit ${out.code}`}`);
    if (!out.success) {
      console.log(text.slice(-8000));
      return 1;
    }
  }
  console.log(`${stamp()} ${runs} runs, all passed`);
  return 0;
}

async function soakLoad(): Promise<number> {
  const root = await Deno.makeTempDir({ prefix: "loom_soak_" });
  try {
    const generator = await ensureGenerator({ log: console.log });
    await using upstream = await startUpstreamProcess();
    const config = join(root, "soak.yaml");
    const home = join(root, "home");
    await Deno.writeTextFile(config, benchConfig(upstream.url, 1));
    await using loom = await startLoom(config, { home });
    const session = await openSession(loom.url);
    await callOnce(loom.url, session, BENCH_TOOL, BENCH_ARGS);
    const body = callTemplate(BENCH_TOOL, BENCH_ARGS);
    const points: { calls: number; rssKiB: number }[] = [];
    let calls = 0;
    let errors = 0;
    while (performance.now() < until) {
      const cpu0 = treeCpuMs(loom.pid) ?? NaN;
      const load = await runHttpLoad(generator, { url: loom.url, bodyTemplate: body, session }, {
        connections: 64,
        seconds: Math.max(1, Math.min(60, Math.round((until - performance.now()) / 1000))),
      });
      const cpu = ((treeCpuMs(loom.pid) ?? NaN) - cpu0) * 1000 / Math.max(1, load.requests);
      calls += load.requests;
      errors += load.errors;
      const rss = treeRssKiB(loom.pid) ?? NaN;
      points.push({ calls, rssKiB: rss });
      console.log(
        `${stamp()} ${calls} calls, ${load.rps.toFixed(0)} calls/s, ${
          cpu.toFixed(0)
        } µs CPU/call, ` +
          `RSS ${(rss / 1024).toFixed(1)} MiB, ${errors} errors`,
      );
    }
    await loom.stop();
    const verify = await new Deno.Command(Deno.execPath(), {
      args: [...LOOM_FLAGS, MAIN, "audit", "verify"],
      env: { LOOM_HOME: home, NO_COLOR: "1" },
      stdout: "piped",
    }).output();
    console.log(`${stamp()} ${new TextDecoder().decode(verify.stdout).trim()}`);
    const mid = points[Math.floor(points.length / 2)];
    const last = points[points.length - 1];
    const slope = ((last.rssKiB - mid.rssKiB) * 1024) / Math.max(1, last.calls - mid.calls);
    console.log(`${stamp()} RSS growth over the second half: ${slope.toFixed(1)} bytes/call`);
    const ok = verify.code === 0 && errors === 0 && (points.length < 4 || slope <= 64);
    console.log(ok ? "soak passed" : "soak FAILED");
    return ok ? 0 : 1;
  } finally {
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
}

Deno.exit(values.mode === "load" ? await soakLoad() : await soakTests());
