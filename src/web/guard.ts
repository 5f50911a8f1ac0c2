/**
 * Request guards of the HTTP transport: DNS-rebinding protection (Host and
 * Origin validation), bearer authentication against one or several tokens,
 * loopback detection, and the client identity session quotas count against.
 *
 * MCP transports §Security Warning (2025-11-25, PR #1439): servers MUST
 * validate `Origin` on all incoming connections and answer 403 when it is
 * present and invalid. A localhost server must also refuse a non-localhost
 * `Host`, which is what a DNS-rebinding page sends.
 *
 * @module
 */

import { createHash, timingSafeEqual } from "node:crypto";
import { isLoopbackHost } from "../net/mod.ts";

/** Strip the port from a Host header value (`[::1]:8080` -> `[::1]`). */
export function hostName(hostHeader: string): string {
  const h = hostHeader.trim().toLowerCase();
  if (h.startsWith("[")) {
    const end = h.indexOf("]");
    return end === -1 ? h : h.slice(0, end + 1);
  }
  const colon = h.lastIndexOf(":");
  return colon === -1 ? h : h.slice(0, colon);
}

/** Which Hosts and Origins a server accepts. */
export interface OriginPolicy {
  /** Host names (without port) accepted in `Host`; empty = any. */
  hosts: ReadonlySet<string>;
  /** Exact origins accepted besides loopback ones (`https://app.example.com`). */
  origins: ReadonlySet<string>;
}

/**
 * Build the policy for a bind address. A loopback bind accepts only loopback
 * names; a non-loopback bind (which requires a token) accepts the names given.
 * An empty allowlist never disables the check: it falls back to loopback.
 */
export function originPolicy(
  bindHost: string,
  options: { allowedHosts?: readonly string[]; allowedOrigins?: readonly string[] } = {},
): OriginPolicy {
  const hosts = new Set<string>(["localhost", "127.0.0.1", "[::1]"]);
  for (const h of options.allowedHosts ?? []) hosts.add(h.toLowerCase());
  if (!isLoopbackHost(bindHost) && bindHost !== "0.0.0.0" && bindHost !== "::") {
    hosts.add(bindHost.includes(":") ? `[${bindHost}]` : bindHost.toLowerCase());
  }
  const anyHost = !isLoopbackHost(bindHost) && (options.allowedHosts ?? []).length === 0;
  return {
    hosts: anyHost ? new Set() : hosts,
    origins: new Set((options.allowedOrigins ?? []).map((o) => o.toLowerCase())),
  };
}

/** Check Host and Origin; returns a reason when the request must get 403. */
export function checkOrigin(headers: Headers, policy: OriginPolicy): string | null {
  const host = headers.get("host");
  if (policy.hosts.size > 0) {
    if (!host || !policy.hosts.has(hostName(host))) return "Host not allowed";
  }
  const origin = headers.get("origin");
  if (origin === null) return null; // non-browser clients send none
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return "Origin not allowed";
  }
  if (policy.origins.has(url.origin.toLowerCase())) return null;
  if ((url.protocol === "http:" || url.protocol === "https:") && isLoopbackHost(url.hostname)) {
    return null;
  }
  return "Origin not allowed";
}

/**
 * Bearer tokens prepared for matching: only their SHA-256 digests are kept,
 * so the table holds no token and every comparison is of 32 equal-length
 * bytes (timing reveals neither a token's length nor which one matched).
 */
export class BearerTokens {
  readonly #digests: Uint8Array[];

  /**
   * @param tokens the accepted tokens, one per client or one shared
   * @throws {RangeError} when the same token is given twice
   */
  constructor(tokens: readonly string[]) {
    this.#digests = tokens.map(sha256);
    const seen = new Set(this.#digests.map((d) => d.join(",")));
    if (seen.size !== tokens.length) throw new RangeError("Bearer tokens must be distinct");
  }

  /** Number of tokens; 0 when no authentication is configured. */
  get size(): number {
    return this.#digests.length;
  }

  /**
   * Which token `Authorization: Bearer <token>` presents.
   *
   * @param headers the request headers
   * @returns the token's index, or -1 when none matches (or none is sent)
   */
  match(headers: Headers): number {
    const value = headers.get("authorization");
    if (value === null) return -1;
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(value);
    if (!m) return -1;
    const presented = sha256(m[1]);
    let found = -1;
    // Every digest is compared: no early exit that would time which one matched.
    for (let i = 0; i < this.#digests.length; i++) {
      if (timingSafeEqual(presented, this.#digests[i])) found = i;
    }
    return found;
  }
}

function sha256(text: string): Uint8Array {
  return createHash("sha256").update(text).digest();
}

/**
 * The client a session is counted against: the credential it presented (a
 * static token, or an OAuth subject) and the remote address of its TCP
 * connection. Every loopback address is one client: any local process can
 * pick any source in 127.0.0.0/8, so telling them apart would only hand a
 * local flooder more quota.
 *
 * @param principal who the credential names: `tok:N` for the Nth static
 *   token, `sub:SUBJECT` for an OAuth subject, `-` without authentication
 * @param remote the connection's remote address (absent in-process)
 * @returns a key for the quota table
 */
export function clientKey(principal: string, remote: Deno.Addr | undefined): string {
  let address = "local";
  if (remote?.transport === "tcp" || remote?.transport === "udp") {
    const h = remote.hostname.toLowerCase();
    const v4 = h.startsWith("::ffff:") ? h.slice(7) : h;
    address = isLoopbackHost(v4) ? "loopback" : h;
  }
  return `${principal} ${address}`;
}
