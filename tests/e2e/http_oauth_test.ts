/**
 * End-to-end: `loom run --transport http --auth oauth` against a real
 * authorization server and a real upstream, both on loopback. The Protected
 * Resource Metadata document is served without a token (behind the
 * Host/Origin guard), `/mcp` needs a valid access token, the client's token
 * never reaches the upstream nor the audit log, and bad flag combinations
 * are usage errors (exit 64). Each call is checked against the token's
 * scopes by the gate (a `loom:read` token cannot call a write tool) and
 * audited under the token's subject; a session belongs to the subject that
 * opened it, and the session quota is kept per subject.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { Client, StreamableHTTPClientTransport } from "../../src/mcp/client.ts";
import { startTestIssuer, TEST_AUDIENCE } from "../../src/web/_oauth_testing.ts";
import { INITIALIZE, runLoom, startLoomHttp, startUpstream, tempDir } from "../_helpers.ts";

function agentYaml(upstream: string): string {
  return `agent:
  name: oauth-e2e
  exposes:
    - name: echo_headers
      description: Return the headers the upstream received
  http_bridge:
    - tool_name: echo_headers
      url: "${upstream}/echo"
`;
}

Deno.test("loom run --auth oauth refuses bad flag combinations with exit 64", async () => {
  await using dir = await tempDir();
  const config = join(dir.path, "agent.yaml");
  await Deno.writeTextFile(config, agentYaml("http://127.0.0.1:9"));
  const tokenFile = join(dir.path, "token");
  await Deno.writeTextFile(tokenFile, "a-static-token-0123456789\n");
  const http = ["run", config, "--transport", "http", "--port", "0"];
  const good = ["--issuer", "https://auth.example.com", "--audience", "https://loom.example/mcp"];
  const cases: [string[], RegExp][] = [
    [[...http, "--auth", "oauth", "--audience", good[3]], /needs --issuer/],
    [[...http, "--auth", "oauth", "--issuer", good[1]], /needs --audience/],
    [[...http, "--auth", "oauth", ...good, "--token-file", tokenFile], /excludes --token/],
    [
      [...http, "--auth", "oauth", "--issuer", "http://auth.example.com", "--audience", good[3]],
      /https is required/,
    ],
    [
      [...http, "--auth", "oauth", "--issuer", "not a url", "--audience", good[3]],
      /Invalid --issuer/,
    ],
    [[...http, "--auth", "oauth", "--issuer", good[1], "--audience", "loom"], /Invalid --audience/],
    [[...http, ...good], /--issuer needs --auth oauth/],
    [[...http, "--auth", "magic"], /Invalid --auth "magic"/],
    [["run", config, "--auth", "oauth", ...good], /needs --transport http/],
  ];
  for (const [args, message] of cases) {
    const res = await runLoom(args, { home: join(dir.path, "home") });
    assert.equal(res.code, 64, `${args.join(" ")}\n${res.stderr}`);
    assert.match(res.stderr, message);
  }
});

Deno.test("loom run --auth oauth: metadata without a token, 401 without a valid one, the token never reaches the upstream or the audit log", async () => {
  await using dir = await tempDir();
  await using issuer = await startTestIssuer();
  await using upstream = await startUpstream((req) =>
    Response.json({ headers: Object.fromEntries(req.headers) })
  );
  const config = join(dir.path, "agent.yaml");
  await Deno.writeTextFile(config, agentYaml(upstream.url));
  const home = join(dir.path, "home");
  await using server = await startLoomHttp(config, {
    home,
    extraArgs: ["--auth", "oauth", "--issuer", issuer.issuer, "--audience", TEST_AUDIENCE],
  });
  const origin = new URL(server.url).origin;

  // RFC 9728 metadata: no token needed; a foreign Origin still gets 403.
  const meta = await fetch(`${origin}/.well-known/oauth-protected-resource/mcp`);
  assert.equal(meta.status, 200);
  const doc = await meta.json();
  assert.equal(doc.resource, TEST_AUDIENCE);
  assert.deepEqual(doc.authorization_servers, [issuer.issuer]);
  const foreign = await fetch(`${origin}/.well-known/oauth-protected-resource`, {
    headers: { origin: "https://evil.example" },
  });
  assert.equal(foreign.status, 403);
  await foreign.body?.cancel();

  const post = (headers: Record<string, string>) =>
    fetch(server.url, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json", ...headers },
      body: JSON.stringify(INITIALIZE),
    });
  const missing = await post({});
  assert.equal(missing.status, 401);
  assert.match(missing.headers.get("www-authenticate") ?? "", /resource_metadata="[^"]+"/);
  await missing.body?.cancel();
  const wrongAudience = await issuer.sign(issuer.published[0], { aud: "https://other/mcp" });
  const refused = await post({ authorization: `Bearer ${wrongAudience}` });
  assert.equal(refused.status, 401);
  assert.match(refused.headers.get("www-authenticate") ?? "", /error="invalid_token"/);
  await refused.body?.cancel();

  const token = await issuer.sign(issuer.published[0], { sub: "carol", scope: "loom:read" });
  const client = new Client({ name: "oauth-e2e", version: "1.0.0" });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(server.url), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
    }),
  );
  try {
    const res = await client.callTool({ name: "echo_headers", arguments: {} });
    assert.equal(res.isError ?? false, false);
  } finally {
    await client.close();
  }
  assert.equal(upstream.requests.length, 1);
  const sent = upstream.requests[0].headers;
  assert.equal(sent.get("authorization"), null);
  for (const [, value] of sent) assert.ok(!value.includes(token.split(".")[2]));
  await server.stop();
  const audit = await Deno.readTextFile(join(home, "audit", "audit.jsonl"));
  assert.ok(audit.includes('"echo_headers"'));
  assert.ok(!audit.includes(token.split(".")[2]), "the token is in the audit log");
});

function writeAgentYaml(upstream: string): string {
  return `agent:
  name: oauth-scope-e2e
  exposes:
    - name: list_items
      description: List the items
      access: read
    - name: create_item
      description: Create an item
      access: write
      parameters:
        title: { type: string, max_length: 100 }
  http_bridge:
    - tool_name: list_items
      url: "${upstream}/items"
    - tool_name: create_item
      method: POST
      url: "${upstream}/items"
      body_template: { title: "{{title}}" }
  runtime:
    trust_tier: 2
`;
}

/** An SDK client connected with one access token. */
async function connect(url: string, token: string): Promise<Client> {
  const client = new Client({ name: "oauth-scope-e2e", version: "1.0.0" });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
    }),
  );
  return client;
}

