/**
 * Tests of the OAuth resource server against a real issuer on loopback
 * (`_oauth_testing.ts`): every refusal first, then the token that passes.
 *
 * @module
 */

import assert from "node:assert/strict";
import { SignJWT, UnsecuredJWT } from "jose";
import { UsageError } from "../errors.ts";
import { startTestIssuer, TEST_AUDIENCE, type TestIssuer } from "./_oauth_testing.ts";
import {
  checkOAuthUrl,
  OAuthResourceServer,
  type OAuthResourceServerOptions,
  scopeFailure,
} from "./oauth.ts";
import { LOOM_SCOPES } from "../security/trust/mod.ts";

const METADATA_URL = "http://127.0.0.1:8400/.well-known/oauth-protected-resource/mcp";

function server(issuer: TestIssuer, extra: Partial<OAuthResourceServerOptions> = {}) {
  return new OAuthResourceServer({ issuer: issuer.issuer, audience: TEST_AUDIENCE, ...extra });
}

function bearer(token: string): Request {
  return new Request("http://127.0.0.1:8400/mcp", {
    headers: { authorization: `Bearer ${token}` },
  });
}

/** Assert a 401 invalid_token whose header and body never hold the token. */
async function assertInvalid(rs: OAuthResourceServer, token: string, description?: RegExp) {
  const outcome = await rs.authenticate(bearer(token));
  assert.equal(outcome.ok, false);
  if (outcome.ok) return;
  assert.equal(outcome.response.status, 401);
  const header = outcome.response.headers.get("www-authenticate") ?? "";
  assert.match(header, /^Bearer resource_metadata="[^"]+", error="invalid_token"/);
  assert.ok(header.includes(`resource_metadata="${METADATA_URL}"`), header);
  if (description) assert.match(header, description);
  const body = await outcome.response.text();
  for (const part of token.split(".")) {
    if (part.length > 8) assert.ok(!header.includes(part) && !body.includes(part));
  }
}

Deno.test("OAuthResourceServer answers a request without a token 401 with resource_metadata and a scope hint", async () => {
  await using issuer = await startTestIssuer();
  const outcome = await server(issuer).authenticate(new Request("http://127.0.0.1:8400/mcp"));
  assert.equal(outcome.ok, false);
  if (outcome.ok) return;
  assert.equal(outcome.response.status, 401);
  assert.equal(
    outcome.response.headers.get("www-authenticate"),
    `Bearer resource_metadata="${METADATA_URL}", scope="loom:read"`,
  );
  assert.equal((await outcome.response.json()).id, null);
  const basic = await server(issuer).verify("Basic YWxpY2U6c2VjcmV0");
  assert.deepEqual(basic, { kind: "missing_token" }); // another scheme: no error code
  assert.deepEqual(await server(issuer).verify("Bearer "), {
    kind: "invalid_token",
    description: "The access token is invalid",
  });
  assert.equal(issuer.jwksFetches, 0); // nothing fetched for a request without a token
});

Deno.test("OAuthResourceServer refuses an expired token", async () => {
  await using issuer = await startTestIssuer();
  const now = Math.floor(Date.now() / 1000);
  const token = await issuer.sign(issuer.published[0], { iat: now - 600, exp: now - 120 });
  await assertInvalid(server(issuer), token, /error_description="The access token expired"/);
});

Deno.test("OAuthResourceServer refuses a token without exp or sub, or not yet valid", async () => {
  await using issuer = await startTestIssuer();
  const rs = server(issuer);
  const key = issuer.published[0];
  await assertInvalid(rs, await issuer.sign(key, { exp: undefined }));
  await assertInvalid(rs, await issuer.sign(key, { sub: undefined }));
  await assertInvalid(rs, await issuer.sign(key, { nbf: Math.floor(Date.now() / 1000) + 600 }));
});

Deno.test("OAuthResourceServer refuses a token for another audience", async () => {
  await using issuer = await startTestIssuer();
  const key = issuer.published[0];
  const rs = server(issuer);
  await assertInvalid(rs, await issuer.sign(key, { aud: "https://other.example/mcp" }));
  await assertInvalid(rs, await issuer.sign(key, { aud: [] }));
  await assertInvalid(rs, await issuer.sign(key, { aud: undefined }));
});

Deno.test("OAuthResourceServer refuses a token of another issuer", async () => {
  await using issuer = await startTestIssuer();
  const token = await issuer.sign(issuer.published[0], { iss: "https://evil.example" });
  await assertInvalid(server(issuer), token);
});

