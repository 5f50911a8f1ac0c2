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

import { canonicalJson } from "../_util/canonical_json.ts";
import { NotFoundError } from "../errors.ts";
import type { AgentConfig } from "../config/mod.ts";
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
  type MeshRoute,
  NAMESPACE_SEPARATOR,
  planMeshRoutes,
  routedConfig,
  type SkippedConfig,
} from "./mesh_load.ts";
import { closeMembers, fileFingerprint, type MeshAgentStatus, MeshMember } from "./mesh_member.ts";
import { ToolFilter } from "./mesh_exposure.ts";
import { MeshPins } from "./mesh_pins.ts";
import { type DirWatch, watchDirectory } from "./_dir_watch.ts";
import { MESH_IDLE_MS, MESH_RELOAD_DEBOUNCE_MS, type MeshOptions } from "./mesh_options.ts";
import { answerDiscovery, DISCOVERY_TOOLS, isDiscoveryTool } from "./mesh_discovery.ts";
import { type ScheduledTool, scheduledToolsOf } from "./mesh_schedule.ts";
import {
  type MeshReloadReport,
  type MeshState,
  meshState,
  prepareReload,
  recordReload,
  type ReloadOptions,
  routedTools,
} from "./mesh_reload.ts";

export type { MeshAgentStatus } from "./mesh_member.ts";
export type { MeshReloadReport, ReloadRefusal } from "./mesh_reload.ts";

