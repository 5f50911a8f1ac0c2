/**
 * The mesh: every agent config of a directory served through one MCP
 * connection (`loom mesh DIR`). It is a {@linkcode ToolHost} in front of one
 * protocol engine: `tools/list` lists the tools of every agent, and each
 * `tools/call` is routed by name to the gate of the agent that owns the tool.
 *
 * Each agent stays what `loom run` would make of it (`ServedAgent`): its own
 * gate (tier, rate limits, approvals, quarantine), its own credential broker
 * when it names secrets, and its own sandboxed host process, started by the
 * first call that needs it and stopped after {@linkcode MESH_IDLE_MS}
 * without calls. Listing tools starts no process. One agent's process
 * crashing fails only that agent's calls in flight; its next call restarts
 * it (after the supervisor's backoff) and the other agents never notice.
 *
 * Which configs serve, and under which names, is `mesh_load.ts`. Hot
 * reload (`mesh_reload.ts`): watching its directory, the mesh loads and
 * verifies what changed, then swaps the whole set of agents at once; a
 * refused change keeps the serving version, calls in flight finish on the
 * version they started with (`mesh_member.ts`), and clients of both
 * protocol eras are told when the tool list changed.
 *
 * @module
 */

import { NotFoundError } from "../errors.ts";
import type { AgentConfig } from "../config/mod.ts";
import type { AgentRegistry, LoomHome } from "../store/mod.ts";
import type { LoomMetrics } from "../_util/loom_metrics.ts";
import type { AuditLog } from "../security/audit/mod.ts";
import {
  type CallToolResult,
  McpEngine,
  type McpTool,
  type ToolCallContext,
  type ToolHost,
  UnknownToolError,
} from "../mcp/mod.ts";
import {
  loadMeshConfigs,
  meshConfigFiles,
  type MeshLoadOptions,
  type MeshRoute,
  NAMESPACE_SEPARATOR,
  planMeshRoutes,
  type SkippedConfig,
} from "./mesh_load.ts";
import { closeMembers, fileFingerprint, type MeshAgentStatus, MeshMember } from "./mesh_member.ts";
import {
  type MeshReloadReport,
  type MeshState,
  meshState,
  prepareReload,
  type ReloadOptions,
} from "./mesh_reload.ts";

export type { MeshAgentStatus } from "./mesh_member.ts";
export type { MeshReloadReport, ReloadRefusal } from "./mesh_reload.ts";

/** How long an agent's host process may stay idle in a mesh before it is stopped: 5 minutes. */
export const MESH_IDLE_MS = 5 * 60_000;

/** How long the directory must be quiet before a reload: editors write in several steps. */
export const MESH_RELOAD_DEBOUNCE_MS = 200;

/** What {@linkcode Mesh.open} needs. */
export interface MeshOptions extends MeshLoadOptions {
  home: LoomHome;
  audit: AuditLog;
  /** The environment (`LOOM_MASTER_KEY` for brokers). */
  env: { get(key: string): string | undefined };
  /** The server's version, announced at initialize. */
  version: string;
  /** Stop an agent's host process after this long without calls (default {@linkcode MESH_IDLE_MS}). */
  idleMs?: number;
  /** A line for the operator (stderr). */
  log(line: string): void;
  /**
   * The agent registry (`loom list`): every agent is registered in one batch
   * once open (transport `mesh`; a config refused by its signature check as
   * `skipped`), touched by its calls, and marked stopped on close. The
   * registry reports its own failures (once) and never stops the mesh.
   */
  registry?: AgentRegistry;
  /** The process's metrics (`/metrics`), shared by every agent. */
  metrics?: LoomMetrics;
  /** Watch the directory and reload on changes (default false; `loom mesh` watches). */
  watch?: boolean;
  /** Quiet time before a reload (default {@linkcode MESH_RELOAD_DEBOUNCE_MS}). */
  debounceMs?: number;
  /** Told what each reload did (refusals included). */
  onReload?(report: MeshReloadReport): void;
}

/** Many agents behind one engine; see the module doc. */
export class Mesh implements ToolHost, AsyncDisposable {
  /** The protocol engine of the one connection (both eras). */
  readonly engine: McpEngine;
  /** The configs left out at open, with their problems. */
  readonly skipped: readonly SkippedConfig[];
  readonly #dir: string;
  readonly #options: ReloadOptions & MeshOptions;
  #state: MeshState;
  /** Fingerprints of files refused, so an unchanged refused file is not reported again. */
  readonly #refusedPrints = new Map<string, string>();
  /** Replaced and removed members whose calls in flight have not all ended. */
  readonly #retiring = new Set<MeshMember>();
  #watcher: Deno.FsWatcher | null = null;
  #watching: Promise<void> = Promise.resolve();
  #reloading: Promise<void> = Promise.resolve();
  #closing: Promise<void> | null = null;

