/**
 * The forge workflows in `.github/workflows/` cannot run on this machine
 * (release builds download a Deno runtime per target), so they are checked
 * by parsing: CI sets up the Deno version `.ci/run` expects and runs format,
 * lint, type check and `.ci/run`; a release compiles the five targets with
 * exactly the permission flags of the installed `loom` (deno.json), writes
 * SHA256SUMS and is the only job that may write to the repository. No
 * network.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
  if?: string;
}

interface Job {
  "runs-on": string;
  needs?: string | string[];
  permissions?: Record<string, string>;
  strategy?: { matrix: { include: { target: string; output: string }[] } };
  steps: Step[];
}

interface Workflow {
  on: Record<string, unknown>;
  permissions: Record<string, string>;
  jobs: Record<string, Job>;
}

async function workflow(name: string): Promise<Workflow> {
  return parse(await Deno.readTextFile(join(ROOT, ".github", "workflows", name))) as Workflow;
}

/** The Deno version `.ci/run` installs when another is on PATH. */
async function ciDenoVersion(): Promise<string> {
  const script = await Deno.readTextFile(join(ROOT, ".ci", "run"));
  return /^DENO_VERSION=(\S+)$/m.exec(script)![1];
}

/** Every job that sets up Deno does it with the official action at `version`. */
function assertDenoSetup(flow: Workflow, version: string): void {
  for (const [id, job] of Object.entries(flow.jobs)) {
    const setups = job.steps.filter((s) => s.uses?.startsWith("denoland/setup-deno@"));
    if (!job.steps.some((s) => /\bdeno /.test(s.run ?? ""))) continue;
    assert.equal(setups.length, 1, `${id}: one denoland/setup-deno step`);
    assert.equal(String(setups[0].with?.["deno-version"]), version, id);
    assert.equal(setups[0].with?.cache, true, `${id}: Deno's cache is kept between runs`);
  }
}

/** Actions are pinned at least by major version (or by commit). */
function assertPinned(flow: Workflow): void {
  for (const job of Object.values(flow.jobs)) {
    for (const { uses } of job.steps) {
      if (uses !== undefined) assert.match(uses, /@(v\d+(\.\d+)*|[0-9a-f]{40})$/, uses);
    }
  }
}

/** The `--allow-*` flags of the `install` task: what the installed `loom` runs with. */
async function installedPermissions(): Promise<string[]> {
  const config = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json")));
  return (config.tasks.install.command as string).split(/\s+/).filter((f) =>
    f.startsWith("--allow-")
  );
}

Deno.test("ci.yml runs fmt, lint, type check and .ci/run on Deno 2.9.6, read-only", async () => {
  const flow = await workflow("ci.yml");
  assert.deepEqual(Object.keys(flow.on).sort(), ["pull_request", "push"]);
  assert.deepEqual(flow.permissions, { contents: "read" });
  for (const job of Object.values(flow.jobs)) assert.equal(job.permissions, undefined);
  assert.equal(await ciDenoVersion(), "2.9.6");
  assertDenoSetup(flow, "2.9.6");
  assertPinned(flow);
  const runs = Object.values(flow.jobs).flatMap((j) => j.steps).map((s) => s.run?.trim());
  for (const command of ["deno fmt --check", "deno lint", "deno task check", ".ci/run"]) {
    assert.ok(runs.includes(command), `a step runs "${command}"`);
  }
  assert.ok(
    runs.indexOf(".ci/run") > runs.indexOf("deno task check"),
    "tests after the checks",
  );
});

Deno.test("release.yml compiles five targets with the installed loom's permissions and SHA256SUMS", async () => {
  const flow = await workflow("release.yml");
  assert.deepEqual(flow.on, { push: { tags: ["v*"] } });
  assert.deepEqual(flow.permissions, { contents: "read" });
  assertDenoSetup(flow, await ciDenoVersion());
  assertPinned(flow);

  const { build, release } = flow.jobs;
  const matrix = build.strategy!.matrix.include;
  assert.deepEqual(matrix.map((m) => m.target).sort(), [
    "aarch64-apple-darwin",
    "aarch64-unknown-linux-gnu",
    "x86_64-apple-darwin",
    "x86_64-pc-windows-msvc",
    "x86_64-unknown-linux-gnu",
  ]);
  for (const { target, output } of matrix) {
    assert.equal(output, `loom-${target}${target.includes("windows") ? ".exe" : ""}`);
  }

  // The compile step: exactly the installed loom's permissions, embedded in the
  // binary, plus what `deno task compile` needs for the in-process sandbox.
  const compile = build.steps.find((s) => /^deno compile\b/.test(s.run ?? ""))!;
  const args = compile.run!.split(/\s+/);
  const allows = args.filter((a) => /^(--allow-|-A$)/.test(a));
  assert.deepEqual(allows.sort(), (await installedPermissions()).sort());
  const config = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json")));
  const task = (config.tasks.compile.command as string).split(/\s+/);
  for (const flag of ["--unstable-worker-options", "--include"]) {
    assert.ok(task.includes(flag) && args.includes(flag), flag);
  }
  assert.equal(args[args.indexOf("--include") + 1], task[task.indexOf("--include") + 1]);
  assert.match(compile.run!, /--target \$\{\{ matrix\.target \}\}\s/);
  assert.match(compile.run!, /--output dist\/\$\{\{ matrix\.output \}\}\s/);
  assert.equal(args.at(-1), "main.ts");

  // Only the release job writes; it checksums every binary and uploads both.
  assert.equal(build.permissions, undefined);
  assert.deepEqual(release.permissions, { contents: "write" });
  assert.equal(release.needs, "build");
  const script = release.steps.map((s) => s.run ?? "").join("\n");
  assert.match(script, /sha256sum loom-\* > SHA256SUMS/);
  assert.match(script, /gh release upload "\$TAG" dist\/loom-\* dist\/SHA256SUMS/);
});