export { MESH_IDLE_MS, MESH_RELOAD_DEBOUNCE_MS, type MeshOptions } from "./mesh_options.ts";

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
  readonly #pins: MeshPins;
  #watch: DirWatch | null = null;
  #reloading: Promise<void> = Promise.resolve();
  #closing: Promise<void> | null = null;

  private constructor(
    dir: string,
    state: MeshState,
    skipped: SkippedConfig[],
    options: ReloadOptions & MeshOptions,
    pins: MeshPins,
  ) {
    this.#pins = pins;
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
    const filter = options.tools === undefined || options.tools.length === 0
      ? null
      : new ToolFilter(options.tools);
    // Fingerprints first: a file changed while loading is loaded again by the next reload.
    const files = await meshConfigFiles(dir);
    // Fail closed: a mesh whose pins cannot be kept does not serve (the rug-pull defence).
    const pins = await MeshPins.open(options.home, options.audit, options.log);
    // A gateway member's upstream may change its tools at any time, also while opening.
    const late: { mesh?: Mesh } = {};
    const all: ReloadOptions & MeshOptions = {
      ...options,
      idleMs: options.idleMs ?? MESH_IDLE_MS,
      filter,
      pin: (members) => pins.check(members),
      onUpstreamChange: () => {
        if (late.mesh !== undefined) late.mesh.#upstreamChanged();
      },
    };
    late.mesh = await Mesh.#open(dir, files, all, pins).catch((error) => {
      pins.close();
      throw error;
    });
    return late.mesh;
  }

  static async #open(
    dir: string,
    files: readonly string[],
    options: ReloadOptions & MeshOptions,
    pins: MeshPins,
  ) {
    const filter = options.filter ?? null;
    const prints = new Map(
      await Promise.all(files.map(async (file) => [file, await fileFingerprint(file)] as const)),
    );
    const { loaded, skipped } = await loadMeshConfigs(dir, options);
    planMeshRoutes(loaded, options.namespace); // refuse collisions before anything starts
    const opened = await Promise.allSettled(
      loaded.map((entry) => MeshMember.open(entry, prints.get(entry.file) ?? "", options)),
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
      routes = planMeshRoutes(
        members.map((m) => routedConfig(m.entry, m.agent.gate)),
        options.namespace,
      );
      await pins.check(members); // before listing: a changed tool lists its pinned definition
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
    const state = meshState(members, routes, options.namespace, filter);
    const mesh = new Mesh(dir, state, skipped, options, pins);
    for (const pattern of filter?.unmatched(routedTools(state)) ?? []) {
      options.onWarning(`--tools pattern "${pattern}" matches no tool of the mesh (yet)`);
    }
    for (const { file } of skipped) mesh.#refusedPrints.set(file, prints.get(file) ?? "");
    if (options.watch === true) {
      mesh.#watch = watchDirectory(
        dir,
        options.debounceMs ?? MESH_RELOAD_DEBOUNCE_MS,
        () => void mesh.reload().catch((error) => mesh.#fail(error)),
        (error) => mesh.#fail(error),
      );
    }
    pins.poll(() => mesh.#state.members, () => mesh.#releaseApproved(), options.pinPollMs);
    return mesh;
  }

  /**
   * What clients see: the exposed tools under their served names, or in
   * discovery mode the two discovery tools. Starts no process.
   */
  listTools(): readonly McpTool[] {
    return this.#options.discovery === true ? DISCOVERY_TOOLS : this.#state.listed;
  }

  /**
   * Run one call: in discovery mode the two discovery tools answer here
   * (a found tool's call is routed like a direct one); every other name is
   * routed to the gate of the agent that owns the tool.
   *
   * @throws {UnknownToolError} when no agent serves that name to this client
   */
  callTool(name: string, args: unknown, ctx: ToolCallContext): Promise<CallToolResult> {
    if (this.#options.discovery === true && isDiscoveryTool(name)) {
      return answerDiscovery(
        name,
        args,
        this.#state.index,
        (found, inner) => this.#route(found, inner, ctx),
      );
    }
    return this.#route(name, args, ctx);
  }

  /** A composite tool's step, routed as a client's call of that name. */
  readonly #steps = (name: string, args: unknown, ctx: ToolCallContext): Promise<CallToolResult> =>
    this.#route(name, args, ctx);

  /**
   * Route one call to the gate of the agent that owns the tool, on the
   * version serving now: a reload meanwhile lets it finish there. A name the
   * filter hides is refused by its owner's gate as unknown (and recorded
   * there); with namespacing, so is a name under a known agent's prefix.
   */
  #route(name: string, args: unknown, ctx: ToolCallContext): Promise<CallToolResult> {
    const state = this.#state;
    const route = state.routes.get(name);
    if (route !== undefined) {
      const member = state.members[route.member];
      // A composite's steps are routed like this call: to their owners' gates, by served name.
      member.agent.gate.routeSteps(this.#steps);
      this.#options.registry?.touch(member.name); // throttled: a write a minute at most
      if (member.agent.gate.heldTools().has(route.tool)) this.#releaseApproved(route.tool);
      if (state.exposed !== null && !state.exposed.has(name)) {
        return member.run((agent) => agent.gate.refuseUnknown(route.tool, ctx)).catch(
          (error) => {
            throw error instanceof UnknownToolError ? new UnknownToolError(name) : error;
          },
        );
      }
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

  /**
   * The exposed tools that have triggers, on the version serving now (for
   * the scheduler, `mesh_schedule.ts`).
   */
  scheduledTools(): ScheduledTool[] {
    return scheduledToolsOf(this.#state);
  }

  /** How many tools a client may call (what discovery searches). */
  searchableCount(): number {
    return this.#state.index.entries.length;
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
      // In discovery mode the list (two tools) never changes; searches see the new set.
      if (report.toolsChanged && this.#options.discovery !== true) this.engine.notifyToolsChanged();
      const { registry } = this.#options;
      if (opened.length > 0) registry?.registerAgents(opened.map((m) => registration(m.entry)));
      for (const m of retired) {
        if (report.removed.includes(m.name)) registry?.markAgent(m.name, "stopped");
      }
    }
    await recordReload(this.#options, report, opened, retired);
    this.#options.onReload?.(report);
    return report;
  }

  /**
   * Serve again the held tools whose change was approved (all, or one):
   * the gate's hold is released at once, and the new listing is swapped in
   * (in turn with reloads) and announced to clients.
   */
  #releaseApproved(only?: string): void {
    if (this.#closing !== null) return;
    if (!this.#pins.release(this.#state.members, only)) return;
    this.#reloading = this.#reloading.then(() => this.#relist(this.#state.routes))
      .catch((error) => this.#fail(error));
  }

  /**
   * A gateway member listed its upstream's tools again: check the pins of
   * every gateway member (a new tool is pinned, a changed one held), plan
   * the routes again and swap in the new listing (in turn with reloads).
   */
  #upstreamChanged(): void {
    if (this.#closing !== null) return;
    this.#reloading = this.#reloading.then(async () => {
      const members = this.#state.members;
      await this.#pins.check(members.filter((m) => m.agent.config.mcpUpstream !== null));
      this.#relist(planMeshRoutes(
        members.map((m) => routedConfig(m.entry, m.agent.gate)),
        this.#options.namespace,
      ));
    }).catch((error) => this.#fail(error));
  }

  /** Swap in the listing of the members serving now, and announce it when it changed. */
  #relist(routes: ReadonlyMap<string, MeshRoute>): void {
    const current = this.#state;
    const { namespace, filter, discovery } = this.#options;
    const next = meshState(current.members, routes, namespace, filter ?? null);
    this.#state = next;
    const changed = canonicalJson(next.listed) !== canonicalJson(current.listed);
    if (changed && discovery !== true) this.engine.notifyToolsChanged();
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
      this.#watch?.close();
      await this.#watch?.done;
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
        this.#pins.close();
      }
    })();
    return this.#closing;
  }

  /** Same as {@linkcode Mesh.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

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
