import assert from "node:assert/strict";
import { parseConfig } from "../../config/mod.ts";
import { AuditLog, type AuditRecord, readAuditRecords } from "../../security/audit/mod.ts";
import { CredentialBroker } from "../../security/secrets/mod.ts";
import { resolveHome } from "../../store/mod.ts";
import type { CallToolResult, ToolCallContext } from "../../mcp/mod.ts";
import { AgentGate } from "./gate.ts";
import { toolAnnotations } from "./listing.ts";
import { startUpstream, tempDir } from "../../../tests/_helpers.ts";

const SECRET = "s3cr3t-Value+with/slash=and spaces";

const ctx: ToolCallContext = {
  signal: new AbortController().signal,
  sessionId: null,
  client: null,
  log: () => {},
};

const ITEMS_SCHEMA = `      output_schema:
        type: object
        required: [items]
        properties:
          items:
            type: array
            items:
              type: object
              required: [id]
              properties:
                id: { type: integer }
                name: { type: string }
`;

/** One tool `list_items` (with `schema` under it) bridged to `url`, tier 2. */
function config(url: string, options: { schema?: string; headers?: string; path?: string } = {}) {
  return `agent:
  name: output-test
  exposes:
    - name: list_items
      title: List items
      description: List the items
${options.schema ?? ITEMS_SCHEMA}  http_bridge:
    - tool_name: list_items
      url: "${url}/items"
${options.headers ?? ""}${options.path ? `      response_path: ${options.path}\n` : ""}  runtime:
    trust_tier: 2
    sandbox: none
`;
}

interface Fixture extends AsyncDisposable {
  gate: AgentGate;
  records(): Promise<AuditRecord[]>;
  auditText(): Promise<string>;
}

async function fixture(
  yaml: string,
  secrets: { set: string } | null = null,
): Promise<Fixture> {
  const tmp = await tempDir("loom-gate-output-");
  const loaded = parseConfig(yaml, { path: "output.yaml" });
  const home = resolveHome(new Map([["LOOM_HOME", tmp.path]]));
  const audit = await AuditLog.open(home.audit);
  let broker: CredentialBroker | undefined;
  if (secrets !== null) {
    broker = await CredentialBroker.open({ home, env: new Map(), audit });
    await broker.set("api-key", secrets.set);
    await broker.grant("output-test", "api-key", loaded.source.digest);
  }
  const gate = new AgentGate(loaded, { audit, secrets: broker });
  return {
    gate,
    records: () => readAuditRecords(home.audit, {}),
    auditText: () => Deno.readTextFile(`${home.audit}/audit.jsonl`),
    [Symbol.asyncDispose]: async () => {
      await gate.close();
      await broker?.close();
      await audit.close();
      await tmp[Symbol.asyncDispose]();
    },
  };
}

async function outcomeOf(f: Fixture): Promise<AuditRecord> {
  const records = await f.records();
  const outcome = records.find((r) => r.event === "tool_call" && r.phase === "outcome");
  assert.ok(outcome, "an outcome was recorded");
  return outcome;
}

function textOf(result: CallToolResult): string {
  return result.content.map((c) => c.text).join("");
}

function leaks(text: string): string[] {
  const forms = [SECRET, encodeURIComponent(SECRET), JSON.stringify(SECRET).slice(1, -1)];
  return forms.filter((f) => text.includes(f));
}

// --- negative -------------------------------------------------------------------

Deno.test("toolAnnotations() never calls a write tool read-only, whatever its method", () => {
  for (const method of ["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"] as const) {
    const hints = toolAnnotations({ access: "write" }, { method });
    assert.equal(hints.readOnlyHint, false, method);
    assert.equal(hints.destructiveHint, true, method);
  }
});

Deno.test("AgentGate lists a write tool bridged with GET as neither read-only nor safe", async () => {
  await using up = await startUpstream(() => Response.json({}));
  const yaml = config(up.url, { schema: "" }).replace(
    "description: List the items\n",
    "description: List the items\n      access: write\n",
  );
  await using f = await fixture(yaml);
  const [listed] = f.gate.listTools();
  assert.deepEqual(listed.annotations, {
    readOnlyHint: false,
    destructiveHint: true,
    idempotentHint: true,
    openWorldHint: true,
  });
});

Deno.test("AgentGate answers a result that breaks output_schema with a tool error naming the path, and records it", async () => {
  await using up = await startUpstream(() =>
    Response.json({ items: [{ id: 1 }, { id: 2 }, { id: "3" }] })
  );
  await using f = await fixture(config(up.url));
  const result = await f.gate.callTool("list_items", {}, ctx);
  assert.equal(result.isError, true);
  assert.equal("structuredContent" in result, false);
  const expected =
    "Upstream result does not match the tool's output_schema: result.items[2].id: expected integer";
  assert.equal(textOf(result), expected);
  const outcome = await outcomeOf(f);
  assert.equal(outcome.status, "error");
  assert.equal(outcome.error, expected);
  assert.equal(outcome.code, "UPSTREAM_FAILED");
  assert.equal((outcome.http as { status: number }).status, 200);
});

