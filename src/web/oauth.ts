/**
 * OAuth 2.1 resource server for the HTTP transport (`loom run --transport
 * http --auth oauth`), as the MCP authorization specification (2025-11-25)
 * asks of an MCP server: LOOM issues no tokens; it accepts JWT access tokens
 * from one configured authorization server and tells clients where that is.
 *
 * - {@linkcode OAuthResourceServer.authenticate} reads `Authorization:
 *   Bearer <JWT>` (the header only: never a query parameter) and answers a
 *   {@linkcode Principal} or the exact HTTP refusal (RFC 6750 §3).
 * - {@linkcode OAuthResourceServer.metadata} is the Protected Resource
 *   Metadata document (RFC 9728) served at `/.well-known/oauth-protected-resource`.
 * - The scope policy of a tool call (read tools need `loom:read` or
 *   `loom:write`, write tools `loom:write`) is `scopeAllows()` of
 *   `src/security/trust/scopes.ts`, applied by the gate on every call
 *   (step 3) to the principal this module authenticated.
 *
 * What a token must satisfy, and the threat each check answers:
 * - Signed by a key of the issuer's JWKS (`_jwks.ts`) with RS256, PS256,
 *   ES256 or EdDSA: never `none` (a forged unsigned token), never HS*
 *   (the issuer's public key used as an HMAC secret: algorithm confusion).
 * - `iss` equals the issuer: a token of another authorization server.
 * - `aud` contains the audience, LOOM's canonical URL (RFC 8707 resource
 *   indicator): a token minted for another service replayed here (the
 *   confused-deputy problem the MCP specification forbids token passthrough for).
 * - `exp` present and in the future, `nbf` past, 30 s clock skew: a stolen old token.
 * - `sub` present: every call is audited under a subject.
 * - `loom:read` or `loom:write` in `scope` (or `scp`): a token of the same
 *   audience that was never granted LOOM access. Otherwise 403 insufficient_scope.
 * - At most 8 KiB: bounded work before any signature check.
 *
 * Refusals say why in generic words ("expired", "invalid") and never repeat
 * the token. The token itself never leaves this module: principals carry the
 * subject, scopes and client id only, and upstream requests are rendered from
 * the config alone.
 *
 * @module
 */

import { errors, jwtVerify } from "jose";
import { UsageError } from "../errors.ts";
import type { AccessMode } from "../config/mod.ts";
import { LOOM_SCOPES, requiredScope, scopeAllows } from "../security/trust/mod.ts";
import { isSecureOrLoopback, JwksSource, KeySourceUnavailable } from "./_jwks.ts";

/** Signature algorithms accepted (asymmetric only). */
export const ALLOWED_ALGORITHMS: readonly string[] = ["RS256", "PS256", "ES256", "EdDSA"];

/** Clock skew tolerated on `exp` and `nbf`, in seconds. */
const CLOCK_SKEW_SECONDS = 30;
/** Longest token accepted, in characters. */
const MAX_TOKEN_LENGTH = 8192;
/** RFC 6750 §2.1 `b64token`. */
const BEARER = /^Bearer[ ]+([A-Za-z0-9\-._~+/]+=*)[ ]*$/i;

/** Who called, as an accepted token says. */
export interface Principal {
  /** The token's `sub`. */
  subject: string;
  /** Its scopes (`scope`, space-separated, or `scp`, an array). */
  scopes: ReadonlySet<string>;
  /** Its `client_id` (RFC 9068) or `azp`, when present. */
  clientId?: string;
}

/** Why a request is refused; {@linkcode OAuthResourceServer.refusal} turns it into a response. */
export type AuthFailure =
  | { kind: "missing_token" }
  | { kind: "invalid_token"; description: string }
  | { kind: "insufficient_scope"; scope: string }
  | { kind: "unavailable" };

/** What {@linkcode OAuthResourceServer.authenticate} answers. */
export type AuthOutcome =
  | { ok: true; principal: Principal }
  | { ok: false; failure: AuthFailure; response: Response };

/** Options of {@linkcode OAuthResourceServer}. */
export interface OAuthResourceServerOptions {
  /**
   * The authorization server's issuer identifier, exactly as tokens carry it
   * in `iss` (a string, not a `URL`: `URL` would add a trailing slash).
   * https, or http to a loopback host.
   */
  issuer: string;
  /** LOOM's canonical URL, e.g. `https://loom.example.com/mcp`: the `aud` tokens must hold. */
  audience: string;
  /** The issuer's JWKS URL; discovered from its metadata when absent. */
  jwksUrl?: string;
  /** Least time between two key-set fetches (default 30 s). */
  minRefetchMs?: number;
  /** The clock in milliseconds, for the key cache (tests move it). */
  now?: () => number;
  /** The time tokens are checked at (tests move it; default the wall clock). */
  currentDate?: () => Date;
}