function resultText(result: Awaited<ReturnType<Client["callTool"]>>): string {
  return (result.content as { text?: string }[]).map((c) => c.text ?? "").join("");
}

Deno.test("loom run --auth oauth: a loom:read token cannot call a write tool (the upstream sees nothing, the refusal is audited with its subject); a loom:write token can", async () => {
  await using dir = await tempDir();
  await using issuer = await startTestIssuer();
  const methods: string[] = [];
  await using upstream = await startUpstream((req) => {
    methods.push(req.method);
    return Response.json({ ok: true });
  });
  const config = join(dir.path, "agent.yaml");
  await Deno.writeTextFile(config, writeAgentYaml(upstream.url));
  const home = join(dir.path, "home");
  await using server = await startLoomHttp(config, {
    home,
    extraArgs: ["--auth", "oauth", "--issuer", issuer.issuer, "--audience", TEST_AUDIENCE],
  });
  const readToken = await issuer.sign(issuer.published[0], { sub: "reader", scope: "loom:read" });
  const writeToken = await issuer.sign(issuer.published[0], { sub: "writer", scope: "loom:write" });

  const reader = await connect(server.url, readToken);
  try {
    const refused = await reader.callTool({ name: "create_item", arguments: { title: "t" } });
    assert.equal(refused.isError, true);
    assert.match(resultText(refused), /the write tool "create_item" needs the loom:write scope/);
    assert.equal(upstream.requests.length, 0, "the upstream saw a refused call");
    const read = await reader.callTool({ name: "list_items", arguments: {} });
    assert.equal(read.isError ?? false, false, resultText(read));
    assert.equal(upstream.requests.length, 1);
  } finally {
    await reader.close();
  }

  const writer = await connect(server.url, writeToken);
  try {
    const created = await writer.callTool({ name: "create_item", arguments: { title: "t" } });
    assert.equal(created.isError ?? false, false, resultText(created));
  } finally {
    await writer.close();
  }
  assert.deepEqual(methods, ["GET", "POST"]);

  await server.stop();
  const text = await Deno.readTextFile(join(home, "audit", "audit.jsonl"));
  const records = text.trim().split("\n").map((line) => JSON.parse(line));
  const refusal = records.filter((r) => r.event === "trust_violation");
  assert.equal(refusal.length, 1);
  assert.equal(refusal[0].action, "insufficient_scope");
  assert.equal(refusal[0].scope, "loom:write");
  assert.equal(refusal[0].tool, "create_item");
  assert.equal(refusal[0].subject, "reader");
  const calls = records.filter((r) => r.event === "tool_call");
  assert.deepEqual(
    calls.map((r) => [r.tool, r.phase, r.subject]),
    [
      ["list_items", "intent", "reader"],
      ["list_items", "outcome", "reader"],
      ["create_item", "intent", "writer"],
      ["create_item", "outcome", "writer"],
    ],
  );
  for (const token of [readToken, writeToken]) {
    assert.ok(!text.includes(token.split(".")[2]), "a token is in the audit log");
  }
});