Deno.test("OAuthResourceServer refuses a token signed by another key under a published kid", async () => {
  await using issuer = await startTestIssuer();
  const impostor = await issuer.makeKey("k1"); // same kid, not the published key
  await assertInvalid(server(issuer), await issuer.sign(impostor));
});

Deno.test("OAuthResourceServer refuses alg none", async () => {
  await using issuer = await startTestIssuer();
  const now = Math.floor(Date.now() / 1000);
  const token = new UnsecuredJWT({ sub: "alice", scope: "loom:write", exp: now + 300 })
    .setIssuer(issuer.issuer).setAudience(TEST_AUDIENCE).encode();
  await assertInvalid(server(issuer), token);
});

Deno.test("OAuthResourceServer refuses HS256 signed with the issuer's public key as the secret", async () => {
  await using issuer = await startTestIssuer();
  const published = issuer.published[0];
  const now = Math.floor(Date.now() / 1000);
  const rs = server(issuer);
  for (const secret of [JSON.stringify(published.publicJwk), String(published.publicJwk.n)]) {
    const token = await new SignJWT({ sub: "alice", scope: "loom:write" })
      .setProtectedHeader({ alg: "HS256", kid: published.kid })
      .setIssuer(issuer.issuer).setAudience(TEST_AUDIENCE).setExpirationTime(now + 300)
      .sign(new TextEncoder().encode(secret));
    await assertInvalid(rs, token);
  }
});

Deno.test("OAuthResourceServer refetches the keys once for an unknown kid, then not again within the window", async () => {
  await using issuer = await startTestIssuer();
  let clock = 1_000_000;
  const rs = server(issuer, { now: () => clock });
  const outcome = await rs.authenticate(bearer(await issuer.sign(issuer.published[0])));
  assert.equal(outcome.ok, true);
  assert.equal(issuer.jwksFetches, 1);
  // The issuer rotates in k2; 31 s later a token signed with it makes one refetch.
  const k2 = await issuer.makeKey("k2", "ES256");
  issuer.published.push(k2);
  clock += 31_000;
  assert.equal((await rs.authenticate(bearer(await issuer.sign(k2)))).ok, true);
  assert.equal(issuer.jwksFetches, 2);
  // A second unknown kid inside the window: refused without a fetch.
  const k3 = await issuer.makeKey("k3");
  issuer.published.push(k3);
  clock += 1_000;
  await assertInvalid(rs, await issuer.sign(k3));
  assert.equal(issuer.jwksFetches, 2);
  // Past the window it is fetched and accepted.
  clock += 30_000;
  assert.equal((await rs.authenticate(bearer(await issuer.sign(k3)))).ok, true);
  assert.equal(issuer.jwksFetches, 3);
});

Deno.test("OAuthResourceServer fetches the keys once for a flood of tokens with made-up kids", async () => {
  await using issuer = await startTestIssuer();
  let clock = 1_000_000;
  const rs = server(issuer, { now: () => clock });
  await rs.authenticate(bearer(await issuer.sign(issuer.published[0])));
  clock += 60_000;
  const bogus = await Promise.all(
    Array.from({ length: 20 }, async (_, i) => issuer.sign(await issuer.makeKey(`bogus-${i}`))),
  );
  const outcomes = await Promise.all(bogus.map((t) => rs.authenticate(bearer(t))));
  assert.ok(outcomes.every((o) => !o.ok && o.response.status === 401));
  assert.equal(issuer.jwksFetches, 2); // the first fetch and one refetch for all twenty
});

Deno.test("OAuthResourceServer refuses a token without a LOOM scope with 403 insufficient_scope", async () => {
  await using issuer = await startTestIssuer();
  const token = await issuer.sign(issuer.published[0], { scope: "openid profile" });
  const outcome = await server(issuer).authenticate(bearer(token));
  assert.equal(outcome.ok, false);
  if (outcome.ok) return;
  assert.equal(outcome.response.status, 403);
  assert.match(
    outcome.response.headers.get("www-authenticate") ?? "",
    /^Bearer resource_metadata="[^"]+", error="insufficient_scope", scope="loom:read"/,
  );
});

Deno.test("scopeFailure() refuses a write tool to a loom:read token with insufficient_scope loom:write", async () => {
  const read = new Set([LOOM_SCOPES.read]);
  // The policy itself is tested in src/security/trust/scopes_test.ts.
  assert.equal(scopeFailure("read", read), null);
  assert.equal(scopeFailure("write", new Set([LOOM_SCOPES.write])), null);
  const failure = scopeFailure("write", read);
  assert.deepEqual(failure, { kind: "insufficient_scope", scope: "loom:write" });
  await using issuer = await startTestIssuer();
  const response = server(issuer).refusal(failure!);
  assert.equal(response.status, 403);
  assert.match(
    response.headers.get("www-authenticate") ?? "",
    /error="insufficient_scope", scope="loom:write"/,
  );
});