/**
 * Check one OAuth URL option.
 *
 * @param name the option as the operator knows it (`issuer`, `audience`, `jwks-url`)
 * @param value its value
 * @returns the parsed URL
 * @throws {UsageError} when it is not an absolute https URL (http only to
 *   a loopback host), or has a query, fragment or credentials
 */
export function checkOAuthUrl(name: string, value: string): URL {
  if (!URL.canParse(value)) {
    throw new UsageError(`Invalid --${name} "${value}": expected an absolute https URL`);
  }
  const url = new URL(value);
  if (!isSecureOrLoopback(url)) {
    throw new UsageError(
      `Invalid --${name} "${value}": https is required (http only for a loopback host)`,
    );
  }
  if (url.search !== "" || url.hash !== "" || url.username !== "" || url.password !== "") {
    throw new UsageError(
      `Invalid --${name} "${value}": no query, fragment or credentials allowed`,
    );
  }
  return url;
}

/** Verifies JWT access tokens of one issuer for one audience. */
export class OAuthResourceServer {
  /** The issuer identifier. */
  readonly issuer: string;
  /** The audience tokens must carry: LOOM's canonical URL. */
  readonly audience: string;
  /** Where clients find {@linkcode metadata}: `resource_metadata` in every challenge. */
  readonly resourceMetadataUrl: string;
  readonly #keys: JwksSource;
  readonly #currentDate: () => Date;