Deno.test("loom run --auth oauth: a session belongs to its subject (another valid subject gets 404) and the session quota is per subject", async () => {
  await using dir = await tempDir();
  await using issuer = await startTestIssuer();
  await using upstream = await startUpstream(() => Response.json({ ok: true }));
  const config = join(dir.path, "agent.yaml");
  await Deno.writeTextFile(config, writeAgentYaml(upstream.url));
  await using server = await startLoomHttp(config, {
    home: join(dir.path, "home"),
    extraArgs: [
      ...["--auth", "oauth", "--issuer", issuer.issuer, "--audience", TEST_AUDIENCE],
      ...["--max-sessions-per-client", "2"],
    ],
  });
  const key = issuer.published[0];
  const alice = await issuer.sign(key, { sub: "alice", scope: "loom:write", jti: "a1" });
  const aliceAgain = await issuer.sign(key, { sub: "alice", scope: "loom:read", jti: "a2" });
  const bob = await issuer.sign(key, { sub: "bob", scope: "loom:write", jti: "b1" });
  assert.notEqual(alice, aliceAgain);

  const post = async (token: string, body: unknown, session?: string) => {
    const res = await fetch(server.url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json",
        authorization: `Bearer ${token}`,
        ...(session === undefined ? {} : { "mcp-session-id": session }),
      },
      body: JSON.stringify(body),
    });
    await res.body?.cancel();
    return { status: res.status, id: res.headers.get("mcp-session-id") };
  };
  const ping = { jsonrpc: "2.0", id: 2, method: "ping" };
  const create = {
    jsonrpc: "2.0",
    id: 3,
    method: "tools/call",
    params: { name: "create_item", arguments: { title: "t" } },
  };

  const opened = await post(alice, INITIALIZE);
  assert.equal(opened.status, 200);
  const session = opened.id!;
  // Another valid token of another subject: as if the session did not exist.
  assert.equal((await post(bob, ping, session)).status, 404);
  assert.equal((await post(bob, create, session)).status, 404);
  assert.equal(upstream.requests.length, 0, "bob's call reached the upstream");
  // The session is the subject's, not the token string's.
  assert.equal((await post(aliceAgain, ping, session)).status, 200);
  assert.equal((await post(alice, ping, session)).status, 200);

  // Two sessions per client: alice's third is refused, bob still has his own quota.
  assert.equal((await post(aliceAgain, INITIALIZE)).status, 200);
  assert.equal((await post(alice, INITIALIZE)).status, 429);
  const bobs = [(await post(bob, INITIALIZE)).status, (await post(bob, INITIALIZE)).status];
  assert.deepEqual(bobs, [200, 200]);
  assert.equal((await post(bob, INITIALIZE)).status, 429);
});

Deno.test("loom run with a static bearer token is unaffected by scopes: a write tool runs and no subject is recorded", async () => {
  await using dir = await tempDir();
  await using upstream = await startUpstream(() => Response.json({ ok: true }));
  const config = join(dir.path, "agent.yaml");
  await Deno.writeTextFile(config, writeAgentYaml(upstream.url));
  const tokenFile = join(dir.path, "token");
  const token = "a-static-token-0123456789";
  await Deno.writeTextFile(tokenFile, `${token}\n`, { mode: 0o600 });
  const home = join(dir.path, "home");
  await using server = await startLoomHttp(config, {
    home,
    extraArgs: ["--token-file", tokenFile],
  });
  const client = await connect(server.url, token);
  try {
    const created = await client.callTool({ name: "create_item", arguments: { title: "t" } });
    assert.equal(created.isError ?? false, false, resultText(created));
  } finally {
    await client.close();
  }
  assert.equal(upstream.requests.length, 1);
  await server.stop();
  const text = await Deno.readTextFile(join(home, "audit", "audit.jsonl"));
  const calls = text.trim().split("\n").map((line) => JSON.parse(line))
    .filter((r) => r.event === "tool_call");
  assert.equal(calls.length, 2);
  assert.ok(calls.every((r) => !("subject" in r)), text);
});
