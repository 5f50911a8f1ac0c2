/**
 * The agent host's side of the pipe: runs bridge calls concurrently inside
 * the sandbox and answers each with a clean result or error code.
 *
 * Runs in the sandboxed process (`agent_main.ts`) or in the sandboxed Worker
 * (`agent_worker.ts`), so its module graph must hold no npm or bare imports:
 * it is loaded with `--no-npm --no-remote --no-config` and without read
 * permission.
 *
 * Destination checks. `runBridge()` runs LOOM's own `checkDestination()` on
 * every hop, in this process, before connecting. The check resolves the
 * host; the sandbox has no permission to resolve names itself (`node:dns`
 * needs an unported `--allow-net` entry, `Deno.resolveDns` needs the
 * resolver's address), so the lookup is asked of the parent over the pipe,
 * and the parent resolves only hosts of bridges it sent. The check refuses
 * private and special results, IPv6 ULA (fc00::/7) and link-local
 * (fe80::/10) included, and judges IPv6 forms that embed an IPv4 address as
 * that address.
 *
 * The permission wall allows only names, so the socket is opened to the name
 * and Deno resolves it again. Before a byte is written, the connected
 * socket's remote address must pass the same policy and be one of the
 * addresses the check approved (`checkConnectedAddress()`): a name rebound
 * in between, or resolved to `::ffff:127.0.0.1` (which Deno's `--deny-net`
 * CIDRs do not match, nor can Deno 2.9.6 deny IPv6 CIDRs at all), is refused
 * as `POLICY_DENIED`. For plain IPv4 Deno's `--deny-net` list is a second
 * check on the address connected to.
 *
 * @module
 */

import type { BridgeSpec } from "../../../config/mod.ts";
import { checkDestination } from "../../../net/mod.ts";
import {
  type BridgeRunResult,
  runBridge,
  sandboxDenial,
  UpstreamStatusError,
} from "../../../upstream/mod.ts";
import { InputError, LoomError, PolicyError } from "../../../errors.ts";
import { Deadlines } from "../../../_util/deadlines.ts";
import { agentHttpClient } from "../../_agent_client.ts";
import type { ChildMessage, ErrorResponse, ParentMessage, RunRequest } from "../protocol.ts";

/**
 * Remove the web storage globals. `localStorage`, `sessionStorage`, `caches`
 * and `indexedDB` write under Deno's cache directory with no read or write
 * permission (Deno 2.9.6 does not check them), which would let code running in
 * the sandbox keep state across restarts or fill the disk. The bridge needs
 * none of them.
 */
export function removeDiskGlobals(): void {
  for (const name of ["localStorage", "sessionStorage", "caches", "indexedDB"]) {
    Reflect.deleteProperty(globalThis, name);
  }
}

function errorResponse(id: number, error: unknown): ErrorResponse {
  if (error instanceof UpstreamStatusError) {
    return {
      id,
      ok: false,
      code: error.code,
      message: error.message,
      status: error.status,
      detail: error.detail,
    };
  }
  if (error instanceof InputError) {
    return { id, ok: false, code: error.code, message: error.message, field: error.field };
  }
  if (error instanceof LoomError) {
    return { id, ok: false, code: error.code, message: error.message };
  }
  const denied = sandboxDenial(error);
  if (denied !== null) {
    return {
      id,
      ok: false,
      code: "POLICY_DENIED",
      message: `Sandbox refused network access to "${denied}": not declared`,
    };
  }
  if (error instanceof Deno.errors.NotCapable) {
    return { id, ok: false, code: "POLICY_DENIED", message: "Sandbox refused an operation" };
  }
  // Only the class: a message may quote a URL holding a secret.
  console.error(`loom agent host: unexpected ${error instanceof Error ? error.name : "throw"}`);
  return { id, ok: false, code: "INTERNAL", message: "Internal error in the agent host" };
}

function noop(): void {}

/**
 * IPv6 targets Deno's `--deny-net` cannot express (ULA, link-local, loopback,
 * and IPv4 loopback or metadata addresses in mapped, NAT64 and 6to4 form);
 * LOOM's own check must refuse them.
 */
const SELF_TEST_TARGETS = [
  "http://[fd00::1]/",
  "http://[fe80::1]/",
  "http://[::1]/",
  "http://[::ffff:7f00:1]/",
  "http://[64:ff9b::a9fe:a9fe]/",
  "http://[2002:7f00:1::1]/",
];

