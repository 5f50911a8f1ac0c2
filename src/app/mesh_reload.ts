/**
 * Hot reload of a mesh: what a change of its directory means for the set of
 * agents it serves. {@linkcode prepareReload} reads the directory, loads and
 * verifies only the configs whose files changed (a config and its signature
 * file are fingerprinted), opens the new versions, and plans the tool names
 * of the set that would result; nothing serving is touched. The mesh then
 * swaps the whole set in at once (`mesh.ts`).
 *
 * What is refused keeps the serving version: a config that does not load or
 * fails its signature check (reported `file:line:column`), one whose agent
 * does not open, and a change that would make two agents serve one tool name
 * (then no change of that reload is applied).
 *
 * @module
 */

import { canonicalJson } from "../_util/canonical_json.ts";
import type { ConfigError } from "../errors.ts";
import type { AuditLog } from "../security/audit/mod.ts";
import type { McpTool } from "../mcp/mod.ts";
import {
  loadMeshFiles,
  type MeshConfig,
  meshConfigFiles,
  type MeshLoadOptions,
  type MeshRoute,
  planMeshRoutes,
  problemsOf,
  routedConfig,
  servedToolName,
} from "./mesh_load.ts";
import { closeMembers, fileFingerprint, type MemberOptions, MeshMember } from "./mesh_member.ts";
import type { ToolFilter } from "./mesh_exposure.ts";
import { type CatalogEntry, type SearchIndex, searchIndex } from "./mesh_discovery.ts";

/** The agents a mesh serves at one moment, and how their tools are named. */
export interface MeshState {
  /** Every agent, in file order. */
  members: readonly MeshMember[];
  /** Served tool name to (member index, tool): every tool, exposed or not. */
  routes: ReadonlyMap<string, MeshRoute>;
  /** `tools/list` without discovery: the exposed tools under their served names. */
  listed: readonly McpTool[];
  /** The served names the filter lets a client call (null: every routed name). */
  exposed: ReadonlySet<string> | null;
  /** The exposed tools with their agents, indexed for discovery searches. */
  index: SearchIndex;
  /** Each agent by the prefix of its namespaced tool names. */
  prefixes: ReadonlyMap<string, MeshMember>;
}

/**
 * The state of a set of members (their routes already planned).
 *
 * @param members the agents, in file order
 * @param routes their planned routes
 * @param namespace whether tools are namespaced
 * @param filter which tools clients see (`--tools`, a profile), or null for all
 */
export function meshState(
  members: readonly MeshMember[],
  routes: ReadonlyMap<string, MeshRoute>,
  namespace: boolean,
  filter: ToolFilter | null = null,
): MeshState {
  for (const member of members) {
    member.status.tools = [...routes.entries()]
      .filter(([, route]) => members[route.member] === member).map(([name]) => name);
  }
  const catalog: CatalogEntry[] = [];
  for (const { agent, pinnedListing } of members) {
    const name = agent.config.name;
    for (const listed of agent.gate.listTools()) {
      // A tool held by its pin lists the approved definition (`mesh_pins.ts`).
      const tool = pinnedListing.get(listed.name) ?? listed;
      const served = servedToolName(name, tool.name, namespace);
      if (filter !== null && !filter.matches(name, tool.name, served)) continue;
      catalog.push({ agent: name, tool: namespace ? { ...tool, name: served } : tool });
    }
  }
  return {
    members,
    routes,
    listed: Object.freeze(catalog.map((e) => e.tool)),
    // From the routes: a quarantined agent lists nothing, but its gate says why it refuses.
    exposed: filter === null ? null : new Set(
      [...routes].filter(([served, r]) => filter.matches(members[r.member].name, r.tool, served))
        .map(([served]) => served),
    ),
    index: searchIndex(catalog),
    prefixes: new Map(members.map((m) => [servedToolName(m.name, "", true).slice(0, -2), m])),
  };
}

/** Every routed tool of a state with its agent and own name (for the filter's warnings). */
export function routedTools(state: MeshState): { agent: string; tool: string; served: string }[] {
  return [...state.routes.entries()].map(([served, route]) => ({
    agent: state.members[route.member].name,
    tool: route.tool,
    served,
  }));
}

/** A change a reload did not apply. */
export interface ReloadRefusal {
  /** The config file. */
  file: string;
  /** The agent it served (or would have), when known. */
  agent: string | null;
  /** Why, one line each (`file:line:column: ...` for a config error). */
  problems: string[];
  /** True when a previous version of the file keeps serving. */
  kept: boolean;
}

/** What one reload did. */
export interface MeshReloadReport {
  /** Agents that began serving. */
  added: string[];
  /** Agents now serving a new version of their config. */
  replaced: string[];
  /** Agents that stopped serving (their file was removed or now holds another agent). */
  removed: string[];
  /** Changes not applied. */
  refused: ReloadRefusal[];
  /** Whether the served tool list changed (clients were told). */
  toolsChanged: boolean;
}

/** A prepared reload: the next state and what it changes, or nothing to swap. */
export interface PreparedReload {
  /** The state to swap in, or null when nothing changes. */
  next: MeshState | null;
  /** Members the swap retires (replaced or removed). */
  retired: MeshMember[];
  /** Members the swap adds (new agents and new versions), with each one's fingerprint. */
  opened: MeshMember[];
  report: MeshReloadReport;
}

/** What {@linkcode prepareReload} needs. */
export interface ReloadOptions extends MeshLoadOptions, MemberOptions {
  /** Which tools clients see (`--tools`, a profile); none: every tool. */
  filter?: ToolFilter | null;
  /** Check the tools of members just opened against their pins (`mesh_pins.ts`). */
  pin?: (members: readonly MeshMember[]) => Promise<void>;
}

