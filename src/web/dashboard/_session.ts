/**
 * Dashboard sessions: who logged in with the token, and the CSRF token of
 * their pages. A session is a random 256-bit id in an `HttpOnly`,
 * `SameSite=Strict` cookie (`Secure` over TLS), kept in memory only: a
 * restart logs everyone out. Each session has its own CSRF token, which every
 * state-changing request must send back (form field `csrf` or header
 * `X-CSRF-Token`), compared in constant time.
 *
 * The login token is kept as its SHA-256 digest and compared in constant
 * time; failed logins are limited per client ({@linkcode LOGIN_FAILURES_PER_MINUTE}).
 *
 * @module
 */

import { createHash, timingSafeEqual } from "node:crypto";
import { newSessionId } from "../_sessions.ts";

/** The session cookie's name. */
export const SESSION_COOKIE = "loom_dashboard";
/** A session ends after this long without a request. */
export const SESSION_IDLE_MS = 60 * 60 * 1000;
/** A session ends this long after login, used or not. */
export const SESSION_MAX_MS = 12 * 60 * 60 * 1000;
/** Most sessions at once; the least recently used one is dropped for a new one. */
export const MAX_SESSIONS = 64;
/** Failed logins allowed per client per minute. */
export const LOGIN_FAILURES_PER_MINUTE = 5;
/** Shortest dashboard token accepted. */
export const MIN_TOKEN_LENGTH = 16;

/** One logged-in browser. */
export interface Session {
  id: string;
  csrf: string;
  created: number;
  lastSeen: number;
  /** A message for the next page shown (after a form's redirect), then cleared. */
  flash?: { kind: "ok" | "error"; text: string };
}

/** 256 random bits as hex. */
function randomToken(): string {
  return newSessionId();
}

function digest(text: string): Uint8Array {
  return createHash("sha256").update(text).digest();
}

/** Equal strings, compared in constant time over their SHA-256 digests. */
export function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

/** The sessions of one dashboard. */
export class Sessions {
  readonly #byId = new Map<string, Session>();
  readonly #token: Uint8Array | null;
  readonly #failures = new Map<string, number[]>();
  readonly #now: () => number;

  /**
   * @param token the login token, or null when none is needed (loopback without a token)
   * @param now the clock (tests)
   * @throws {RangeError} for a token shorter than {@linkcode MIN_TOKEN_LENGTH}
   */
  constructor(token: string | null, now: () => number = Date.now) {
    if (token !== null && token.length < MIN_TOKEN_LENGTH) {
      throw new RangeError(`Dashboard token must be at least ${MIN_TOKEN_LENGTH} characters`);
    }
    this.#token = token === null ? null : digest(token);
    this.#now = now;
  }

  /** Whether logging in needs the token. */
  get tokenRequired(): boolean {
    return this.#token !== null;
  }

  /**
   * Check a presented token.
   *
   * @param presented the token from the login form
   * @param client who is trying (the remote address), for the failure limit
   * @returns `ok`, `wrong`, or `throttled` after too many failures
   */
  checkToken(presented: string, client: string): "ok" | "wrong" | "throttled" {
    const now = this.#now();
    const recent = (this.#failures.get(client) ?? []).filter((t) => now - t < 60_000);
    if (recent.length >= LOGIN_FAILURES_PER_MINUTE) return "throttled";
    const ok = this.#token === null || timingSafeEqual(digest(presented), this.#token);
    if (ok) {
      this.#failures.delete(client);
      return "ok";
    }
    recent.push(now);
    this.#failures.set(client, recent);
    if (this.#failures.size > 1024) this.#failures.delete(this.#failures.keys().next().value!);
    return "wrong";
  }

  /** Start a session (after a login, or on first visit when no token is needed). */
  create(): Session {
    const now = this.#now();
    while (this.#byId.size >= MAX_SESSIONS) this.#byId.delete(this.#byId.keys().next().value!);
    const session = { id: randomToken(), csrf: randomToken(), created: now, lastSeen: now };
    this.#byId.set(session.id, session);
    return session;
  }

  /**
   * The live session of a cookie value, refreshed; undefined when unknown or expired.
   *
   * @param id the cookie's value
   */
  get(id: string | undefined): Session | undefined {
    if (id === undefined) return undefined;
    const session = this.#byId.get(id);
    if (session === undefined) return undefined;
    const now = this.#now();
    if (now - session.lastSeen > SESSION_IDLE_MS || now - session.created > SESSION_MAX_MS) {
      this.#byId.delete(id);
      return undefined;
    }
    session.lastSeen = now;
    // Most recently used last, so the oldest is dropped first.
    this.#byId.delete(id);
    this.#byId.set(id, session);
    return session;
  }

  /** End a session. */
  end(id: string): void {
    this.#byId.delete(id);
  }
}