Deno.test("AgentGate answers a non-JSON body of a tool with output_schema as a tool error", async () => {
  await using up = await startUpstream(() => new Response('{"items": []}'));
  await using f = await fixture(config(up.url));
  const result = await f.gate.callTool("list_items", {}, ctx);
  assert.equal(result.isError, true);
  assert.equal(
    textOf(result),
    "Upstream result does not match the tool's output_schema: the upstream did not send JSON",
  );
  assert.equal((await outcomeOf(f)).status, "error");
});

Deno.test("AgentGate never puts an echoed secret into structuredContent", async () => {
  await using up = await startUpstream((req) =>
    Response.json({
      items: [{ id: 1, name: `key ${req.headers.get("x-api-key")}` }],
      echo: { [req.headers.get("x-api-key") ?? ""]: req.headers.get("x-api-key") },
    })
  );
  const yaml = config(up.url, { headers: '      headers: { X-Api-Key: "{{secret:api-key}}" }\n' });
  await using f = await fixture(yaml, { set: SECRET });
  const result = await f.gate.callTool("list_items", {}, ctx);
  assert.equal(result.isError, undefined, textOf(result));
  assert.equal(up.requests[0].headers.get("x-api-key"), SECRET, "the secret was sent");
  const structured = JSON.stringify(result.structuredContent);
  assert.deepEqual(leaks(structured), [], structured);
  assert.deepEqual(leaks(textOf(result)), []);
  assert.deepEqual(result.structuredContent, JSON.parse(textOf(result)));
  assert.deepEqual(result.structuredContent, {
    items: [{ id: 1, name: "key «redacted:api-key»" }],
    echo: { "«redacted:api-key»": "«redacted:api-key»" },
  });
  assert.deepEqual(leaks(await f.auditText()), []);
});

Deno.test("AgentGate names a mismatch by the redacted key, never the echoed secret", async () => {
  await using up = await startUpstream((req) =>
    Response.json({ items: [], [req.headers.get("x-api-key") ?? ""]: 1 })
  );
  const strict = ITEMS_SCHEMA.replace(
    "        required: [items]\n",
    "        required: [items]\n        additionalProperties: false\n",
  );
  const yaml = config(up.url, {
    schema: strict,
    headers: '      headers: { X-Api-Key: "{{secret:api-key}}" }\n',
  });
  await using f = await fixture(yaml, { set: SECRET });
  const result = await f.gate.callTool("list_items", {}, ctx);
  assert.equal(result.isError, true);
  assert.equal("structuredContent" in result, false);
  assert.match(textOf(result), /result\["«redacted:api-key»"\]: not allowed/);
  assert.deepEqual(leaks(textOf(result)), []);
  assert.deepEqual(leaks(await f.auditText()), []);
});

Deno.test("AgentGate refuses a result whose echoed secret was a JSON number, rather than show it", async () => {
  const numeric = "8301945127734";
  await using up = await startUpstream(() =>
    new Response(`{"items": [], "n": ${numeric}}`, {
      headers: { "content-type": "application/json" },
    })
  );
  const yaml = config(up.url, { headers: '      headers: { X-Api-Key: "{{secret:api-key}}" }\n' });
  await using f = await fixture(yaml, { set: numeric });
  const result = await f.gate.callTool("list_items", {}, ctx);
  assert.equal(result.isError, true);
  assert.match(textOf(result), /the result is not JSON once its secrets are redacted$/);
  assert.equal(textOf(result).includes(numeric), false);
  assert.equal((await f.auditText()).includes(numeric), false);
});

// --- positive -------------------------------------------------------------------

Deno.test("AgentGate lists title, derived annotations and outputSchema", async () => {
  await using up = await startUpstream(() => Response.json({}));
  await using f = await fixture(config(up.url));
  const [listed] = f.gate.listTools();
  assert.equal(listed.title, "List items");
  assert.deepEqual(listed.annotations, {
    readOnlyHint: true,
    destructiveHint: false,
    idempotentHint: true,
    openWorldHint: true,
  });
  assert.equal((listed.outputSchema as { type: string }).type, "object");
  assert.deepEqual((listed.outputSchema as { required: string[] }).required, ["items"]);
});

Deno.test("AgentGate lists no title or outputSchema for a tool that declares none", async () => {
  await using up = await startUpstream(() => Response.json({}));
  const yaml = config(up.url, { schema: "" }).replace("      title: List items\n", "");
  await using f = await fixture(yaml);
  const [listed] = f.gate.listTools();
  assert.equal("title" in listed, false);
  assert.equal("outputSchema" in listed, false);
  const result = await f.gate.callTool("list_items", {}, ctx);
  assert.equal("structuredContent" in result, false);
});

Deno.test("AgentGate answers a conforming result with structuredContent beside its JSON text", async () => {
  await using up = await startUpstream(() =>
    Response.json({ data: { items: [{ id: 1, name: "bolt" }], extra: true } })
  );
  await using f = await fixture(config(up.url, { path: "data" }));
  const result = await f.gate.callTool("list_items", {}, ctx);
  assert.equal(result.isError, undefined, textOf(result));
  const expected = { items: [{ id: 1, name: "bolt" }], extra: true };
  assert.deepEqual(result.structuredContent, expected);
  assert.equal(textOf(result), JSON.stringify(expected));
  assert.equal((await outcomeOf(f)).status, "success");
});