/**
 * Startup self-test (`docs/security-requirements.md`, SBX-6): before answering `init`,
 * check that LOOM's destination check refuses IPv6 ULA, link-local,
 * loopback and IPv4-embedding targets, which the Deno wall of 2.9.6 cannot
 * deny by range. A
 * failure keeps the host from becoming ready (fail closed).
 *
 * @returns null when every target was refused, else the first one let through
 */
export async function selfTest(): Promise<string | null> {
  for (const target of SELF_TEST_TARGETS) {
    const verdict = await checkDestination(new URL(target), {
      allowNetworks: [],
      configuredHost: "self-test.invalid",
    });
    if (verdict.allow) return target;
  }
  return null;
}

/** Serves one parent over any message channel. */
export class AgentServer {
  #send: (message: ChildMessage) => void;
  #bridges: readonly BridgeSpec[] = [];
  #allowNetworks: readonly string[] = [];
  #runs = new Map<number, AbortController>();
  #deadlines = new Deadlines();
  /** The agent's upstream connections, kept alive between calls. */
  #client = agentHttpClient();
  #lookups = new Map<number, (addresses: string[] | undefined) => void>();
  #nextLookup = 0;
  #lookupHost = (host: string): Promise<string[]> => this.#lookup(host);

  /** @param send writes one message to the parent */
  constructor(send: (message: ChildMessage) => void) {
    this.#send = send;
  }

  /** Handle one message from the parent. */
  handle(message: ParentMessage): void {
    switch (message.op) {
      case "init":
        this.#bridges = message.bridges;
        this.#allowNetworks = message.allowNetworks;
        void selfTest().then((failed) => {
          this.#send(
            failed === null ? { id: message.id, ok: true, result: null } : {
              id: message.id,
              ok: false,
              code: "INTERNAL",
              message: `Sandbox self-test failed: ${failed} was not refused`,
            },
          );
        });
        return;
      case "ping":
        this.#send({ id: message.id, ok: true, result: null });
        return;
      case "run":
        void this.#run(message);
        return;
      case "cancel":
        this.#runs.get(message.id)?.abort(new DOMException("Cancelled", "AbortError"));
        return;
      case "resolved": {
        const settle = this.#lookups.get(message.lid);
        this.#lookups.delete(message.lid);
        settle?.(message.addresses);
        return;
      }
    }
  }

  /** Abort every running call and close the upstream connections (the parent went away). */
  close(): void {
    for (const controller of this.#runs.values()) {
      controller.abort(new DOMException("Agent host closing", "AbortError"));
    }
    for (const settle of this.#lookups.values()) settle(undefined);
    this.#lookups.clear();
    this.#client.close();
  }

  #lookup(host: string): Promise<string[]> {
    const lid = ++this.#nextLookup;
    return new Promise((resolve, reject) => {
      this.#lookups.set(lid, (addresses) => {
        if (addresses === undefined) reject(new Error("lookup refused"));
        else resolve(addresses);
      });
      this.#send({ op: "lookup", lid, host });
    });
  }

  async #run(request: RunRequest): Promise<void> {
    const { id } = request;
    const bridge = typeof request.bridge === "number"
      ? this.#bridges[request.bridge]
      : request.bridge;
    if (bridge === undefined) {
      this.#send({ id, ok: false, code: "INTERNAL", message: "Unknown bridge" });
      return;
    }
    // One controller per call, aborted by the parent's `cancel` or at the
    // deadline. The deadline's reason is a `TimeoutError`, as
    // `AbortSignal.timeout` gives, so the bridge reports UPSTREAM_TIMEOUT;
    // unlike `AbortSignal.timeout` the timer is released when the call ends.
    const controller = new AbortController();
    this.#runs.set(id, controller);
    const secrets = request.secrets ?? {};
    let cancelDeadline = noop;
    let result: BridgeRunResult;
    try {
      cancelDeadline = this.#deadlines.after(
        request.deadlineMs,
        () => controller.abort(new DOMException("Signal timed out.", "TimeoutError")),
      );
      result = await runBridge(bridge, request.args, {
        signal: controller.signal,
        maxResponseBytes: request.maxResponseBytes,
        allowNetworks: this.#allowNetworks,
        lookup: this.#lookupHost,
        client: this.#client,
        onResponseHead: request.head === true
          ? (status) => this.#send({ op: "head", id, status })
          : undefined,
        resolveSecret: (name) => {
          const value = Object.hasOwn(secrets, name) ? secrets[name] : undefined;
          if (typeof value !== "string") throw new PolicyError(`Secret "${name}" is not available`);
          return value;
        },
      });
    } catch (error) {
      this.#send(errorResponse(id, error));
      return;
    } finally {
      cancelDeadline();
      this.#runs.delete(id);
    }
    this.#send({ id, ok: true, result });
  }
}
