/**
 * The session table of the MCP HTTP transport (2025-11-25 and earlier):
 * live sessions by id, their idle expiry, the sweep, admission against the
 * client quotas (`_quotas.ts`), and the lookup a request's
 * `Mcp-Session-Id` goes through.
 *
 * The table never evicts a live session to admit a new one: a session ends
 * only by DELETE, at shutdown, or when it has been idle (no request, no
 * request in flight, no open GET stream) for `idleMs`, checked when its id is
 * next used and by one sweep timer for the whole table. A new session over a
 * quota is refused with the seconds until a session could next expire
 * (`Retry-After`), and nobody else's session is touched.
 *
 * Sessions are bound to the credential that created them (sessions are not
 * authentication): another credential with a session id gets 404, as for
 * an unknown id, so the id's existence is not revealed.
 *
 * @module
 */

import type { Context } from "hono";
import { McpEngine, McpSession, RPC_ERRORS } from "../mcp/mod.ts";
import { type Env, jsonError } from "./_hono_context.ts";
import type { ClientQuotas, ClientUsage } from "./_quotas.ts";

/** One live session of the HTTP transport. */
export interface HttpSession {
  /** The engine's session. */
  session: McpSession;
  /** Its open GET notification stream, if any. */
  stream: ReadableStreamDefaultController<Uint8Array> | null;
  /** The id of the last event sent on the stream. */
  eventId: number;
  /** The credential that created the session (see `clientKey`). */
  principal: string;
  /** The quota this session counts against. */
  usage: ClientUsage;
  /** Requests in flight: a session busy with a call is not idle. */
  busy: number;
}

/** Live sessions by id, with idle expiry and quota admission. */
export class SessionTable {
  readonly #engine: McpEngine;
  readonly #sessions = new Map<string, HttpSession>();
  readonly #idleMs: number;
  readonly #sweeper: ReturnType<typeof setInterval>;
  /** The quotas sessions and their streams count against. */
  readonly quotas: ClientQuotas;

  /**
   * Start the table and its sweep timer (unref'd: it keeps no process alive).
   *
   * @param engine the engine sessions are attached to and detached from
   * @param quotas the per-client quotas
   * @param idleMs how long an idle session lives
   */
  constructor(engine: McpEngine, quotas: ClientQuotas, idleMs: number) {
    this.#engine = engine;
    this.quotas = quotas;
    this.#idleMs = idleMs;
    this.#sweeper = setInterval(() => this.sweep(), Math.min(60_000, idleMs));
    Deno.unrefTimer(this.#sweeper as unknown as number);
  }

  /** Number of live sessions. */
  get size(): number {
    return this.#sessions.size;
  }

  /** Whether a session has been idle for longer than the table allows. */
  expired(s: HttpSession, now: number): boolean {
    return s.stream === null && s.busy === 0 && now - s.session.lastSeen > this.#idleMs;
  }

  /**
   * Admit a new session for a client, or say how long to wait.
   *
   * @param key the client (see `clientKey`)
   * @returns the usage the session counts against, or the seconds for `Retry-After`
   */
  admit(key: string): ClientUsage | number {
    const quotas = this.quotas;
    if (quotas.sessionsFull(key)) {
      this.sweep();
      if (quotas.sessionsFull(key)) {
        return this.retryAfter(quotas.clientSessionsFull(key) ? quotas.usage(key)! : null);
      }
    }
    return quotas.addSession(key);
  }

  /** Give back the slot of a session that was admitted but never added. */
  release(usage: ClientUsage): void {
    this.quotas.releaseSession(usage);
  }

  /** Add an initialized session under its id and attach it to the engine. */
  add(id: string, entry: HttpSession): void {
    this.#sessions.set(id, entry);
    this.#engine.attach(entry.session);
  }

  /**
   * The session a non-initialize request names (§Session Management): 400
   * without the header; 404 for an unknown, ended or expired id, or one
   * created with another token; 400 for an unsupported
   * `MCP-Protocol-Version` (§Protocol Version Header).
   *
   * @param c the request's context
   * @returns the session, or the error answer
   */
  find(c: Context<Env>): HttpSession | Response {
    const sid = c.req.header("mcp-session-id");
    if (sid === undefined) {
      return jsonError(c, 400, RPC_ERRORS.INVALID_REQUEST, "Bad Request: Mcp-Session-Id required");
    }
    const entry = this.#sessions.get(sid);
    if (!entry || entry.principal !== c.get("principal")) {
      return jsonError(c, 404, RPC_ERRORS.INVALID_REQUEST, "Session not found");
    }
    if (this.expired(entry, performance.now())) {
      this.end(sid);
      return jsonError(c, 404, RPC_ERRORS.INVALID_REQUEST, "Session not found");
    }
    const version = c.req.header("mcp-protocol-version");
    if (version !== undefined && !McpEngine.supportedVersions.includes(version)) {
      return jsonError(c, 400, RPC_ERRORS.INVALID_REQUEST, "Unsupported MCP-Protocol-Version");
    }
    return entry;
  }

  /** Count `controller` as the session's open stream (the caller checked the quota). */
  attachStream(s: HttpSession, controller: ReadableStreamDefaultController<Uint8Array>): void {
    s.stream = controller;
    this.quotas.addStream(s.usage);
  }

  /** Forget a session's stream (once), giving its slot back. */
  dropStream(s: HttpSession, controller: ReadableStreamDefaultController<Uint8Array> | null): void {
    if (s.stream === null || s.stream !== controller) return;
    s.stream = null;
    this.quotas.removeStream(s.usage);
    // Idle time counts from when the client stopped listening.
    s.session.lastSeen = performance.now();
  }

  /** End a session: close its stream, give back its slots, detach it. */
  end(id: string): void {
    const s = this.#sessions.get(id);
    if (!s) return;
    this.#sessions.delete(id);
    const stream = s.stream;
    this.dropStream(s, stream);
    this.quotas.releaseSession(s.usage);
    this.#engine.detach(s.session);
    try {
      stream?.close();
    } catch { /* already closed */ }
  }

  /** End every expired session. */
  sweep(): void {
    const now = performance.now();
    for (const [id, s] of this.#sessions) if (this.expired(s, now)) this.end(id);
  }

  /**
   * Seconds until a session counted against `usage` (any session when null)
   * can next expire: the `Retry-After` of a 429.
   */
  retryAfter(usage: ClientUsage | null): number {
    const now = performance.now();
    const idleMs = this.#idleMs;
    let soonest = idleMs;
    for (const s of this.#sessions.values()) {
      if (usage !== null && s.usage !== usage) continue;
      if (s.stream !== null || s.busy > 0) continue;
      soonest = Math.min(soonest, idleMs - (now - s.session.lastSeen));
    }
    return Math.max(1, Math.ceil(soonest / 1000));
  }

  /** Stop the sweep timer. */
  stopSweeping(): void {
    clearInterval(this.#sweeper);
  }

  /** End every session. */
  endAll(): void {
    for (const id of [...this.#sessions.keys()]) this.end(id);
  }
}

/** A new session id: 256 random bits as hex. */
export function newSessionId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}
