/**
 * One agent of a mesh: its served agent (gate, sandboxed host process), its
 * credential broker, the status the operator sees, and the calls in flight
 * on it. A hot reload (`mesh.ts`) retires a member it replaced or removed;
 * a retired member is closed only once its last call in flight has ended,
 * so every call finishes on the version it started with.
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { LoomHome } from "../store/mod.ts";
import type { AuditLog } from "../security/audit/mod.ts";
import { CredentialBroker } from "../security/secrets/mod.ts";
import { signaturePath } from "../security/signing/mod.ts";
import type { SandboxEvent } from "../runtime/sandbox/mod.ts";
import type { LoomMetrics } from "../_util/loom_metrics.ts";
import { configNeedsSecrets, ServedAgent } from "./served_agent.ts";
import type { MeshConfig } from "./mesh_load.ts";
import type { McpTool } from "../mcp/mod.ts";

/** One agent of the mesh as the operator sees it. */
export interface MeshAgentStatus {
  /** The config's `name`. */
  name: string;
  /** Its config file. */
  file: string;
  /** Tools it serves, by their served names. */
  tools: string[];
  /** Its host process, when one runs (null for `sandbox: none` and when idle). */
  hostPid: number | null;
  /** `up` while a host process is ready; `down` after a crash or kill; `idle` otherwise. */
  host: "idle" | "up" | "down";
  /** Restarts of its host process after a crash or kill. */
  restarts: number;
}

/** What opening a member needs (a subset of the mesh's options). */
export interface MemberOptions {
  home: LoomHome;
  audit: AuditLog;
  env: { get(key: string): string | undefined };
  version: string;
  idleMs: number;
  metrics?: LoomMetrics;
  log(line: string): void;
  /** A gateway member's upstream tools were listed again (they changed, or it restarted). */
  onUpstreamChange?: () => void;
}

/** One agent of the mesh; see the module doc. */
export class MeshMember {
  /** What it serves, with the fingerprint of the files it was loaded from. */
  readonly entry: MeshConfig;
  readonly agent: ServedAgent;
  readonly status: MeshAgentStatus;
  /** The config and signature files' fingerprint, read before loading ({@linkcode fileFingerprint}). */
  readonly fingerprint: string;
  /**
   * The pinned definitions listed instead of tools whose definition changed
   * and is not approved yet (`mesh_pins.ts`), by the tool's own name.
   */
  readonly pinnedListing: Map<string, McpTool> = new Map();
  readonly #broker: CredentialBroker | undefined;
  #inflight = 0;
  #retired = false;
  #closing: Promise<void> | null = null;
  /** Settles when the member is closed (a retired one, after its last call). */
  readonly #closed = Promise.withResolvers<void>();

  private constructor(
    entry: MeshConfig,
    fingerprint: string,
    agent: ServedAgent,
    broker: CredentialBroker | undefined,
    status: MeshAgentStatus,
  ) {
    this.entry = entry;
    this.fingerprint = fingerprint;
    this.agent = agent;
    this.#broker = broker;
    this.status = status;
    this.#closed.promise.catch(() => {}); // reported to whoever awaits retire() or close()
  }

  /** The config file. */
  get file(): string {
    return this.entry.file;
  }

  /** The agent's name. */
  get name(): string {
    return this.entry.config.name;
  }

