/**
 * End to end: `loom quarantine` as a real process over a real home. Names
 * that could escape the directory and symlinked targets are refused first;
 * then a promotion with `--sign` yields a config `loom run` verifies, a
 * rejection keeps its reason, and every transition is in the audit log.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { readAuditRecords } from "../../src/security/audit/mod.ts";
import { runLoom, tempDir, writeKeyedConfig } from "../_helpers.ts";

/** A home, an agents directory and a quarantined config named `weather`. */
async function setup(root: string) {
  const home = join(root, "home");
  const agents = join(root, "agents");
  await Deno.mkdir(agents);
  const draft = join(root, "weather.yaml");
  await writeKeyedConfig(draft, "https://api.example.com", "X-Plain: one");
  const add = await runLoom(["quarantine", "add", draft], { home });
  assert.equal(add.code, 0, add.stderr);
  return { home, agents, draft };
}

async function quarantineRecords(home: string) {
  return (await readAuditRecords(join(home, "audit"))).filter((r) => r.event === "quarantine");
}

Deno.test("loom quarantine promote refuses names that escape the quarantine: ../x, absolute, dotted, control characters", async () => {
  await using dir = await tempDir();
  const { home, agents } = await setup(dir.path);
  for (
    const name of [
      "../x",
      "../weather",
      "/etc/passwd",
      join(dir.path, "weather"),
      "a/b",
      "..",
      ".weather",
      "we\u0007ather",
    ]
  ) {
    const r = await runLoom(["quarantine", "promote", name, "--to", agents], { home });
    assert.equal(r.code, 64, `${JSON.stringify(name)}: ${r.stderr}`);
    assert.match(r.stderr, /Invalid quarantine name/);
    assert.ok(!r.stderr.includes("\u0007"));
  }
  assert.deepEqual([...Deno.readDirSync(agents)], []);
  assert.deepEqual((await quarantineRecords(home)).map((r) => r.action), ["add"]);
});

Deno.test("loom quarantine promote refuses a symlinked target and a symlinked directory, even with --force", async () => {
  await using dir = await tempDir();
  const { home, agents } = await setup(dir.path);
  const elsewhere = join(dir.path, "elsewhere.yaml");
  await Deno.writeTextFile(elsewhere, "keep me\n");
  await Deno.symlink(elsewhere, join(agents, "weather.yaml"));
  const linked = await runLoom(["quarantine", "promote", "weather", "--to", agents, "--force"], {
    home,
  });
  assert.equal(linked.code, 77, linked.stderr);
  assert.match(linked.stderr, /symlink/);
  assert.equal(await Deno.readTextFile(elsewhere), "keep me\n");

  const realDir = join(dir.path, "real");
  await Deno.mkdir(realDir);
  const linkDir = join(dir.path, "linked-agents");
  await Deno.symlink(realDir, linkDir);
  const viaDir = await runLoom(["quarantine", "promote", "weather", "--to", linkDir], { home });
  assert.equal(viaDir.code, 77, viaDir.stderr);
  assert.deepEqual([...Deno.readDirSync(realDir)], []);
  // The entry is still pending: nothing was promoted.
  const list = await runLoom(["quarantine", "list"], { home });
  assert.match(list.stdout, /^weather /m);
});

Deno.test("loom quarantine add refuses a symlink as its source", async () => {
  await using dir = await tempDir();
  const home = join(dir.path, "home");
  const real = join(dir.path, "real.yaml");
  await writeKeyedConfig(real, "https://api.example.com", "X-Plain: one");
  const link = join(dir.path, "link.yaml");
  await Deno.symlink(real, link);
  const r = await runLoom(["quarantine", "add", link], { home });
  assert.equal(r.code, 77, r.stderr);
});

