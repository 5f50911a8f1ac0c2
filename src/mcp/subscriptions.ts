/**
 * `subscriptions/listen` (MCP 2026-07-28): a long-lived request whose answer
 * is a stream of the change notifications the client opted into, each tagged
 * with the listen request's id under `io.modelcontextprotocol/subscriptionId`.
 *
 * The first message of a subscription is `notifications/subscriptions/acknowledged`
 * with the part of the filter the server honours; nothing of that subscription
 * is sent before it. LOOM can announce one kind of change, the tool list
 * (`toolsListChanged`), so that is all an acknowledgement ever grants. A
 * subscription ends when the client cancels it (closes the HTTP stream, or
 * `notifications/cancelled` on stdio): then nothing more is sent for it, not
 * even a response. When the server ends it (shutdown, stdio input closed),
 * the listen request gets a complete result, so the client can tell a clean
 * end from a dropped connection.
 *
 * @module
 */

import type { JsonRpcId, JsonRpcNotification, JsonRpcResponse } from "./jsonrpc.ts";
import { META } from "./modern.ts";

/** Most subscriptions open at once, over every client (each holds a stream). */
export const MAX_SUBSCRIPTIONS = 1024;

/** The change kinds a client can ask for, and the notification each sends. */
const KINDS = {
  toolsListChanged: "notifications/tools/list_changed",
} as const;

/** A change LOOM announces. */
export type ChangeKind = keyof typeof KINDS;

interface Subscription {
  id: JsonRpcId;
  kinds: ReadonlySet<ChangeKind>;
  notify(message: JsonRpcNotification): void;
  /** Ends the listen request with a complete result. */
  finish(): void;
  /** The session (stdio connection, or one HTTP request) it belongs to. */
  owner: object;
}

/** The open subscriptions of one engine. */
export class Subscriptions {
  #open = new Set<Subscription>();

  /** Number of open subscriptions. */
  get size(): number {
    return this.#open.size;
  }

  /**
   * Serve one `subscriptions/listen` request until it ends.
   *
   * @param id the listen request's id (the subscription id)
   * @param params the request's params (`notifications` is the filter)
   * @param owner the session it belongs to, for {@linkcode Subscriptions.endFor}
   * @param notify delivers a notification of this subscription to the client
   * @param signal aborts when the client cancels
   * @returns a complete result when the server ended it, null when the client did
   */
  listen(
    id: JsonRpcId,
    params: Record<string, unknown>,
    owner: object,
    notify: (message: JsonRpcNotification) => void,
    signal: AbortSignal,
  ): Promise<JsonRpcResponse | null> | JsonRpcResponse {
    const meta = { [META.subscriptionId]: id };
    if (this.#open.size >= MAX_SUBSCRIPTIONS) {
      return {
        jsonrpc: "2.0",
        id,
        error: { code: -32603, message: "Too many open subscriptions" },
      };
    }
    const requested = params.notifications;
    const kinds = new Set<ChangeKind>();
    const granted: Record<string, boolean> = {};
    if (requested !== null && typeof requested === "object" && !Array.isArray(requested)) {
      for (const kind of Object.keys(KINDS) as ChangeKind[]) {
        if ((requested as Record<string, unknown>)[kind] === true) {
          kinds.add(kind);
          granted[kind] = true;
        }
      }
    }
    if (signal.aborted) return Promise.resolve(null);
    return new Promise((resolve) => {
      const sub: Subscription = {
        id,
        kinds,
        owner,
        notify,
        finish: () => {
          settle();
          resolve({ jsonrpc: "2.0", id, result: { resultType: "complete", _meta: meta } });
        },
      };
      const onAbort = () => {
        settle();
        resolve(null);
      };
      const settle = () => {
        this.#open.delete(sub);
        signal.removeEventListener("abort", onAbort);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.#open.add(sub);
      notify({
        jsonrpc: "2.0",
        method: "notifications/subscriptions/acknowledged",
        params: { _meta: meta, notifications: granted },
      });
    });
  }

  /**
   * Send one change to every subscription that asked for it.
   *
   * @param kind what changed
   */
  publish(kind: ChangeKind): void {
    const method = KINDS[kind];
    for (const sub of this.#open) {
      if (!sub.kinds.has(kind)) continue;
      sub.notify({ jsonrpc: "2.0", method, params: { _meta: { [META.subscriptionId]: sub.id } } });
    }
  }

  /** End the subscriptions of one session with a complete result (its input ended). */
  endFor(owner: object): void {
    for (const sub of [...this.#open]) if (sub.owner === owner) sub.finish();
  }

  /** End every subscription with a complete result (shutdown). */
  endAll(): void {
    for (const sub of [...this.#open]) sub.finish();
  }
}
