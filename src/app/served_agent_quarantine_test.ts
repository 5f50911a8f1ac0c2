/**
 * Generated configs in quarantine, through the real builder, gate and MCP
 * engine: a served agent whose config says `provenance: ai-generated` lists
 * no tools in either protocol era and refuses their calls (recorded, nothing
 * sent upstream) until the home's state database holds an approval of its
 * name and exact digest; a changed byte is quarantined again.
 */

import assert from "node:assert/strict";
import { type AgentConfig, parseConfig } from "../config/mod.ts";
import { AuditLog, type AuditRecord, readAuditRecords } from "../security/audit/mod.ts";
import {
  classifyMessage,
  type JsonRpcResponse,
  LATEST_PROTOCOL_VERSION,
  McpSession,
  META,
  MODERN_PROTOCOL_VERSION,
} from "../mcp/mod.ts";
import { type LoomHome, openStore, resolveHome } from "../store/mod.ts";
import { AgentGate } from "../runtime/mod.ts";
import { ServedAgent } from "./served_agent.ts";
import { initializeRequest, startUpstream, tempDir, type Upstream } from "../../tests/_helpers.ts";

interface Fixture extends AsyncDisposable {
  home: LoomHome;
  api: Upstream;
  audit: AuditLog;
  logs: string[];
  serve(config: AgentConfig): Promise<ServedAgent>;
  records(): Promise<AuditRecord[]>;
}

async function fixture(): Promise<Fixture> {
  const dir = await tempDir("loom-provenance-");
  const api = await startUpstream(() => Response.json({ ok: true }));
  const home = resolveHome(new Map([["LOOM_HOME", dir.path]]));
  const audit = await AuditLog.open(home.audit);
  const agents: ServedAgent[] = [];
  const logs: string[] = [];
  return {
    home,
    api,
    audit,
    logs,
    async serve(config) {
      const agent = await ServedAgent.open(config, {
        home,
        audit,
        env: new Map(),
        transport: "stdio",
        version: "0.0.0-test",
        log: (line) => logs.push(line),
      });
      agents.push(agent);
      return agent;
    },
    records: () => readAuditRecords(home.audit, {}),
    async [Symbol.asyncDispose]() {
      for (const a of agents) await a.close();
      await audit.close();
      await api.close();
      await dir[Symbol.asyncDispose]();
    },
  };
}

/** A config with one read tool `lookup` bridged to the upstream, of the given provenance. */
function config(url: string, provenance: string | null, trailer = ""): AgentConfig {
  const text = `agent:
  name: drafted
${provenance === null ? "" : `  provenance: ${provenance}\n`}  exposes:
    - name: lookup
      description: Look something up
      parameters:
        q: { type: string, max_length: 100 }
  http_bridge:
    - tool_name: lookup
      url: "${url}/lookup"
      query_params: { q: q }
  runtime:
    sandbox: none
${trailer}`;
  return parseConfig(text, { path: "/somewhere/private/drafted.yaml" });
}

const AI = "{ source: ai-generated, generator: ollama/llama3.1 }";

function result(response: JsonRpcResponse | null): Record<string, unknown> {
  assert.ok(response && "result" in response, JSON.stringify(response));
  return response.result;
}

/** The tool names `tools/list` shows in a 2025-11-25 session and to a 2026-07-28 request. */
async function listedInBothEras(agent: ServedAgent): Promise<[string[], string[]]> {
  const engine = agent.engine;
  const session = new McpSession(null, () => {});
  engine.attach(session);
  const init = initializeRequest({ protocolVersion: LATEST_PROTOCOL_VERSION });
  result(await engine.handle(session, classifyMessage(init)));
  const legacy = result(
    await engine.handle(session, classifyMessage({ jsonrpc: "2.0", id: 2, method: "tools/list" })),
  );
  engine.detach(session);
  const modern = result(
    await engine.handle(
      new McpSession(null, () => {}),
      classifyMessage({
        jsonrpc: "2.0",
        id: 3,
        method: "tools/list",
        params: {
          _meta: {
            [META.protocolVersion]: MODERN_PROTOCOL_VERSION,
            [META.clientInfo]: { name: "modern", version: "1" },
            [META.clientCapabilities]: {},
          },
        },
      }),
    ),
  );
  const names = (r: Record<string, unknown>) => (r.tools as { name: string }[]).map((t) => t.name);
  return [names(legacy), names(modern)];
}

