/**
 * End to end against the real Prometheus (the Debian package `prometheus`,
 * which `.ci/run` installs; a missing binary fails the test): scraping
 * itself, it lists its own `prometheus` job, which `loom evolve` reports as
 * covered by the `prometheus` starter pack, not yet in the agents directory.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { runLoom, tempDir } from "../_helpers.ts";
import { fetchOk, startPrometheus, until } from "./_packs.ts";

Deno.test("loom evolve --prometheus: the real Prometheus's own job is covered by the prometheus pack", async () => {
  await using dir = await tempDir();
  await using prometheus = await startPrometheus(dir.path);
  await until(async () => {
    const answer = await fetchOk(`${prometheus.url}/api/v1/targets?state=active`) as {
      data?: { activeTargets?: unknown[] };
    } | null;
    return (answer?.data?.activeTargets?.length ?? 0) > 0;
  }, "the prometheus target");
  const agents = join(dir.path, "agents");
  await Deno.mkdir(agents);
  const result = await runLoom(["evolve", "--prometheus", prometheus.url, "--dir", agents], {
    home: join(dir.path, "home"),
  });
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /^1 service; 0 covered by the configs in /);
  const url = prometheus.url.replaceAll(".", "\\.");
  assert.match(
    result.stdout,
    new RegExp(
      `\nCovered by a starter pack:\n  prometheus at ${url}/( \\[\\w+\\])?: pack prometheus ` +
        `\\(same name\\), not in the agents directory\n {4}loom packs install prometheus\n`,
    ),
  );
});
