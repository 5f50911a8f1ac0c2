/**
 * An upstream's own error text reaches the client, in process and through
 * the sandboxed agent process, bounded, escaped and redacted; the audit
 * outcome keeps the status and a digest of that text, not the text.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import type { ToolCallContext } from "../../mcp/mod.ts";
import { type SandboxMode, secretGate } from "./_testing.ts";
import { startUpstream } from "../../../tests/_helpers.ts";

const SECRET = "s3cr3t-Value+with/slash=and spaces";
const PROM_ERROR = {
  status: "error",
  errorType: "bad_data",
  error: "parse error: unclosed left parenthesis",
};

async function setup(mode: SandboxMode, handler: (req: Request) => Response) {
  const server = await startUpstream(handler);
  const url = server.url;
  const fixture = await secretGate(
    `agent:
  name: erring
  exposes:
    - name: query
      description: Query the upstream
  http_bridge:
    - tool_name: query
      url: "${url}/api/v1/query"
      headers: { X-Api-Key: "{{secret:api-key}}" }
  runtime:
    sandbox: ${mode}
`,
    "erring.yaml",
    SECRET,
  );
  return {
    gate: fixture.gate,
    url,
    auditFile: fixture.auditFile,
    [Symbol.asyncDispose]: async () => {
      await fixture[Symbol.asyncDispose]();
      await server.close();
    },
  };
}

const ctx: ToolCallContext = {
  signal: new AbortController().signal,
  sessionId: null,
  client: null,
  log: () => {},
};

async function callOnce(mode: SandboxMode, handler: (req: Request) => Response) {
  await using s = await setup(mode, handler);
  const res = await s.gate.callTool("query", {}, ctx);
  assert.equal(res.isError, true);
  const text = res.content[0].text;
  assert.ok(!text.includes(s.url), "the message never names the URL");
  const log = await Deno.readTextFile(s.auditFile);
  const outcome = log.trim().split("\n").map((l) => JSON.parse(l)).find((r) =>
    r.event === "tool_call" && r.phase === "outcome"
  );
  return { text, log, outcome };
}

for (const mode of ["none", "deno"] as const) {
  Deno.test(`AgentGate.callTool() (sandbox: ${mode}) shows a Prometheus 400's error text and audits its status and digest`, async () => {
    const { text, log, outcome } = await callOnce(
      mode,
      () => Response.json(PROM_ERROR, { status: 400 }),
    );
    assert.equal(text, "Upstream answered 400 Bad Request: parse error: unclosed left parenthesis");
    assert.equal(outcome.upstream_status, 400);
    const excerpt = "parse error: unclosed left parenthesis";
    assert.equal(
      outcome.error_excerpt_sha256,
      createHash("sha256").update(excerpt).digest("hex"),
    );
    assert.equal(outcome.error, "Upstream answered 400 Bad Request");
    assert.ok(!log.includes("unclosed left parenthesis"), "the excerpt is not in the audit log");
  });

  Deno.test(`AgentGate.callTool() (sandbox: ${mode}) redacts a secret the upstream echoes in its error`, async () => {
    const { text, log, outcome } = await callOnce(mode, (req) =>
      new Response(
        `invalid key ${req.headers.get("x-api-key")} (${btoa("u:" + SECRET)}) for ${
          "x".repeat(2000)
        } ${req.headers.get("x-api-key")}`,
        { status: 401, headers: { "content-type": "text/plain" } },
      ));
    assert.match(text, /^Upstream answered 401 Unauthorized: invalid key «redacted:api-key» /);
    assert.ok(!text.includes(SECRET) && !text.includes(btoa("u:" + SECRET)), text);
    assert.ok(!text.includes("s3cr3t"), text);
    assert.ok(!log.includes("s3cr3t"));
    assert.equal(outcome.upstream_status, 401);
    assert.match(outcome.error_excerpt_sha256, /^[0-9a-f]{64}$/);
  });
}