function call(agent: ServedAgent) {
  return agent.gate.callTool("lookup", { q: "x" }, {
    signal: new AbortController().signal,
    sessionId: null,
    client: { name: "test-client", version: "1" },
    caller: "stdio",
    log: () => {},
  });
}

const text = (r: { content: { text?: string }[] }) => r.content.map((c) => c.text).join("");

Deno.test("provenance: an unapproved ai-generated config lists no tools in either era; a call is refused as quarantined, recorded, and never reaches the upstream", async () => {
  await using f = await fixture();
  const agent = await f.serve(config(f.api.url, AI));
  assert.equal(agent.gate.quarantined, true);
  assert.deepEqual(await listedInBothEras(agent), [[], []]);
  const refused = await call(agent);
  assert.equal(refused.isError, true);
  assert.match(text(refused), /Tool "lookup" is quarantined/);
  assert.match(text(refused), /loom quarantine approve drafted\.yaml/);
  assert.doesNotMatch(text(refused), /somewhere\/private/, "the client is not told the path");
  assert.equal(f.api.requests.length, 0);
  const [record] = (await f.records()).filter((r) => r.event === "trust_violation");
  assert.equal(record.action, "quarantined");
  assert.equal(record.tool, "lookup");
  assert.equal(record.status, "denied");
  assert.equal(record.config_digest, `sha256:${agent.config.source.digest}`);
  assert.ok(f.logs.some((l) => /ai-generated .* quarantined/.test(l)), f.logs.join("\n"));
});

Deno.test("provenance: a gate built without an approval serves an ai-generated config nothing (fails closed)", async () => {
  await using f = await fixture();
  const ai = config(f.api.url, "ai-generated");
  const gate = new AgentGate(ai, { audit: f.audit });
  try {
    assert.deepEqual(gate.listTools(), []);
    const wrong = new AgentGate(ai, {
      audit: f.audit,
      configApproval: { agent: "other", configDigest: ai.source.digest, approvedBy: "cli:x" },
    });
    assert.deepEqual(wrong.listTools(), [], "an approval for another agent does not apply");
    await wrong.close();
  } finally {
    await gate.close();
  }
});

Deno.test("provenance: human, imported and absent provenance need no approval", async () => {
  await using f = await fixture();
  for (const provenance of [null, "human", "imported", "{ source: imported, generator: x }"]) {
    const agent = await f.serve(config(f.api.url, provenance));
    assert.equal(agent.gate.quarantined, false, String(provenance));
    assert.deepEqual(await listedInBothEras(agent), [["lookup"], ["lookup"]]);
  }
});

Deno.test("provenance: after an approval of its exact digest the tools are listed and a call runs", async () => {
  await using f = await fixture();
  const ai = config(f.api.url, AI);
  {
    await using store = await openStore(f.home);
    store.configApprovals.put({
      agent: ai.name,
      configDigest: ai.source.digest,
      approvedBy: "cli:reviewer",
    });
  }
  const agent = await f.serve(ai);
  assert.equal(agent.gate.quarantined, false);
  assert.deepEqual(await listedInBothEras(agent), [["lookup"], ["lookup"]]);
  const ran = await call(agent);
  assert.equal(ran.isError ?? false, false, text(ran));
  assert.equal(f.api.requests.length, 1);
});

Deno.test("provenance: a one-byte change after approval is quarantined again", async () => {
  await using f = await fixture();
  const approved = config(f.api.url, AI);
  {
    await using store = await openStore(f.home);
    store.configApprovals.put({
      agent: approved.name,
      configDigest: approved.source.digest,
      approvedBy: "cli:reviewer",
    });
  }
  const edited = config(f.api.url, AI, " ");
  assert.notEqual(edited.source.digest, approved.source.digest);
  const agent = await f.serve(edited);
  assert.equal(agent.gate.quarantined, true);
  assert.deepEqual(await listedInBothEras(agent), [[], []]);
  assert.equal((await call(agent)).isError, true);
  assert.equal(f.api.requests.length, 0);
});
