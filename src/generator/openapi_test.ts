/**
 * `importOpenApi()` on small hand-written documents (OpenAPI 3.0 YAML with a
 * relative-file `$ref` and cycles, 3.1 JSON, Swagger 2.0 JSON): parameters of
 * each position, body mapping, security schemes, skips, selection, and the
 * output always loads with the real config loader. A document at a URL (a
 * real server on loopback) with its same-origin `$ref` file; a `$ref` to
 * another origin or to a file is refused; progress is reported about 100 times.
 *
 * @module
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { parseConfig } from "../config/mod.ts";
import { ConfigError, LoomError, UsageError } from "../errors.ts";
import { importOpenApi, type OpenApiImport, readSpecFiles } from "./mod.ts";
import { startUpstream } from "../../tests/_helpers.ts";

const data = (name: string) => fileURLToPath(new URL(`./testdata/${name}`, import.meta.url));

async function imported(name: string, options = {}): Promise<OpenApiImport> {
  return importOpenApi(await readSpecFiles(data(name)), options);
}

function load(result: OpenApiImport) {
  return parseConfig(result.text, { path: "imported.yaml" });
}

Deno.test("importOpenApi: 3.0 YAML with local, relative-file and cyclic refs loads", async () => {
  const result = await imported("petstore_30.yaml");
  const config = load(result);
  assert.equal(config.name, "pet-store");
  assert.equal(config.provenance.source, "imported");
  assert.equal(result.tier, 3);
  assert.equal(config.runtime.trustTier, 3);
  const tools = Object.fromEntries(config.tools.map((t) => [t.name, t]));
  assert.deepEqual(Object.keys(tools), [
    "list_pets",
    "create_pet",
    "get_pet",
    "delete_pet",
    "put_tree",
  ]);
  // query (from common.yaml, renamed), header, enum and default
  const list = tools.list_pets;
  assert.equal(list.access, "read");
  assert.equal(list.parameters.page_size.type, "integer");
  assert.equal(list.parameters.page_size.maximum, 100);
  assert.equal(list.parameters.page_size.default, 20);
  assert.deepEqual(list.parameters.kind.enum, ["cat", "dog"]);
  assert.equal(list.parameters.X_Request_Id.pattern, "^[a-f0-9-]{1,64}$");
  const bridges = Object.fromEntries(config.bridges.map((b) => [b.toolName, b]));
  assert.equal(bridges.list_pets.url, "https://eu.pets.example.com/v1/pets");
  assert.deepEqual(bridges.list_pets.queryParams, { page_size: "page-size", kind: "kind" });
  assert.equal(bridges.list_pets.headers["X-Request-Id"], "{{X_Request_Id}}");
  assert.equal(bridges.list_pets.headers["X-Api-Key"], "{{secret:PET_STORE_API_KEY}}");
  // path parameters from the path item, write access for DELETE
  assert.equal(bridges.get_pet.url, "https://eu.pets.example.com/v1/pets/{{petId}}");
  assert.equal(tools.delete_pet.access, "write");
  // body properties become parameters; the cycle through common.yaml is a free-form object
  assert.deepEqual(bridges.create_pet.bodyTemplate, {
    name: "{{name}}",
    tags: "{{tags}}",
    owner: "{{owner}}",
  });
  assert.equal(bridges.create_pet.headers.Authorization, "Bearer {{secret:PET_STORE_BEARER}}");
  assert.equal(tools.create_pet.parameters.name.required, true);
  assert.equal(tools.create_pet.parameters.owner.properties?.friend.type, "object");
  assert.equal(tools.create_pet.parameters.owner.properties?.friend.properties, undefined);
  assert.equal(tools.put_tree.parameters.children.items?.type, "object");
  assert.deepEqual(result.secrets, ["PET_STORE_API_KEY", "PET_STORE_BEARER"]);
  const reasons = result.skipped.map((s) => `${s.operation}: ${s.reason}`);
  assert.ok(reasons.includes("uploadPhoto: request body is not JSON (multipart/form-data)"));
  assert.ok(reasons.some((r) => r.startsWith('listPets: optional cookie parameter "session"')));
  assert.ok(reasons.some((r) => r.includes('"cookie_auth": API key in cookie is not imported')));
  assert.ok(reasons.some((r) => r.includes('"oauth": oauth2 flows are not imported')));
});

Deno.test("importOpenApi: 3.1 JSON: null types, costly pattern and poisoning are reported", async () => {
  const result = await imported("api_31.json");
  const config = load(result);
  assert.equal(result.tier, 2);
  const tools = Object.fromEntries(config.tools.map((t) => [t.name, t]));
  assert.deepEqual(Object.keys(tools), ["get_notes", "update_note"]);
  assert.equal(tools.get_notes.parameters.q.type, "string");
  assert.equal(tools.get_notes.parameters.q.pattern, undefined, "costly pattern left out");
  assert.equal(tools.update_note.description, "PATCH /notes/{id}");
  const bridge = config.bridges.find((b) => b.toolName === "update_note")!;
  assert.equal(bridge.url, "https://notes.example.com/api/notes/{{id}}");
  assert.deepEqual(bridge.bodyTemplate, { text: "{{text}}" });
  assert.equal(bridge.headers.Authorization, "Basic {{secret:NOTES_BASIC}}");
  const reasons = result.skipped.map((s) => `${s.operation}: ${s.reason}`);
  assert.ok(reasons.includes("create-note: request body is not a JSON object (type array)"));
  assert.ok(reasons.includes("updateNote: description replaced: hidden-instruction tag"));
  assert.ok(reasons.some((r) => r.startsWith("GET /notes: parameters.q.pattern left out")));
});

Deno.test("importOpenApi: Swagger 2.0: host, body parameter, basic auth, formData skipped", async () => {
  const result = await imported("swagger_20.json");
  const config = load(result);
  const bridges = Object.fromEntries(config.bridges.map((b) => [b.toolName, b]));
  assert.equal(bridges.list_orders.url, "https://orders.example.com/v2/orders");
  assert.deepEqual(bridges.list_orders.queryParams, { status: "status", page: "page" });
  assert.deepEqual(bridges.create_order.bodyTemplate, {
    item: "{{item}}",
    quantity: "{{quantity}}",
  });
  assert.equal(bridges.create_order.headers.Authorization, "Basic {{secret:LEGACY_ORDERS_BASIC}}");
  const create = config.tools.find((t) => t.name === "create_order")!;
  assert.equal(create.parameters.item.required, true);
  assert.equal(create.parameters.quantity.default, 1);
  const reasons = result.skipped.map((s) => `${s.operation}: ${s.reason}`);
  assert.ok(reasons.includes('uploadReceipt: required formData parameter "file" is not supported'));
  assert.ok(reasons.some((r) => r.includes('"key_in_query": API key in query is not imported')));
});

Deno.test("importOpenApi: --tag and --operation choose operations; tier follows them", async () => {
  const pets = await imported("petstore_30.yaml", { tags: ["pets"], name: "pets-only" });
  assert.deepEqual(load(pets).tools.map((t) => t.name), ["list_pets", "create_pet", "get_pet"]);
  assert.equal(pets.tier, 2);
  assert.equal(load(pets).name, "pets-only");
  const one = await imported("petstore_30.yaml", { operations: ["getPet"] });
  assert.deepEqual(load(one).tools.map((t) => t.name), ["get_pet"]);
  assert.equal(one.tier, 1);
  const low = await imported("petstore_30.yaml", { tier: 1, baseUrl: "https://pets.test/v9" });
  assert.deepEqual(load(low).tools.map((t) => t.name), ["list_pets", "get_pet"]);
  assert.equal(load(low).bridges[0].url, "https://pets.test/v9/pets");
  assert.ok(low.skipped.some((s) => s.reason === "DELETE is not allowed at tier 1"));
});

Deno.test("importOpenApi: unknown tag, unknown operation id, bad name are usage errors", async () => {
  await assert.rejects(imported("petstore_30.yaml", { tags: ["nope"] }), (e: Error) => {
    assert.ok(e instanceof UsageError);
    assert.equal(e.message, 'No operation has tag "nope"');
    return true;
  });
  await assert.rejects(
    imported("petstore_30.yaml", { operations: ["nopeOp"] }),
    /^UsageError: No operation has operationId "nopeOp"$/,
  );
  await assert.rejects(imported("petstore_30.yaml", { name: "Bad Name" }), UsageError);
});

Deno.test("readSpecFiles/importOpenApi: a bad URL, a missing file, an invalid document", async () => {
  await assert.rejects(readSpecFiles("ftp://example.com/openapi.json"), (e: Error) => {
    assert.ok(e instanceof UsageError);
    assert.match(e.message, /Only http and https URLs/);
    return true;
  });
  await assert.rejects(readSpecFiles(data("missing.yaml")), (e: Error) => {
    return e instanceof LoomError && e.code === "NOT_FOUND";
  });
  const dir = await Deno.makeTempDir();
  try {
    const write = async (name: string, text: string) => {
      await Deno.writeTextFile(`${dir}/${name}`, text);
      return await readSpecFiles(`${dir}/${name}`);
    };
    const notOpenApi = await write("a.yaml", "title: not openapi\n");
    assert.throws(() => importOpenApi(notOpenApi), /Not an OpenAPI document/);
    await assert.rejects(write("b.json", "{ not json"), /is not valid JSON/);
    await assert.rejects(write("c.yaml", "a: [1\n"), ConfigError);
    const dangling = await write(
      "d.yaml",
      "openapi: 3.0.0\ninfo: { title: T }\nservers: [{ url: 'https://x.test' }]\npaths:\n" +
        "  /a: { get: { operationId: a, parameters: [{ $ref: '#/nope' }] } }\n",
    );
    const skipped = importOpenApi(dangling, { baseUrl: "https://x.test" });
    assert.equal(skipped.tools, 0);
    assert.deepEqual(skipped.skipped, [{
      operation: "a",
      reason: 'Reference "#/nope" points at nothing',
    }]);
    assert.equal(parseConfig(skipped.text, { path: "x.yaml" }).tools.length, 0);
    const noServer = await write("e.yaml", "openapi: 3.1.0\ninfo: { title: T }\npaths: {}\n");
    assert.throws(() => importOpenApi(noServer), /give one with --base-url/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("importOpenApi: colliding and long operation ids get unique names of at most 64", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const long = "a".repeat(80);
    await Deno.writeTextFile(
      `${dir}/s.json`,
      JSON.stringify({
        openapi: "3.0.0",
        info: { title: "T" },
        servers: [{ url: "https://x.test" }],
        paths: {
          "/a": { get: { operationId: "getThing" }, post: { operationId: "get_thing" } },
          "/b": { get: { operationId: long }, put: { operationId: `${long}b` } },
          "/c/{id}": { get: {} },
          "/d": { get: { operationId: "loom_call_tool" } },
        },
      }),
    );
    const result = importOpenApi(await readSpecFiles(`${dir}/s.json`));
    const names = load(result).tools.map((t) => t.name);
    assert.deepEqual(names, [
      "get_thing",
      "get_thing_2",
      "a".repeat(64),
      `${"a".repeat(62)}_2`,
      "op_loom_call_tool",
    ]);
    assert.equal(result.skipped[0]?.operation, "GET /c/{id}");
    assert.match(result.skipped[0]?.reason ?? "", /path names a parameter/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Serve testdata files, and `texts` by path, on loopback. */
