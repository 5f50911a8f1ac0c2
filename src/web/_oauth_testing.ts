/**
 * A real authorization server for tests of `oauth.ts`: a `Deno.serve` on
 * 127.0.0.1 port 0 that publishes RFC 8414 metadata (or only OpenID Connect
 * discovery) and a JWKS, counts the JWKS fetches, and mints tokens signed
 * with keys made by `jose` (`generateKeyPair`, `SignJWT`). Test-only.
 *
 * @module
 */

import {
  type CryptoKey,
  exportJWK,
  generateKeyPair,
  type JWK,
  type JWTPayload,
  SignJWT,
} from "jose";

/** One signing key of the test issuer. */
export interface TestKey {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

/** Options of {@linkcode startTestIssuer}. */
export interface TestIssuerOptions {
  /** Serve only `/.well-known/openid-configuration` (RFC 8414 path answers 404). */
  oidcOnly?: boolean;
  /** Override fields of the metadata document (say a foreign `jwks_uri`). */
  metadata?: Record<string, unknown>;
}

/** A running test issuer. */
export interface TestIssuer extends AsyncDisposable {
  /** The issuer identifier (`http://127.0.0.1:PORT`). */
  issuer: string;
  /** Its JWKS URL. */
  jwksUrl: string;
  /** JWKS documents served so far. */
  jwksFetches: number;
  /** Keys published in the JWKS; push or replace to rotate. */
  published: TestKey[];
  /** Make a key (RS256 unless told) with the given kid; not published until pushed. */
  makeKey(kid: string, alg?: string): Promise<TestKey>;
  /**
   * A signed token: `iss`, `aud`, `sub`, `scope`, `iat`, `exp` (+5 min)
   * filled in; `claims` override or remove (undefined) them.
   */
  sign(key: TestKey, claims?: Record<string, unknown>): Promise<string>;
  close(): Promise<void>;
}

/** The audience tests use: a loopback MCP endpoint. */
export const TEST_AUDIENCE = "http://127.0.0.1:8400/mcp";

/**
 * Start a test issuer with one published RS256 key, `kid` "k1".
 *
 * @param options discovery variant and metadata overrides
 * @returns the issuer once listening
 */
export async function startTestIssuer(options: TestIssuerOptions = {}): Promise<TestIssuer> {
  const state = { jwksFetches: 0 };
  const published: TestKey[] = [];
  let origin = "";
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const path = new URL(req.url).pathname;
    const meta = { issuer: origin, jwks_uri: `${origin}/jwks`, ...options.metadata };
    if (path === "/.well-known/oauth-authorization-server" && !options.oidcOnly) {
      return Response.json(meta);
    }
    if (path === "/.well-known/openid-configuration") return Response.json(meta);
    if (path === "/jwks") {
      state.jwksFetches++;
      return Response.json({ keys: published.map((k) => k.publicJwk) });
    }
    return new Response("not found", { status: 404 });
  });
  origin = `http://127.0.0.1:${server.addr.port}`;
  const makeKey = async (kid: string, alg = "RS256"): Promise<TestKey> => {
    const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
    const publicJwk = { ...await exportJWK(publicKey), kid, alg, use: "sig" };
    return { kid, alg, privateKey, publicJwk };
  };
  published.push(await makeKey("k1"));
  const close = () => server.shutdown();
  return {
    issuer: origin,
    jwksUrl: `${origin}/jwks`,
    get jwksFetches() {
      return state.jwksFetches;
    },
    published,
    makeKey,
    async sign(key, claims = {}) {
      const now = Math.floor(Date.now() / 1000);
      const base: Record<string, unknown> = {
        iss: origin,
        aud: TEST_AUDIENCE,
        sub: "alice",
        scope: "loom:read",
        iat: now,
        exp: now + 300,
        ...claims,
      };
      for (const [k, v] of Object.entries(base)) if (v === undefined) delete base[k];
      return await new SignJWT(base as JWTPayload)
        .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: "at+jwt" })
        .sign(key.privateKey);
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
