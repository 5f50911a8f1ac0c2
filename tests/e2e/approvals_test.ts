/**
 * Approvals end to end: a real `loom run` over HTTP, a real upstream on
 * loopback, the real `loom approvals` command in its own process, and the
 * SDK clients (1.x, and the 2.4 client in both eras). A held call never
 * reaches the upstream before approval; after `loom approvals approve` the
 * same call runs once; a denial is answered; a client that declared
 * elicitation is asked inline.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  Client,
  ElicitRequestSchema,
  StreamableHTTPClientTransport,
} from "../../src/mcp/client.ts";
import {
  Client as Client2,
  StreamableHTTPClientTransport as Transport2,
} from "@modelcontextprotocol/client";
import { runLoom, startLoomHttp, startUpstream, tempDir, type Upstream } from "../_helpers.ts";

function agentYaml(url: string): string {
  return `agent:
  name: shop
  exposes:
    - name: create_item
      description: Create an item
      access: write
      parameters:
        title: { type: string, max_length: 100 }
        amount: { type: integer }
  http_bridge:
    - tool_name: create_item
      method: POST
      url: "${url}/items"
      body_template: { title: "{{title}}", amount: "{{amount}}" }
  escalation_rules:
    - { name: big-amount, reason: "Large amounts need a look", param_gt: { amount: 500 } }
  runtime:
    trust_tier: 2
    sandbox: none
`;
}

interface World extends AsyncDisposable {
  api: Upstream;
  home: string;
  url: string;
}

async function world(): Promise<World> {
  const dir = await tempDir("loom-approvals-e2e-");
  const api = await startUpstream(() => Response.json({ ok: true }));
  const config = join(dir.path, "shop.yaml");
  await Deno.writeTextFile(config, agentYaml(api.url));
  const home = join(dir.path, "home");
  const server = await startLoomHttp(config, { home });
  return {
    api,
    home,
    url: server.url,
    async [Symbol.asyncDispose]() {
      await server.stop();
      await api.close();
      await dir[Symbol.asyncDispose]();
    },
  };
}

type Result = { content?: unknown; isError?: boolean };
const textOf = (r: Result) => (r.content as { text: string }[]).map((c) => c.text).join("");
const idOf = (r: Result) => /Approval ([0-9a-f]{16}) is pending/.exec(textOf(r))?.[1];
const CALL = { name: "create_item", arguments: { title: "t", amount: 900 } };

async function sdk1(url: string, elicit?: (params: Record<string, unknown>) => unknown) {
  const client = new Client(
    { name: "sdk1-e2e", version: "1.0.0" },
    elicit ? { capabilities: { elicitation: {} } } : {},
  );
  if (elicit) {
    client.setRequestHandler(
      ElicitRequestSchema,
      (req: { params: Record<string, unknown> }) => elicit(req.params) as never,
    );
  }
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  return client;
}

Deno.test("e2e approvals: held until `loom approvals approve` (another process), then runs exactly once", async () => {
  await using w = await world();
  const client = await sdk1(w.url);
  try {
    const held = await client.callTool(CALL) as Result;
    assert.equal(held.isError, true);
    const id = idOf(held);
    assert.ok(id, textOf(held));
    assert.equal(w.api.requests.length, 0, "never reached the upstream before approval");

    const listed = await runLoom(["approvals", "list", "--json"], { home: w.home });
    assert.equal(listed.code, 0, listed.stderr);
    const rows = JSON.parse(listed.stdout);
    assert.deepEqual(rows.map((r: Record<string, unknown>) => [r.id, r.status, r.tool]), [
      [id, "pending", "create_item"],
    ]);
    assert.deepEqual(rows[0].arguments, { title: "t", amount: 900 });

    const approved = await runLoom(["approvals", "approve", id], { home: w.home });
    assert.equal(approved.code, 0, approved.stderr);
    assert.match(approved.stdout, new RegExp(`Approved ${id}`));
    const twice = await runLoom(["approvals", "approve", id], { home: w.home });
    assert.equal(twice.code, 77, "not pending any more");
    // Who asked (the HTTP caller) and who decided (the OS user at the command line).
    const shownOne = await runLoom(["approvals", "show", id], { home: w.home });
    assert.match(shownOne.stdout, /^requested by +http(-token:\d+)?$/m);
    assert.match(shownOne.stdout, /^decided by +cli:\S+$/m);

    const ran = await client.callTool(CALL) as Result;
    assert.equal(ran.isError, undefined, textOf(ran));
    assert.equal(w.api.requests.length, 1);
    const again = await client.callTool(CALL) as Result;
    assert.equal(again.isError, true);
    assert.ok(idOf(again) && idOf(again) !== id, "held again, on a new approval");
    assert.equal(w.api.requests.length, 1, "the upstream saw exactly one request");
  } finally {
    await client.close();
  }
  const shown = await runLoom(["audit", "show", "--event", "approval"], { home: w.home });
  assert.equal(shown.code, 0, shown.stderr);
  for (const action of ["requested", "approved", "consumed"]) {
    assert.match(shown.stdout, new RegExp(action));
  }
  const verify = await runLoom(["audit", "verify"], { home: w.home });
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);
});

Deno.test("e2e approvals: `loom approvals deny --reason` is answered on retry; bad ids fail clearly", async () => {
  await using w = await world();
  const client = await sdk1(w.url);
  try {
    const id = idOf(await client.callTool(CALL) as Result)!;
    const denied = await runLoom(["approvals", "deny", id, "--reason", "too much"], {
      home: w.home,
    });
    assert.equal(denied.code, 0, denied.stderr);
    const retry = await client.callTool(CALL) as Result;
    assert.equal(retry.isError, true);
    assert.match(textOf(retry), /was denied by cli:\S+ \(too much\)/);
    assert.equal(w.api.requests.length, 0);
  } finally {
    await client.close();
  }
  const missing = await runLoom(["approvals", "approve", "0123456789abcdef"], { home: w.home });
  assert.equal(missing.code, 66);
  const malformed = await runLoom(["approvals", "show", "../etc"], { home: w.home });
  assert.equal(malformed.code, 64);
  const misplaced = await runLoom(["approvals", "approve", "0123456789abcdef", "--reason", "x"], {
    home: w.home,
  });
  assert.equal(misplaced.code, 64);
});

Deno.test("e2e approvals: a 1.x client that declared elicitation approves inline; the call runs once", async () => {
  await using w = await world();
  const asked: Record<string, unknown>[] = [];
  const client = await sdk1(w.url, (params) => {
    asked.push(params);
    return { action: "accept", content: { approve: true } };
  });
  try {
    const ran = await client.callTool(CALL) as Result;
    assert.equal(ran.isError, undefined, textOf(ran));
    assert.equal(w.api.requests.length, 1);
    assert.equal(asked.length, 1);
    assert.match(String(asked[0].message), /"create_item"/);
  } finally {
    await client.close();
  }
  const shown = await runLoom(["audit", "show", "--event", "approval"], { home: w.home });
  // The answer's channel and the caller's principal, never the client's declared name.
  assert.match(shown.stdout, /inline:http(-token:\d+)?\b/);
  assert.doesNotMatch(shown.stdout, /client:sdk1-e2e/);
});

Deno.test("e2e approvals: an inline decline leaves the approval for the CLI", async () => {
  await using w = await world();
  const client = await sdk1(w.url, () => ({ action: "decline" }));
  try {
    const held = await client.callTool(CALL) as Result;
    const id = idOf(held);
    assert.ok(id, textOf(held));
    const approved = await runLoom(["approvals", "approve", id], { home: w.home });
    assert.equal(approved.code, 0, approved.stderr);
    // The retry finds its approval before anything is asked.
    const ran = await client.callTool(CALL) as Result;
    assert.equal(ran.isError, undefined, textOf(ran));
    assert.equal(w.api.requests.length, 1);
  } finally {
    await client.close();
  }
});

for (const mode of ["legacy", "auto"] as const) {
  Deno.test(`e2e approvals: the 2.4 client (${mode}) is held, approved by the CLI, runs once`, async () => {
    await using w = await world();
    const client = new Client2(
      { name: "sdk2-e2e", version: "1.0.0" },
      { versionNegotiation: { mode } } as ConstructorParameters<typeof Client2>[1],
    );
    await client.connect(new Transport2(new URL(w.url)));
    try {
      const held = await client.callTool(CALL) as Result;
      const id = idOf(held);
      assert.ok(id, textOf(held));
      assert.equal(w.api.requests.length, 0);
      const approved = await runLoom(["approvals", "approve", id], { home: w.home });
      assert.equal(approved.code, 0, approved.stderr);
      const ran = await client.callTool(CALL) as Result;
      assert.equal(ran.isError, undefined, textOf(ran));
      assert.equal((await client.callTool(CALL) as Result).isError, true);
      assert.equal(w.api.requests.length, 1);
    } finally {
      await client.close();
    }
  });
}

for (const mode of ["legacy", "auto"] as const) {
  Deno.test(`e2e approvals: the 2.4 client (${mode}) with an elicitation handler approves inline`, async () => {
    await using w = await world();
    const asked: unknown[] = [];
    const client = new Client2(
      { name: "sdk2-inline", version: "1.0.0" },
      {
        capabilities: { elicitation: { form: {} } },
        versionNegotiation: { mode },
      } as ConstructorParameters<typeof Client2>[1],
    );
    client.setRequestHandler("elicitation/create", (request: { params: unknown }) => {
      asked.push(request.params);
      return Promise.resolve({ action: "accept", content: { approve: true } });
    });
    await client.connect(new Transport2(new URL(w.url)));
    try {
      const version = (client as unknown as { getNegotiatedProtocolVersion(): string })
        .getNegotiatedProtocolVersion();
      // auto: 2026-07-28, so the question came as input_required (no session to ask in).
      assert.equal(version, mode === "auto" ? "2026-07-28" : "2025-11-25");
      const ran = await client.callTool(CALL) as Result;
      assert.equal(ran.isError, undefined, textOf(ran));
      assert.equal(asked.length, 1);
      assert.equal(w.api.requests.length, 1);
    } finally {
      await client.close();
    }
    const shown = await runLoom(["audit", "show", "--event", "approval"], { home: w.home });
    assert.match(shown.stdout, /inline:http(-token:\d+)?\b/);
    assert.match(shown.stdout, /consumed/);
  });
}