function serveDocs(texts: Record<string, string> = {}) {
  return startUpstream(async (req) => {
    const path = new URL(req.url).pathname;
    if (Object.hasOwn(texts, path)) return new Response(texts[path]);
    try {
      return new Response(await Deno.readTextFile(data(path.slice(1))));
    } catch {
      return new Response("not found", { status: 404 });
    }
  });
}

Deno.test("readSpecFiles: a URL with a relative $ref on the same origin imports like the file", async () => {
  await using up = await serveDocs();
  const seen: string[] = [];
  const spec = await readSpecFiles(`${up.url}/petstore_30.yaml?v=1`, {
    onFetch: (url) => seen.push(url),
  });
  assert.equal(spec.main, `${up.url}/petstore_30.yaml?v=1`);
  assert.deepEqual([...spec.files.keys()].sort(), [
    `${up.url}/common.yaml`,
    `${up.url}/petstore_30.yaml?v=1`,
  ]);
  assert.deepEqual(seen, [`${up.url}/petstore_30.yaml`, `${up.url}/common.yaml`]);
  const fromUrl = importOpenApi(spec);
  const fromFile = await imported("petstore_30.yaml");
  assert.equal(fromUrl.text, fromFile.text);
});

Deno.test("readSpecFiles: a URL document's $ref to another origin or to a file is refused", async () => {
  await using other = await serveDocs();
  const doc = (ref: string) =>
    JSON.stringify({
      openapi: "3.0.3",
      info: { title: "T" },
      paths: { "/a": { get: { parameters: [{ $ref: ref }] } } },
    });
  await using up = await serveDocs({
    "/cross.json": doc(`${other.url}/common.yaml#/parameters/PageSize`),
    "/file.json": doc("file:///etc/passwd#/x"),
    "/windows.json": doc("C:\\specs\\common.yaml#/x"),
  });
  await assert.rejects(readSpecFiles(`${up.url}/cross.json`), (e: Error) => {
    assert.ok(e instanceof LoomError && e.code === "INPUT_INVALID", String(e));
    assert.match(e.message, /^Reference ".*common\.yaml#\/parameters\/PageSize" in http:/);
    assert.match(e.message, /names another origin \(http:\/\/127\.0\.0\.1:\d+\)/);
    return true;
  });
  await assert.rejects(
    readSpecFiles(`${up.url}/file.json`),
    /"file:\/\/\/etc\/passwd#\/x" .* names a file/,
  );
  await assert.rejects(readSpecFiles(`${up.url}/windows.json`), /names a file/);
  assert.equal(other.requests.length, 0);
});

