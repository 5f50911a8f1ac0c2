/**
 * Request guards of the HTTP transport: DNS-rebinding protection (Host and
 * Origin validation), bearer authentication, and loopback detection.
 *
 * MCP transports §Security Warning (2025-11-25, PR #1439): servers MUST
 * validate `Origin` on all incoming connections and answer 403 when it is
 * present and invalid. A localhost server must also refuse a non-localhost
 * `Host`, which is what a DNS-rebinding page sends.
 *
 * @module
 */

import { timingSafeEqual } from "node:crypto";

const LOOPBACK_NAMES = new Set(["localhost", "127.0.0.1", "[::1]", "::1"]);

/** True when a bind address or host name refers to the loopback interface only. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  return LOOPBACK_NAMES.has(h) || /^127(?:\.\d{1,3}){3}$/.test(h);
}

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

/** Constant-time check of `Authorization: Bearer <token>`. */
export function checkBearer(headers: Headers, token: string): boolean {
  const value = headers.get("authorization") ?? "";
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(value);
  if (!m) return false;
  const a = new TextEncoder().encode(m[1]);
  const b = new TextEncoder().encode(token);
  // Compare equal-length buffers so timing does not reveal the token length.
  const len = Math.max(a.length, b.length);
  const pa = new Uint8Array(len);
  const pb = new Uint8Array(len);
  pa.set(a);
  pb.set(b);
  return timingSafeEqual(pa, pb) && a.length === b.length;
}