  /**
   * @param options issuer, audience and optional JWKS URL
   * @throws {UsageError} for an issuer, audience or JWKS URL that is not
   *   https (http only to a loopback host)
   */
  constructor(options: OAuthResourceServerOptions) {
    checkOAuthUrl("issuer", options.issuer);
    const audience = checkOAuthUrl("audience", options.audience);
    if (options.jwksUrl !== undefined) checkOAuthUrl("jwks-url", options.jwksUrl);
    this.issuer = options.issuer;
    this.audience = options.audience;
    this.resourceMetadataUrl = new URL(metadataPaths(audience)[0], audience.origin).href;
    this.#keys = new JwksSource({
      issuer: options.issuer,
      jwksUrl: options.jwksUrl,
      minRefetchMs: options.minRefetchMs,
      now: options.now,
    });
    this.#currentDate = options.currentDate ?? (() => new Date());
  }

  /** Key-set fetches started so far (tests check the refetch rate limit). */
  get keyFetches(): number {
    return this.#keys.fetches;
  }

  /**
   * The paths the metadata document is served at: RFC 9728 §3.1's form for
   * the audience's path (`/.well-known/oauth-protected-resource/mcp`) and
   * the bare one.
   */
  get metadataPaths(): readonly string[] {
    return metadataPaths(new URL(this.audience));
  }

  /** The Protected Resource Metadata document (RFC 9728 §2). */
  metadata(): Record<string, unknown> {
    return {
      resource: this.audience,
      authorization_servers: [this.issuer],
      scopes_supported: [LOOM_SCOPES.read, LOOM_SCOPES.write],
      bearer_methods_supported: ["header"],
      resource_name: "LOOM",
    };
  }

  /**
   * Authenticate a request by its `Authorization: Bearer` JWT.
   *
   * @param request the HTTP request (only its headers are read)
   * @returns the principal, or the failure and the response to send
   */
  async authenticate(request: Request): Promise<AuthOutcome> {
    const result = await this.verify(request.headers.get("authorization"));
    if ("subject" in result) return { ok: true, principal: result };
    return { ok: false, failure: result, response: this.refusal(result) };
  }

  /**
   * Verify an `Authorization` header value.
   *
   * @param header the header, or null when absent
   * @returns the principal, or why it is refused
   */
  async verify(header: string | null): Promise<Principal | AuthFailure> {
    // No Bearer credentials at all (another scheme included): RFC 6750 §3.1 says no error code.
    if (header === null || !/^bearer(\s|$)/i.test(header.trim())) return { kind: "missing_token" };
    const m = BEARER.exec(header);
    if (m === null || m[1].length > MAX_TOKEN_LENGTH) return invalid();
    let payload: Record<string, unknown>;
    try {
      payload = await this.#verifyJwt(m[1]);
    } catch (error) {
      if (error instanceof KeySourceUnavailable) return { kind: "unavailable" };
      if (error instanceof errors.JWTExpired) return invalid("The access token expired");
      return invalid();
    }
    if (typeof payload.sub !== "string" || payload.sub === "") return invalid();
    const scopes = scopesOf(payload);
    if (!scopes.has(LOOM_SCOPES.read) && !scopes.has(LOOM_SCOPES.write)) {
      return { kind: "insufficient_scope", scope: LOOM_SCOPES.read };
    }
    const clientId = typeof payload.client_id === "string"
      ? payload.client_id
      : typeof payload.azp === "string"
      ? payload.azp
      : undefined;
    return { subject: payload.sub, scopes, ...(clientId === undefined ? {} : { clientId }) };
  }

  /** Verify signature and claims; an unknown `kid` refetches the keys once (rate-limited). */
  async #verifyJwt(token: string): Promise<Record<string, unknown>> {
    const options = {
      issuer: this.issuer,
      audience: this.audience,
      algorithms: [...ALLOWED_ALGORITHMS],
      clockTolerance: CLOCK_SKEW_SECONDS,
      requiredClaims: ["exp", "sub"],
      currentDate: this.#currentDate(),
    };
    try {
      return (await jwtVerify(token, await this.#keys.keys(), options)).payload;
    } catch (error) {
      if (!(error instanceof errors.JWKSNoMatchingKey)) throw error;
      // A key the cached set lacks: the issuer may have rotated. Refetch, at most once a window.
      if (!await this.#keys.refresh()) throw error;
      return (await jwtVerify(token, await this.#keys.keys(), options)).payload;
    }
  }

  /**
   * The HTTP refusal for a failure (RFC 6750 §3, RFC 9728 §5.1): 401 with
   * `resource_metadata` (and the scope to ask for, or `invalid_token`), 403
   * `insufficient_scope`, or 503 when the issuer's keys cannot be had.
   *
   * @param failure why the request is refused
   * @returns a JSON-RPC error response without id
   */
  refusal(failure: AuthFailure): Response {
    const meta = `resource_metadata="${this.resourceMetadataUrl}"`;
    switch (failure.kind) {
      case "missing_token":
        return challenge(401, `Bearer ${meta}, scope="${LOOM_SCOPES.read}"`, "Unauthorized");
      case "invalid_token":
        return challenge(
          401,
          `Bearer ${meta}, error="invalid_token", error_description="${failure.description}"`,
          "Unauthorized",
        );
      case "insufficient_scope":
        return challenge(
          403,
          `Bearer ${meta}, error="insufficient_scope", scope="${failure.scope}", ` +
            `error_description="The access token lacks the required scope"`,
          "Forbidden: insufficient scope",
        );
      case "unavailable":
        return new Response(rpcBody("Authorization server unavailable"), {
          status: 503,
          headers: { "content-type": "application/json", "retry-after": "30" },
        });
    }
  }
}

/**
 * The scope a refused call should ask for, or null when it is allowed: for
 * a gate that answers 403 `insufficient_scope` through
 * {@linkcode OAuthResourceServer.refusal}.
 *
 * @param access the tool's access
 * @param scopes the principal's scopes
 * @returns the failure to report, or null
 */
export function scopeFailure(
  access: AccessMode,
  scopes: ReadonlySet<string>,
): AuthFailure | null {
  if (scopeAllows(access, scopes)) return null;
  return { kind: "insufficient_scope", scope: requiredScope(access) };
}

function metadataPaths(audience: URL): string[] {
  const path = audience.pathname === "/" ? "" : audience.pathname.replace(/\/$/, "");
  const bare = "/.well-known/oauth-protected-resource";
  return path === "" ? [bare] : [`${bare}${path}`, bare];
}

function scopesOf(payload: Record<string, unknown>): Set<string> {
  const scopes = new Set<string>();
  if (typeof payload.scope === "string") {
    for (const s of payload.scope.split(" ")) if (s !== "") scopes.add(s);
  }
  if (Array.isArray(payload.scp)) {
    for (const s of payload.scp) if (typeof s === "string" && s !== "") scopes.add(s);
  }
  return scopes;
}

function invalid(description = "The access token is invalid"): AuthFailure {
  return { kind: "invalid_token", description };
}

function rpcBody(message: string): string {
  return JSON.stringify({ jsonrpc: "2.0", id: null, error: { code: -32600, message } });
}

function challenge(status: number, header: string, message: string): Response {
  return new Response(rpcBody(message), {
    status,
    headers: { "content-type": "application/json", "www-authenticate": header },
  });
}