Deno.test("OAuthResourceServer refuses a jwks_uri off the issuer's origin and a metadata issuer mismatch (503)", async () => {
  for (
    const metadata of [{ jwks_uri: "http://127.0.0.2:9/jwks" }, { issuer: "https://evil.example" }]
  ) {
    await using issuer = await startTestIssuer({ metadata });
    const outcome = await server(issuer).authenticate(
      bearer(await issuer.sign(issuer.published[0])),
    );
    assert.equal(outcome.ok, false);
    if (!outcome.ok) assert.equal(outcome.response.status, 503);
    assert.equal(issuer.jwksFetches, 0);
  }
});

Deno.test("OAuthResourceServer does not refetch from an issuer that is down within the window", async () => {
  const issuer = await startTestIssuer();
  const token = await issuer.sign(issuer.published[0]);
  await issuer.close();
  const rs = server(issuer, { now: () => 5_000_000 });
  for (let i = 0; i < 3; i++) {
    const outcome = await rs.authenticate(bearer(token));
    assert.equal(!outcome.ok && outcome.response.status, 503);
  }
  assert.equal(rs.keyFetches, 1);
});

Deno.test("checkOAuthUrl() refuses http to a non-loopback host, queries and non-URLs", () => {
  assert.throws(() => checkOAuthUrl("issuer", "http://auth.example.com"), UsageError);
  assert.throws(() => checkOAuthUrl("issuer", "auth.example.com"), /--issuer/);
  assert.throws(() => checkOAuthUrl("audience", "https://x.example/mcp?a=1"), /no query/);
  assert.throws(() => checkOAuthUrl("issuer", "ftp://127.0.0.1/"), /https is required/);
  assert.equal(checkOAuthUrl("issuer", "https://auth.example.com").host, "auth.example.com");
  assert.equal(checkOAuthUrl("issuer", "http://127.0.0.1:9").hostname, "127.0.0.1");
  assert.throws(
    () => new OAuthResourceServer({ issuer: "http://10.0.0.1", audience: TEST_AUDIENCE }),
    UsageError,
  );
});

Deno.test("OAuthResourceServer accepts a valid token with its subject, scopes and client id", async () => {
  await using issuer = await startTestIssuer();
  const token = await issuer.sign(issuer.published[0], {
    scope: "loom:read loom:write",
    client_id: "desktop-app",
    aud: ["https://other.example", TEST_AUDIENCE],
  });
  const outcome = await server(issuer).authenticate(bearer(token));
  assert.ok(outcome.ok);
  assert.equal(outcome.principal.subject, "alice");
  assert.deepEqual([...outcome.principal.scopes].sort(), ["loom:read", "loom:write"]);
  assert.equal(outcome.principal.clientId, "desktop-app");
  assert.equal(JSON.stringify(outcome.principal).includes(token), false);
});

Deno.test("OAuthResourceServer discovers keys by OpenID configuration or takes --jwks-url", async () => {
  await using oidc = await startTestIssuer({ oidcOnly: true });
  const scp = await oidc.sign(oidc.published[0], { scope: undefined, scp: ["loom:write"] });
  const viaOidc = await server(oidc).authenticate(bearer(scp));
  assert.ok(viaOidc.ok && viaOidc.principal.scopes.has("loom:write"));
  await using direct = await startTestIssuer({ metadata: { jwks_uri: "http://127.0.0.2:9/x" } });
  const viaUrl = await server(direct, { jwksUrl: direct.jwksUrl })
    .authenticate(bearer(await direct.sign(direct.published[0])));
  assert.ok(viaUrl.ok);
});

Deno.test("OAuthResourceServer metadata() is the RFC 9728 document at the path-suffixed URL", async () => {
  await using issuer = await startTestIssuer();
  const rs = server(issuer);
  assert.deepEqual(rs.metadataPaths, [
    "/.well-known/oauth-protected-resource/mcp",
    "/.well-known/oauth-protected-resource",
  ]);
  assert.equal(rs.resourceMetadataUrl, METADATA_URL);
  const doc = rs.metadata();
  assert.equal(doc.resource, TEST_AUDIENCE);
  assert.deepEqual(doc.authorization_servers, [issuer.issuer]);
  assert.deepEqual(doc.scopes_supported, ["loom:read", "loom:write"]);
  assert.deepEqual(doc.bearer_methods_supported, ["header"]);
});