  /**
   * Open an agent: its broker (with the signer, as `loom run` opens it) and
   * its served agent, whose host process starts on its first call.
   *
   * @param entry the loaded, verified config
   * @param fingerprint its files' fingerprint, read before it was loaded
   * @param options home, audit log, environment, idle stop, metrics, log
   */
  static async open(
    entry: MeshConfig,
    fingerprint: string,
    options: MemberOptions,
  ): Promise<MeshMember> {
    const { config, signature, file } = entry;
    const status: MeshAgentStatus = {
      name: config.name,
      file,
      tools: [],
      hostPid: null,
      host: "idle",
      restarts: 0,
    };
    // Grants pinned to a signing key match only a config verified as signed by it.
    const broker = signature.verdict === "valid" && configNeedsSecrets(config)
      ? await CredentialBroker.open({
        home: options.home,
        env: options.env,
        audit: options.audit,
        signer: { configDigest: config.source.digest, keyId: signature.keyId },
      })
      : undefined;
    try {
      const agent = await ServedAgent.open(config, {
        home: options.home,
        audit: options.audit,
        broker,
        env: options.env,
        transport: "mesh",
        version: options.version,
        metrics: options.metrics,
        log: options.log,
        sandbox: { idleMs: options.idleMs, onEvent: (event) => track(status, event) },
        onUpstreamChange: options.onUpstreamChange,
      });
      return new MeshMember(entry, fingerprint, agent, broker, status);
    } catch (error) {
      await broker?.close();
      throw error;
    }
  }

  /**
   * Run one call on this member, counted as in flight until it settles.
   *
   * @param call the call, on this member's gate
   */
  async run<T>(call: (agent: ServedAgent) => Promise<T>): Promise<T> {
    this.#inflight++;
    try {
      return await call(this.agent);
    } finally {
      this.#inflight--;
      if (this.#retired && this.#inflight === 0) void this.close().catch(() => {});
    }
  }

  /** Calls in flight on this member. */
  get inflight(): number {
    return this.#inflight;
  }

  /**
   * No new call will reach this member: close it once its calls in flight
   * have ended (at once when there are none).
   *
   * @returns settles when it is closed
   */
  retire(): Promise<void> {
    this.#retired = true;
    if (this.#inflight === 0) void this.close().catch(() => {});
    return this.#closed.promise;
  }

  /** Close the agent (its `stop` record, gate, host process), then its broker. Idempotent. */
  close(): Promise<void> {
    if (this.#closing === null) {
      this.#closing = (async () => {
        try {
          await this.agent.close();
        } finally {
          await this.#broker?.close();
        }
      })();
      this.#closing.then(this.#closed.resolve, this.#closed.reject);
    }
    return this.#closing;
  }
}

/**
 * The fingerprint of a config file and its signature file (SHA-256 of each,
 * or `-` for a missing signature): a reload loads a file again only when it
 * changed. Null when the config cannot be read.
 *
 * @param file the config file
 */
export async function fileFingerprint(file: string): Promise<string | null> {
  const hash = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");
  let config: Uint8Array;
  try {
    config = await Deno.readFile(file);
  } catch {
    return null;
  }
  let signature = "-";
  try {
    signature = hash(await Deno.readFile(signaturePath(file)));
  } catch {
    // No signature file (or none readable): the signature check reports it.
  }
  return `${hash(config)}:${signature}`;
}

/**
 * Close members in parallel; every one is closed, and `closed` told of each
 * (whether closing it failed). Rethrows the first failure.
 */
export async function closeMembers(
  members: readonly MeshMember[],
  closed?: (member: MeshMember, failed: boolean) => void,
): Promise<void> {
  const results = await Promise.allSettled(members.map(async (m) => {
    let failed = false;
    try {
      await m.close();
    } catch (error) {
      failed = true;
      throw error;
    } finally {
      closed?.(m, failed);
    }
  }));
  const failed = results.find((r) => r.status === "rejected");
  if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
}

/** Follow an agent's host process through its sandbox events. */
function track(status: MeshAgentStatus, event: SandboxEvent): void {
  switch (event.action) {
    case "spawn":
      status.hostPid = event.pid ?? null;
      break;
    case "ready":
      status.host = "up";
      break;
    case "stop":
      status.host = "idle";
      status.hostPid = null;
      break;
    case "crash":
    case "kill":
      status.host = "down";
      status.hostPid = null;
      break;
    case "restart":
      status.restarts++;
      break;
  }
}