  private constructor(
    dir: string,
    state: MeshState,
    skipped: SkippedConfig[],
    options: ReloadOptions & MeshOptions,
  ) {
    this.#dir = dir;
    this.#state = state;
    this.skipped = skipped;
    this.#options = options;
    this.engine = new McpEngine(this, { name: "loom-mesh", version: options.version });
  }

  /**
   * Load, verify and serve every config of a directory.
   *
   * @param dir the mesh directory
   * @param options home, audit log, signature policy, namespacing, idle stop,
   *   registry, metrics, watching
   * @returns the mesh, ready for calls; close it when done
   * @throws {NotFoundError} when no config is left to serve
   * @throws {ConfigError} when two configs collide (both files named)
   */
  static async open(dir: string, options: MeshOptions): Promise<Mesh> {
    const all: ReloadOptions & MeshOptions = {
      ...options,
      idleMs: options.idleMs ?? MESH_IDLE_MS,
    };
    // Fingerprints first: a file changed while loading is loaded again by the next reload.
    const files = await meshConfigFiles(dir);
    const prints = new Map(
      await Promise.all(files.map(async (file) => [file, await fileFingerprint(file)] as const)),
    );
    const { loaded, skipped } = await loadMeshConfigs(dir, options);
    planMeshRoutes(loaded, options.namespace); // refuse collisions before anything starts
    const opened = await Promise.allSettled(
      loaded.map((entry) => MeshMember.open(entry, prints.get(entry.file) ?? "", all)),
    );
    const members: MeshMember[] = [];
    for (const [i, result] of opened.entries()) {
      if (result.status === "fulfilled") members.push(result.value);
      else skipped.push({ file: loaded[i].file, problems: [errorLine(result.reason)] });
    }
    if (members.length === 0) {
      throw new NotFoundError(
        `No config to serve in "${dir}": ` +
          (skipped.length === 0 ? "it holds no .yaml or .yml file" : "every config was left out"),
      );
    }
    let routes: Map<string, MeshRoute>;
    try {
      routes = planMeshRoutes(members.map((m) => m.entry), options.namespace);
    } catch (error) {
      await closeMembers(members);
      throw error;
    }
    // One batch (one transaction) for the whole mesh, refused configs included.
    options.registry?.registerAgents([
      ...members.map((m) => registration(m.entry)),
      ...skipped.flatMap(({ file, refused }) =>
        refused === undefined ? [] : [registration({ file, ...refused }, "skipped")]
      ),
    ]);
    const mesh = new Mesh(dir, meshState(members, routes, options.namespace), skipped, all);
    for (const { file } of skipped) mesh.#refusedPrints.set(file, prints.get(file) ?? "");
    if (options.watch === true) mesh.#watch();
    return mesh;
  }

  /** Every agent's tools, under their served names. Starts no process. */
  listTools(): readonly McpTool[] {
    return this.#state.listed;
  }

  /**
   * Route one call to the gate of the agent that owns the tool, on the
   * version serving now: a reload meanwhile lets it finish there. An unknown
   * name is refused; with namespacing, one under a known agent's prefix is
   * refused by that agent's gate, which records it like `loom run` does.
   *
   * @throws {UnknownToolError} when no agent serves that name
   */
  callTool(name: string, args: unknown, ctx: ToolCallContext): Promise<CallToolResult> {
    const state = this.#state;
    const route = state.routes.get(name);
    if (route !== undefined) {
      const member = state.members[route.member];
      this.#options.registry?.touch(member.name); // throttled: a write a minute at most
      return member.run((agent) => agent.gate.callTool(route.tool, args, ctx));
    }
    // A namespaced name of a known agent: its own gate refuses (and records) the unknown tool.
    const owner = this.#options.namespace
      ? state.prefixes.get(name.split(NAMESPACE_SEPARATOR)[0])
      : undefined;
    if (owner === undefined) return Promise.reject(new UnknownToolError(name));
    this.#options.registry?.touch(owner.name);
    const tool = name.slice(name.indexOf(NAMESPACE_SEPARATOR) + NAMESPACE_SEPARATOR.length);
    return owner.run((agent) => agent.gate.callTool(tool, args, ctx)).catch((error) => {
      throw error instanceof UnknownToolError ? new UnknownToolError(name) : error;
    });
  }

  /** Each agent's status, in file order. */
  agents(): readonly MeshAgentStatus[] {
    return this.#state.members.map((m) => ({ ...m.status, tools: [...m.status.tools] }));
  }

  /**
   * Read the directory again and apply what changed (see `mesh_reload.ts`):
   * new versions and new agents are swapped in at once, removed agents stop
   * once their calls in flight end, refusals keep the serving version.
   * Clients are told when the tool list changed. Reloads run one at a time.
   *
   * @returns what the reload did
   */
  reload(): Promise<MeshReloadReport> {
    const run = this.#reloading.then(() => this.#reload());
    this.#reloading = run.then(() => {}, () => {});
    return run;
  }

