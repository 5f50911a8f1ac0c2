/**
 * Helpers for the reliability suite: a raw JSON-RPC client over streamable
 * HTTP (sessions, unique argument values), reading the audit log back, and
 * iteration counts that CI keeps modest and `scripts/soak.ts` raises through
 * the environment.
 *
 * @module
 */

import { join } from "node:path";
import { initializeRequest } from "../_helpers.ts";

/** The MCP protocol version the raw clients announce. */
export const PROTOCOL = "2025-06-18";

/**
 * An iteration count from the environment, or the CI default.
 *
 * @param name environment variable, e.g. `LOOM_RELIABILITY_CALLS`
 * @param fallback the default
 * @returns a positive integer
 */
export function envCount(name: string, fallback: number): number {
  const raw = Deno.env.get(name);
  const n = raw === undefined ? NaN : Number(raw);
  return Number.isSafeInteger(n) && n > 0 ? n : fallback;
}

/** A JSON-RPC answer over HTTP: status, headers and the parsed body (or null). */
export interface HttpAnswer {
  status: number;
  headers: Headers;
  text: string;
  // deno-lint-ignore no-explicit-any
  json: any;
}

/** POST a body to an MCP endpoint and read the answer. */
export async function post(
  url: string,
  body: string | Uint8Array<ArrayBuffer>,
  headers: Record<string, string> = {},
): Promise<HttpAnswer> {
  const res = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      ...headers,
    },
    body,
  });
  const text = await res.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = null;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** An MCP session over streamable HTTP, spoken raw. */
export class RawSession {
  readonly url: string;
  readonly id: string;
  #next = 1;

  private constructor(url: string, id: string) {
    this.url = url;
    this.id = id;
  }

  /** Initialize a session and send `notifications/initialized`. */
  static async open(url: string, client = "reliability"): Promise<RawSession> {
    const init = await post(
      url,
      JSON.stringify(
        initializeRequest({
          id: 0,
          protocolVersion: PROTOCOL,
          clientName: client,
          clientVersion: "1.0.0",
        }),
      ),
    );
    const id = init.headers.get("mcp-session-id");
    if (init.status !== 200 || !id) {
      throw new Error(`Cannot initialize: HTTP ${init.status} ${init.text.slice(0, 200)}`);
    }
    const session = new RawSession(url, id);
    const note = await session.send(
      JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }),
    );
    if (note.status !== 202) throw new Error(`initialized: HTTP ${note.status}`);
    return session;
  }

  /** Headers that name this session. */
  get headers(): Record<string, string> {
    return { "mcp-session-id": this.id, "mcp-protocol-version": PROTOCOL };
  }

  /** POST any body within the session. */
  send(
    body: string | Uint8Array<ArrayBuffer>,
    headers: Record<string, string> = {},
  ): Promise<HttpAnswer> {
    return post(this.url, body, { ...this.headers, ...headers });
  }

  /** A request; returns the answer. */
  request(method: string, params?: unknown, id: unknown = this.#next++): Promise<HttpAnswer> {
    const msg: Record<string, unknown> = { jsonrpc: "2.0", id, method };
    if (params !== undefined) msg.params = params;
    return this.send(JSON.stringify(msg));
  }

  /** `tools/call`; returns the answer. */
  call(name: string, args: unknown): Promise<HttpAnswer> {
    return this.request("tools/call", { name, arguments: args });
  }

  /** End the session (DELETE). */
  async close(): Promise<void> {
    const res = await fetch(this.url, { method: "DELETE", headers: this.headers }).catch(() =>
      null
    );
    await res?.body?.cancel();
  }
}

/** A record of the audit log, loosely typed for matching. */
// deno-lint-ignore no-explicit-any
export type Rec = Record<string, any>;

/** Every record of `$LOOM_HOME/audit/audit.jsonl`, in order (a torn last line is skipped). */
export async function readAudit(home: string): Promise<Rec[]> {
  const text = await Deno.readTextFile(join(home, "audit", "audit.jsonl"));
  const out: Rec[] = [];
  for (const line of text.split("\n")) {
    if (line.length === 0) continue;
    try {
      out.push(JSON.parse(line));
    } catch {
      // A torn tail (only possible at the very end); `audit verify` judges it.
    }
  }
  return out;
}

/**
 * The outcome record of the call whose intent carried `args[field] === value`,
 * or undefined; also returns the intent.
 */
export function findCall(
  records: readonly Rec[],
  field: string,
  value: unknown,
): { intent?: Rec; outcome?: Rec } {
  const intent = records.find((r) =>
    r.event === "tool_call" && r.phase === "intent" && r.args?.[field] === value
  );
  if (!intent) return {};
  const outcome = records.find((r) => r.phase === "outcome" && r.call === intent.call);
  return { intent, outcome };
}

/** Index records by call id: intent and outcome. */
export function indexCalls(records: readonly Rec[]): Map<string, { intent?: Rec; outcome?: Rec }> {
  const calls = new Map<string, { intent?: Rec; outcome?: Rec }>();
  for (const r of records) {
    if (typeof r.call !== "string") continue;
    const entry = calls.get(r.call) ?? {};
    if (r.phase === "intent") entry.intent = r;
    else if (r.phase === "outcome") entry.outcome = r;
    calls.set(r.call, entry);
  }
  return calls;
}

/** Is the text a clean tool error: short, one message, no stack trace or file path? */
export function isCleanMessage(text: string): boolean {
  return text.length > 0 && text.length <= 300 && !/\n\s+at\s|\.ts:\d+|file:\/\/|Error:/.test(text);
}

/** The text of an MCP tool result. */
export function resultText(result: unknown): string {
  const content = (result as { content?: { text?: string }[] } | null)?.content ?? [];
  return content.map((c) => c.text ?? "").join("");
}

/** Wait until `fn` returns true, polling, or throw after `ms`. */
export async function waitFor(fn: () => boolean | Promise<boolean>, ms: number): Promise<void> {
  const until = performance.now() + ms;
  while (!(await fn())) {
    if (performance.now() > until) throw new Error(`Condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Live descendants of `pid` (Linux /proc; empty elsewhere). */
export function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  try {
    for (const e of Deno.readDirSync("/proc")) {
      if (!/^\d+$/.test(e.name)) continue;
      try {
        const stat = Deno.readTextFileSync(`/proc/${e.name}/stat`);
        const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        if (fields[0] === "Z") continue; // a zombie has exited
        const ppid = Number(fields[1]);
        children.set(ppid, [...(children.get(ppid) ?? []), Number(e.name)]);
      } catch {
        // Gone while scanning.
      }
    }
  } catch {
    return [];
  }
  const out: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    for (const c of children.get(queue.shift()!) ?? []) {
      out.push(c);
      queue.push(c);
    }
  }
  return out;
}

/** Is a process still running (not gone, not a zombie)? */
export function isAlive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}