Deno.test("loom quarantine promote refuses an existing agent without --force, and a config that does not load", async () => {
  await using dir = await tempDir();
  const { home, agents, draft } = await setup(dir.path);
  await Deno.writeTextFile(join(agents, "weather.yaml"), "agent: {}\n");
  const exists = await runLoom(["quarantine", "promote", "weather", "--to", agents], { home });
  assert.equal(exists.code, 64, exists.stderr);
  assert.match(exists.stderr, /exists; pass --force/);
  assert.equal(await Deno.readTextFile(join(agents, "weather.yaml")), "agent: {}\n");

  await Deno.writeTextFile(draft, "agent:\n  name: Not Kebab\n");
  assert.equal((await runLoom(["quarantine", "add", draft, "--force"], { home })).code, 0);
  const invalid = await runLoom(
    ["quarantine", "promote", "weather", "--to", agents, "--force"],
    { home },
  );
  assert.equal(invalid.code, 78, invalid.stderr);
  assert.equal(await Deno.readTextFile(join(agents, "weather.yaml")), "agent: {}\n");
});

Deno.test("loom quarantine promote --sign writes a config and signature that loom run verifies", async () => {
  await using dir = await tempDir();
  const { home, agents } = await setup(dir.path);
  assert.equal((await runLoom(["sign", "keygen"], { home })).code, 0);
  const promote = await runLoom(
    ["quarantine", "promote", "weather", "--sign", "--to", agents],
    { home },
  );
  assert.equal(promote.code, 0, promote.stderr);
  const target = join(agents, "weather.yaml");
  const verify = await runLoom(["sign", "verify", target], { home });
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);
  const run = await runLoom(["run", target, "--require-signed"], { home });
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stderr, /serving 1 tool/);
  const list = await runLoom(["quarantine", "list"], { home });
  assert.match(list.stderr, /quarantine is empty/);
  const [add, promoted] = await quarantineRecords(home);
  assert.equal(add.action, "add");
  assert.equal(promoted.action, "promote");
  assert.equal(promoted.target, target);
  assert.match(String(promoted.key_id), /^[0-9a-f]{16}$/);
  assert.equal(promoted.config_digest, add.config_digest);
});

Deno.test("loom quarantine reject records the reason in the audit log and sets the entry aside", async () => {
  await using dir = await tempDir();
  const { home } = await setup(dir.path);
  const missing = await runLoom(["quarantine", "reject", "weather"], { home });
  assert.equal(missing.code, 64, missing.stderr);
  const r = await runLoom(
    ["quarantine", "reject", "weather", "--reason", "calls an unknown host"],
    { home },
  );
  assert.equal(r.code, 0, r.stderr);
  const records = await quarantineRecords(home);
  assert.deepEqual(records.map((x) => x.action), ["add", "reject"]);
  assert.equal(records[1].reason, "calls an unknown host");
  assert.equal(records[1].agent, "keyed-agent");
  const rejected = [...Deno.readDirSync(join(home, "quarantine", "rejected"))].map((e) => e.name);
  assert.equal(rejected.filter((n) => n.endsWith(".yaml")).length, 1);
  const again = await runLoom(["quarantine", "show", "weather"], { home });
  assert.equal(again.code, 66, again.stderr);
  const verify = await runLoom(["audit", "verify"], { home });
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);
});

Deno.test("loom quarantine show prints a unified diff against the current agent of that name", async () => {
  await using dir = await tempDir();
  const { home, agents, draft } = await setup(dir.path);
  const current = (await Deno.readTextFile(draft)).replace("Ask the API", "Ask the old API");
  await Deno.writeTextFile(join(agents, "weather.yaml"), current);
  const show = await runLoom(["quarantine", "show", "weather", "--agents", agents], { home });
  assert.equal(show.code, 0, show.stderr);
  assert.match(show.stdout, /^loads: {3}yes \(agent "keyed-agent"\)$/m);
  assert.match(show.stdout, /^-.*Ask the old API/m);
  assert.match(show.stdout, /^\+.*Ask the API/m);
  assert.match(show.stdout, /^@@ -\d+(,\d+)? \+\d+(,\d+)? @@$/m);
  const typo = await runLoom(["quarantine", "shwo", "weather"], { home });
  assert.equal(typo.code, 64);
  assert.match(typo.stderr, /did you mean "show"/);
});
