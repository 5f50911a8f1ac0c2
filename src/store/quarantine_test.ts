import assert from "node:assert/strict";
import { join } from "node:path";
import { LoomError } from "../errors.ts";
import { resolveHome } from "./home.ts";
import { checkQuarantineName, installFile, Quarantine } from "./quarantine.ts";

Deno.test("checkQuarantineName() refuses separators, dots, NUL and control characters without quoting them", () => {
  for (
    const name of [
      "../x",
      "/abs",
      "a/b",
      "a\\b",
      "..",
      ".",
      ".x",
      "x.yaml",
      "a\u0000b",
      "a\nb",
      "",
      "x".repeat(65),
    ]
  ) {
    assert.throws(() => checkQuarantineName(name), (e: unknown) => {
      assert.ok(e instanceof LoomError && e.code === "USAGE");
      assert.ok(!e.message.includes("\u0000") && !e.message.includes("\n"));
      return true;
    });
  }
  for (const name of ["weather", "Weather_2", "a", "x".repeat(64)]) {
    assert.equal(checkQuarantineName(name), name);
  }
});

Deno.test("Quarantine.add() keeps 0600 copies; installFile() never replaces without force", async () => {
  const root = await Deno.makeTempDir();
  try {
    const home = resolveHome(new Map([["LOOM_HOME", root]]));
    const source = join(root, "draft.yaml");
    await Deno.writeTextFile(source, "agent: {}\n");
    const q = await Quarantine.open(home);
    const entry = await q.add(source);
    assert.equal(entry.name, "draft");
    if (Deno.build.os !== "windows") {
      assert.equal((await Deno.stat(entry.file)).mode! & 0o777, 0o600);
    }
    await assert.rejects(q.add(source), /exists/);
    const dir = join(root, "agents");
    await Deno.mkdir(dir);
    await installFile(dir, "draft.yaml", new TextEncoder().encode("one\n"));
    await assert.rejects(installFile(dir, "draft.yaml", new TextEncoder().encode("two\n")));
    assert.equal(await Deno.readTextFile(join(dir, "draft.yaml")), "one\n");
    await installFile(dir, "draft.yaml", new TextEncoder().encode("two\n"), { force: true });
    assert.equal(await Deno.readTextFile(join(dir, "draft.yaml")), "two\n");
    assert.throws(() => checkQuarantineName("../draft"));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("Quarantine records who submitted an entry, and keeps it when the entry is rejected", async () => {
  const root = await Deno.makeTempDir({ prefix: "loom-quarantine-submitter-" });
  try {
    const home = resolveHome(new Map([["LOOM_HOME", root]]));
    const quarantine = await Quarantine.open(home);
    const source = join(root, "drafted.yaml");
    await Deno.writeTextFile(source, "agent: {}\n");
    const added = await quarantine.add(source, { submittedBy: "generator:ollama/llama3.1" });
    assert.equal(added.submittedBy, "generator:ollama/llama3.1");
    await quarantine.setSubmitter("drafted", "cli:alice");
    assert.equal((await quarantine.get("drafted")).entry.submittedBy, "cli:alice");
    const plain = join(root, "plain.yaml");
    await Deno.writeTextFile(plain, "agent: {}\n");
    assert.equal((await quarantine.add(plain)).submittedBy, null);
    const rejected = await quarantine.reject("drafted", "not needed");
    const dir = join(home.quarantine, "rejected");
    const [record] = [...Deno.readDirSync(dir)].filter((e) => e.name.endsWith(".json"));
    const meta = JSON.parse(await Deno.readTextFile(join(dir, record.name)));
    assert.equal(meta.submitted_by, "cli:alice");
    assert.equal(rejected.submittedBy, "cli:alice");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
