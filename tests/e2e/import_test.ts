/**
 * End to end: `loom import openapi` through the real CLI. Small documents go
 * into the quarantine (`provenance: imported`) or to `-o FILE`; a URL, an
 * unknown tag, an unknown operation id and an invalid document are refused
 * with clear messages and exit codes; GitHub's whole REST description (npm
 * `@octokit/openapi`) imports into one config the loader accepts, and its
 * `issues` tag into one that `loom run` serves to an SDK client.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadConfig } from "../../src/config/mod.ts";
import { Client, StdioClientTransport } from "../../src/mcp/client.ts";
import { LOOM_FLAGS, MAIN, runLoom, tempDir } from "../_helpers.ts";

const PETSTORE = fileURLToPath(
  new URL("../../src/generator/testdata/petstore_30.yaml", import.meta.url),
);

/** GitHub's REST description, written to a file in `dir`. */
async function githubSpec(dir: string): Promise<string> {
  const spec = await import("npm:@octokit/openapi@23.0.2/generated/api.github.com.json", {
    with: { type: "json" },
  });
  const file = join(dir, "api.github.com.json");
  await Deno.writeTextFile(file, JSON.stringify(spec.default));
  return file;
}

Deno.test("loom import openapi: into the quarantine, with the report on stderr", async () => {
  await using home = await tempDir();
  const result = await runLoom(["import", "openapi", PETSTORE, "--tag", "pets"], {
    home: home.path,
  });
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /^Quarantined agent pet-store as pet-store: 3 tools, tier 2/);
  assert.match(result.stderr, /skipped: uploadPhoto: request body is not JSON/);
  assert.match(result.stderr, /3 of 4 operations imported/);
  assert.match(result.stderr, /loom secrets set PET_STORE_API_KEY\n/);
  const file = join(home.path, "quarantine", "pet-store.yaml");
  const config = await loadConfig(file);
  assert.equal(config.provenance.source, "imported");
  assert.deepEqual(config.tools.map((t) => t.name), ["list_pets", "create_pet", "get_pet"]);
  const list = await runLoom(["quarantine", "list"], { home: home.path });
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /pet-store/);
  const again = await runLoom(["import", "openapi", PETSTORE], { home: home.path });
  assert.equal(again.code, 64);
  assert.match(again.stderr, /exists/);
});

Deno.test("loom import openapi -o FILE: writes once, refuses to overwrite without --force", async () => {
  await using dir = await tempDir();
  const out = join(dir.path, "pets.yaml");
  const args = ["import", "openapi", PETSTORE, "--operation", "getPet", "-o", out];
  const first = await runLoom(args, { home: join(dir.path, "home") });
  assert.equal(first.code, 0, first.stderr);
  const config = await loadConfig(out);
  assert.deepEqual(config.tools.map((t) => t.name), ["get_pet"]);
  assert.equal(config.runtime.trustTier, 1);
  const second = await runLoom(args, { home: join(dir.path, "home") });
  assert.equal(second.code, 64);
  const forced = await runLoom([...args, "--force", "--tier", "2"], {
    home: join(dir.path, "home"),
  });
  assert.equal(forced.code, 0, forced.stderr);
  assert.equal((await loadConfig(out)).runtime.trustTier, 2);
});

Deno.test("loom import openapi: URL, unknown tag or operation, invalid document", async () => {
  await using dir = await tempDir();
  const home = join(dir.path, "home");
  const url = await runLoom(["import", "openapi", "https://api.example.com/openapi.json"], {
    home,
  });
  assert.equal(url.code, 64);
  assert.match(url.stderr, /Importing from a URL is not supported yet/);
  const tag = await runLoom(["import", "openapi", PETSTORE, "--tag", "nope"], { home });
  assert.equal(tag.code, 64);
  assert.match(tag.stderr, /No operation has tag "nope"/);
  const op = await runLoom(["import", "openapi", PETSTORE, "--operation", "nopeOp"], { home });
  assert.equal(op.code, 64);
  assert.match(op.stderr, /No operation has operationId "nopeOp"/);
  const bad = join(dir.path, "bad.json");
  await Deno.writeTextFile(bad, JSON.stringify({ openapi: "4.0.0", paths: {} }));
  const invalid = await runLoom(["import", "openapi", bad], { home });
  assert.equal(invalid.code, 65);
  assert.match(invalid.stderr, /Not an OpenAPI document/);
  const kind = await runLoom(["import", "graphql", bad], { home });
  assert.equal(kind.code, 64);
});

Deno.test("loom import openapi: GitHub's whole REST description imports into one config", async () => {
  await using dir = await tempDir();
  const spec = await githubSpec(dir.path);
  const out = join(dir.path, "github.yaml");
  const result = await runLoom(["import", "openapi", spec, "--name", "github", "-o", out], {
    home: join(dir.path, "home"),
  });
  assert.equal(result.code, 0, result.stderr);
  const config = await loadConfig(out);
  assert.ok(config.tools.length > 1000, `${config.tools.length} tools`);
  assert.equal(config.runtime.trustTier, 3);
  console.log(result.stderr.split("\n").filter((l) => /operations imported/.test(l)).join(""));
});

Deno.test("loom import openapi --tag issues: the GitHub config serves its tools", async () => {
  await using dir = await tempDir();
  const spec = await githubSpec(dir.path);
  const out = join(dir.path, "github-issues.yaml");
  const home = join(dir.path, "home");
  const result = await runLoom(
    ["import", "openapi", spec, "--tag", "issues", "--name", "github-issues", "-o", out],
    { home },
  );
  assert.equal(result.code, 0, result.stderr);
  const config = await loadConfig(out);
  const transport = new StdioClientTransport({
    command: Deno.execPath(),
    args: [...LOOM_FLAGS, MAIN, "run", out],
    env: { LOOM_HOME: home, NO_COLOR: "1" },
    stderr: "pipe",
  });
  transport.stderr?.on("data", () => {});
  const client = new Client({ name: "import-e2e", version: "1.0.0" });
  await client.connect(transport);
  try {
    const listed = await client.listTools();
    assert.deepEqual(
      listed.tools.map((t) => t.name).sort(),
      config.tools.map((t) => t.name).sort(),
    );
    assert.ok(listed.tools.some((t) => t.name === "issues_create"));
  } finally {
    await client.close();
  }
});