/**
 * Prepare a reload of a mesh directory against the serving state.
 *
 * @param dir the mesh directory
 * @param current the serving state
 * @param known fingerprints of files refused before (unchanged, they are not reported again)
 * @param options loading, signature policy, namespacing, how members open
 */
export async function prepareReload(
  dir: string,
  current: MeshState,
  known: Map<string, string>,
  options: ReloadOptions,
): Promise<PreparedReload> {
  const report: MeshReloadReport = {
    added: [],
    replaced: [],
    removed: [],
    refused: [],
    toolsChanged: false,
  };
  const nothing = { next: null, retired: [], opened: [], report };
  let files: string[];
  try {
    files = await meshConfigFiles(dir);
  } catch (error) {
    // The directory is gone or unreadable: keep serving what is served.
    report.refused.push({ file: dir, agent: null, problems: problemsOf(error), kept: true });
    return nothing;
  }
  const serving = new Map(current.members.map((m) => [m.file, m]));
  const prints = new Map(
    await Promise.all(files.map(async (f) => [f, await fileFingerprint(f)] as const)),
  );
  for (const file of known.keys()) if (!prints.has(file)) known.delete(file);
  const changed = files.filter((file) => {
    const print = prints.get(file);
    if (print === serving.get(file)?.fingerprint) {
      known.delete(file); // back to the serving bytes: nothing to load
      return false;
    }
    return print !== known.get(file);
  });
  const gone = current.members.filter((m) => !prints.has(m.file));
  if (changed.length === 0 && gone.length === 0) return nothing;

  const { loaded, skipped } = await loadMeshFiles(changed, options);
  const refuse = (file: string, problems: string[], remember: boolean) => {
    const old = serving.get(file);
    report.refused.push({ file, agent: old?.name ?? null, problems, kept: old !== undefined });
    if (remember) known.set(file, prints.get(file) ?? "");
  };
  for (const { file, problems, refused } of skipped) {
    refuse(file, problems, true);
    const last = report.refused[report.refused.length - 1];
    last.agent ??= refused?.config.name ?? null;
  }
  // The set that would serve, in file order: new versions where they loaded.
  const fresh = new Map(loaded.map((entry) => [entry.file, entry]));
  const wanted = (entries: Map<string, MeshConfig>) =>
    files.flatMap((file) => {
      const config = entries.get(file)?.config ?? serving.get(file)?.agent.config;
      return config === undefined ? [] : [{ file, config }];
    });
  const collision = plan(wanted(fresh), options.namespace);
  if (collision !== null) {
    for (const entry of loaded) refuse(entry.file, collision, false);
    return nothing;
  }
  const opening = await Promise.allSettled(
    loaded.map((entry) => MeshMember.open(entry, prints.get(entry.file)!, options)),
  );
  const opened: MeshMember[] = [];
  for (const [i, result] of opening.entries()) {
    if (result.status === "fulfilled") opened.push(result.value);
    else {
      fresh.delete(loaded[i].file);
      refuse(loaded[i].file, problemsOf(result.reason, loaded[i].file), false);
    }
  }
  const configs = wanted(fresh);
  const stillClashing = plan(configs, options.namespace);
  if (stillClashing !== null) {
    await closeMembers(opened).catch(() => {});
    for (const entry of fresh.values()) refuse(entry.file, stillClashing, false);
    return nothing;
  }
  const byFile = new Map(opened.map((m) => [m.file, m]));
  const members = configs.map(({ file }) => byFile.get(file) ?? serving.get(file)!);
  await options.pin?.(opened); // before listing: a changed tool lists its pinned definition
  const next = meshState(
    members,
    planMeshRoutes(members.map((m) => routedConfig(m.entry, m.agent.gate)), options.namespace),
    options.namespace,
    options.filter ?? null,
  );
  const retired = current.members.filter((m) => !members.includes(m));
  const names = new Set(members.map((m) => m.name));
  const oldNames = new Set(current.members.map((m) => m.name));
  for (const m of opened) (oldNames.has(m.name) ? report.replaced : report.added).push(m.name);
  for (const m of retired) if (!names.has(m.name)) report.removed.push(m.name);
  report.toolsChanged = canonicalJson(next.listed) !== canonicalJson(current.listed);
  return { next, retired, opened, report };
}

/** The collision problems of a set, or null when its tool names are all distinct. */
function plan(
  configs: Parameters<typeof planMeshRoutes>[0],
  namespace: boolean,
): string[] | null {
  try {
    planMeshRoutes(configs, namespace);
    return null;
  } catch (error) {
    return problemsOf(error as ConfigError);
  }
}

/** The actions of a mesh reload's `agent_lifecycle` records. */
type MeshReloadAction = "reload" | "added" | "removed" | "refused";

/**
 * Record what a reload did: one `agent_lifecycle` record per change and per
 * refusal. A record that cannot be written is reported, never thrown: the
 * reload has happened.
 *
 * @param options the audit log and the operator's log
 * @param report what the reload did
 * @param opened the members it opened
 * @param retired the members it retired
 */
export async function recordReload(
  options: { audit: AuditLog; log(line: string): void },
  report: MeshReloadReport,
  opened: readonly MeshMember[],
  retired: readonly MeshMember[],
): Promise<void> {
  const record = (agent: string, action: MeshReloadAction, file: string, extra = {}) =>
    options.audit.append({
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
    const reason = (failed as PromiseRejectedResult).reason;
    options.log(
      `loom: a reload record could not be written: ${
        reason instanceof Error ? reason.message : String(reason)
      }`,
    );
  }
}