  async #reload(): Promise<MeshReloadReport> {
    if (this.#closing !== null) {
      return { added: [], replaced: [], removed: [], refused: [], toolsChanged: false };
    }
    const current = this.#state;
    const { next, retired, opened, report } = await prepareReload(
      this.#dir,
      current,
      this.#refusedPrints,
      this.#options,
    );
    if (next !== null) {
      this.#state = next; // the swap: every call from here on sees the new set
      for (const member of retired) {
        this.#retiring.add(member);
        member.retire()
          .catch((error) =>
            this.#options.log(`loom: closing "${member.file}" failed: ${errorLine(error)}`)
          )
          .finally(() => this.#retiring.delete(member));
      }
      if (report.toolsChanged) this.engine.notifyToolsChanged();
      const { registry } = this.#options;
      if (opened.length > 0) registry?.registerAgents(opened.map((m) => registration(m.entry)));
      for (const m of retired) {
        if (report.removed.includes(m.name)) registry?.markAgent(m.name, "stopped");
      }
    }
    await this.#audit(report, opened, retired);
    this.#options.onReload?.(report);
    return report;
  }

  /** One `agent_lifecycle` record per change and per refusal. */
  async #audit(report: MeshReloadReport, opened: MeshMember[], retired: MeshMember[]) {
    const record = (agent: string, action: MeshReloadAction, file: string, extra = {}) =>
      this.#options.audit.append({
        event: "agent_lifecycle",
        agent,
        tool: null,
        transport: "mesh",
        action,
        file,
        ...extra,
      });
    const writes = [
      ...opened.map((m) =>
        record(m.name, report.added.includes(m.name) ? "added" : "reload", m.file, {
          config_digest: m.entry.config.source.digest,
        })
      ),
      ...retired.filter((m) => report.removed.includes(m.name))
        .map((m) => record(m.name, "removed", m.file)),
      ...report.refused.map((r) =>
        record(r.agent ?? "", "refused", r.file, { reason: r.problems.join("; ").slice(0, 300) })
      ),
    ];
    const failed = (await Promise.allSettled(writes)).find((r) => r.status === "rejected");
    if (failed !== undefined) {
      this.#options.log(
        `loom: a reload record could not be written: ${
          errorLine((failed as PromiseRejectedResult).reason)
        }`,
      );
    }
  }

  /** Watch the directory; each burst of changes, once quiet, is one reload. */
  #watch(): void {
    const watcher = Deno.watchFs(this.#dir, { recursive: false });
    this.#watcher = watcher;
    const quietMs = this.#options.debounceMs ?? MESH_RELOAD_DEBOUNCE_MS;
    let timer: ReturnType<typeof setTimeout> | undefined;
    this.#watching = (async () => {
      try {
        for await (const event of watcher) {
          if (event.kind === "access") continue; // a reload's own reads
          clearTimeout(timer);
          timer = setTimeout(() => {
            if (this.#closing === null) void this.reload().catch((error) => this.#fail(error));
          }, quietMs);
        }
      } catch (error) {
        if (this.#closing === null) this.#fail(error);
      } finally {
        clearTimeout(timer);
      }
    })();
  }

  #fail(error: unknown): void {
    this.#options.log(`loom: reloading "${this.#dir}" failed: ${errorLine(error)}`);
  }

  /**
   * Stop watching, let a reload under way finish, close the engine's
   * subscriptions, then every agent (its `stop` record, its gate and host
   * process) and its broker, and mark each agent in the registry: `stopped`,
   * or `failed` when the mesh ended on a failure or the agent failed to
   * close. Idempotent.
   *
   * @param outcome how serving ended (default `stopped`)
   */
  close(outcome: "stopped" | "failed" = "stopped"): Promise<void> {
    this.#closing ??= (async () => {
      try {
        this.#watcher?.close();
      } catch { /* already closed */ }
      await this.#watching;
      await this.#reloading;
      this.engine.close();
      try {
        await closeMembers(
          this.#state.members,
          (member, failed) =>
            this.#options.registry?.markAgent(member.name, failed ? "failed" : outcome),
        );
      } finally {
        // Retired versions still finishing calls are closed too: shutdown does not wait on them.
        await closeMembers([...this.#retiring]).catch(() => {});
      }
    })();
    return this.#closing;
  }

  /** Same as {@linkcode Mesh.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** The actions of a mesh reload's `agent_lifecycle` records. */
type MeshReloadAction = "reload" | "added" | "removed" | "refused";

/** A config's registration in the registry, as a mesh member (or skipped). */
function registration(
  entry: { file: string; config: AgentConfig; signature: { verdict: string } },
  status?: "skipped",
) {
  return {
    config: entry.config,
    input: { path: entry.file, signature: entry.signature, transport: "mesh", status },
  };
}

function errorLine(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
