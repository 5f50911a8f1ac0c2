/**
 * End-to-end: `loom run --transport http --auth oauth` against a real
 * authorization server and a real upstream, both on loopback. The Protected
 * Resource Metadata document is served without a token (behind the
 * Host/Origin guard), `/mcp` needs a valid access token, the client's token
 * never reaches the upstream nor the audit log, and bad flag combinations
 * are usage errors (exit 64).
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