Deno.test("readSpecFiles: a URL answering 404, or not OpenAPI, fails clearly", async () => {
  await using up = await serveDocs({ "/plain.yaml": "title: not openapi\n" });
  await assert.rejects(
    readSpecFiles(`${up.url}/missing.json`),
    (e: Error) =>
      e instanceof LoomError && e.code === "UPSTREAM_FAILED" && /HTTP 404/.test(e.message),
  );
  const plain = await readSpecFiles(`${up.url}/plain.yaml`);
  assert.throws(() => importOpenApi(plain), /Not an OpenAPI document/);
});

Deno.test("importOpenApi: onProgress is called about 100 times, ending at the total", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const paths: Record<string, unknown> = {};
    for (let i = 0; i < 250; i++) paths[`/r${i}`] = { get: { operationId: `op${i}` } };
    await Deno.writeTextFile(
      `${dir}/many.json`,
      JSON.stringify({
        openapi: "3.0.0",
        info: { title: "T" },
        servers: [{ url: "https://x.test" }],
        paths,
      }),
    );
    const calls: [number, number][] = [];
    const result = importOpenApi(await readSpecFiles(`${dir}/many.json`), {
      onProgress: (done, total) => calls.push([done, total]),
    });
    assert.equal(result.tools, 250);
    assert.ok(calls.length > 50 && calls.length <= 101, `${calls.length} calls`);
    assert.deepEqual(calls.at(-1), [250, 250]);
    assert.ok(calls.every(([d, t], i) => t === 250 && d > (calls[i - 1]?.[0] ?? 0)));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
