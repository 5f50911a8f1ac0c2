/**
 * End to end: `loom import openapi` through the real CLI. Small documents go
 * into the quarantine (`provenance: imported`) or to `-o FILE`; an unknown
 * tag, an unknown operation id and an invalid document are refused with clear
 * messages and exit codes; a document at a URL (a server on loopback, with
 * its relative `$ref` file beside it) imports the same way, a redirect to a
 * loopback address the URL does not name is refused, and nothing answering,
 * a 404 and a non-OpenAPI answer fail clearly; stderr, not a terminal, gets
 * no progress line; GitHub's whole REST description (npm
 * `@octokit/openapi`) imports into one config the loader accepts, and its
 * `issues` tag into one that `loom run` serves to an SDK client.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadConfig } from "../../src/config/mod.ts";
import { Client, StdioClientTransport } from "../../src/mcp/client.ts";
import { LOOM_FLAGS, MAIN, runLoom, startUpstream, tempDir } from "../_helpers.ts";

const TESTDATA = new URL("../../src/generator/testdata/", import.meta.url);
const PETSTORE = fileURLToPath(new URL("petstore_30.yaml", TESTDATA));

/** The generator's testdata files by path; `/to?u=URL` redirects to URL. */
async function testdata(req: Request): Promise<Response> {
  const url = new URL(req.url);
  if (url.pathname === "/to") {
    return new Response(null, { status: 302, headers: { location: url.searchParams.get("u")! } });
  }
  if (url.pathname === "/plain.yaml") return new Response("title: not openapi\n");
  try {
    return new Response(await Deno.readTextFile(new URL(url.pathname.slice(1), TESTDATA)));
  } catch {
    return new Response("not found", { status: 404 });
  }
}

/** Serve {@linkcode testdata} on 127.0.0.1. */
function serveTestdata() {
  return startUpstream(testdata);
}

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

Deno.test("loom import openapi: bad URL, unknown tag or operation, invalid document", async () => {
  await using dir = await tempDir();
  const home = join(dir.path, "home");
  const url = await runLoom(["import", "openapi", "ftp://api.example.com/openapi.json"], {
    home,
  });
  assert.equal(url.code, 64);
  assert.match(url.stderr, /Only http and https URLs can be fetched/);
  const networkForFile = await runLoom(
    ["import", "openapi", PETSTORE, "--allow-network", "10.0.0.0/8"],
    { home },
  );
  assert.equal(networkForFile.code, 64);
  assert.match(networkForFile.stderr, /--allow-network applies only to a URL/);
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

Deno.test("loom import openapi URL: the document and its relative $ref file, to -o FILE and the quarantine", async () => {
  await using up = await serveTestdata();
  await using dir = await tempDir();
  const home = join(dir.path, "home");
  const out = join(dir.path, "pets.yaml");
  const url = `${up.url}/petstore_30.yaml?token=s3cret`;
  const written = await runLoom(["import", "openapi", url, "--tag", "pets", "-o", out], { home });
  assert.equal(written.code, 0, written.stderr);
  assert.match(written.stdout, /^Wrote .*pets\.yaml: agent pet-store, 3 tools, tier 2/);
  assert.ok(!written.stderr.includes("\r"), "no progress line when stderr is not a terminal");
  const config = await loadConfig(out);
  assert.deepEqual(config.tools.map((t) => t.name), ["list_pets", "create_pet", "get_pet"]);
  // The page_size parameter comes from common.yaml, served beside the document.
  assert.ok(up.requests.some((r) => new URL(r.url).pathname === "/common.yaml"));
  const quarantined = await runLoom(["import", "openapi", url, "--tag", "pets"], { home });
  assert.equal(quarantined.code, 0, quarantined.stderr);
  assert.ok(!quarantined.stderr.includes("\r"));
  const show = await runLoom(["quarantine", "show", "pet-store"], { home });
  assert.equal(show.code, 0, show.stderr);
  assert.match(show.stdout, new RegExp(`source: +${up.url}/petstore_30\\.yaml\n`));
  assert.doesNotMatch(show.stdout + show.stderr, /s3cret/);
});

Deno.test("loom import openapi URL: a redirect to a loopback address it does not name is refused", async () => {
  const other = Deno.serve({ hostname: "127.0.0.2", port: 0, onListen() {} }, testdata);
  await using up = await serveTestdata();
  await using dir = await tempDir();
  const home = join(dir.path, "home");
  try {
    const target = `http://127.0.0.2:${other.addr.port}/petstore_30.yaml`;
    const url = `${up.url}/to?u=${encodeURIComponent(target)}`;
    const out = join(dir.path, "pets.yaml");
    const refused = await runLoom(["import", "openapi", url, "-o", out], { home });
    assert.equal(refused.code, 77, refused.stderr);
    assert.match(refused.stderr, /Fetch refused: Destination "127\.0\.0\.2" .*loopback address/);
    const six = `${up.url}/to?u=${encodeURIComponent(`http://[::1]:${other.addr.port}/x.yaml`)}`;
    const refusedSix = await runLoom(["import", "openapi", six, "-o", out], { home });
    assert.equal(refusedSix.code, 77, refusedSix.stderr);
    // Allowed on purpose, the same redirect is followed, and the $ref file is
    // read beside the document, where the redirect led.
    const allowed = await runLoom(
      ["import", "openapi", url, "--allow-network", "127.0.0.0/8", "-o", out],
      { home },
    );
    assert.equal(allowed.code, 0, allowed.stderr);
    assert.equal((await loadConfig(out)).tools.length, 5);
    const badNetwork = await runLoom(
      ["import", "openapi", url, "--allow-network", "10.0.0.0/99", "-o", out],
      { home },
    );
    assert.equal(badNetwork.code, 64);
  } finally {
    await other.shutdown();
  }
});

Deno.test("loom import openapi URL: nothing answering, a 404, not OpenAPI", async () => {
  await using up = await serveTestdata();
  await using dir = await tempDir();
  const home = join(dir.path, "home");
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const closed = `http://127.0.0.1:${listener.addr.port}/openapi.json`;
  listener.close();
  const nothing = await runLoom(["import", "openapi", closed], { home });
  assert.equal(nothing.code, 69, nothing.stderr);
  assert.match(nothing.stderr, /Nothing answered at http:\/\/127\.0\.0\.1:/);
  const missing = await runLoom(["import", "openapi", `${up.url}/missing.json?k=v`], { home });
  assert.equal(missing.code, 69, missing.stderr);
  assert.match(missing.stderr, /\/missing\.json answered HTTP 404\n/);
  const plain = await runLoom(["import", "openapi", `${up.url}/plain.yaml`], { home });
  assert.equal(plain.code, 65, plain.stderr);
  assert.match(plain.stderr, /Not an OpenAPI document/);
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
