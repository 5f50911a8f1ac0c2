/**
 * The configs of a mesh directory: every `*.yaml` and `*.yml` file directly
 * in it, each loaded with the same loader and checked against its signature
 * exactly as `loom run` does. A config that fails is left out and reported,
 * with its problems as `loom validate` prints them (`file:line:column`), so
 * one broken file never stops the others from serving.
 *
 * Then the tool names the configs would serve are planned together: two
 * configs offering the same name (or two configs of the same agent) refuse
 * the whole mesh, naming both files, because a client could not tell which
 * agent's gate a call would pass. With namespacing every tool is served as
 * `agent__tool`, which depends on its own config alone.
 *
 * @module
 */

import { basename, join } from "node:path";
import type { AgentConfig } from "../config/mod.ts";
import {
  ConfigError,
  type ConfigIssue,
  formatConfigIssue,
  NotFoundError,
  PolicyError,
  UsageError,
} from "../errors.ts";
import type { LoomHome } from "../store/mod.ts";
import type { AuditLog } from "../security/audit/mod.ts";
import {
  checkConfigSignature,
  enforceConfigSignature,
  type SignatureCheck,
} from "../security/signing/mod.ts";
import { loadConfig, MESH_FILE_NAMES } from "../config/mod.ts";

/** Between an agent's name and its tool's name in a namespaced tool name. */
export const NAMESPACE_SEPARATOR = "__";

/**
 * Longest tool name served: LOOM's own limit on a tool name (the MCP
 * specification allows up to 128 characters; LOOM keeps to 64 everywhere).
 */
export const MAX_TOOL_NAME_LENGTH = 64;

/** One config that loaded and passed its signature check. */
export interface MeshConfig {
  /** The file, as found in the directory. */
  file: string;
  /** The loaded config. */
  config: AgentConfig;
  /** Its signature's verdict (`valid`, or `unsigned` when allowed). */
  signature: SignatureCheck;
}

/** A config left out of the mesh, and why. */
export interface SkippedConfig {
  /** The file. */
  file: string;
  /** Its problems, one line each, as `loom validate` prints them. */
  problems: string[];
  /**
   * For a config that loaded but failed its signature check: the config and
   * the verdict (`unsigned` when signatures are required, else the failure's
   * kind), so the registry can show it as skipped.
   */
  refused?: { config: AgentConfig; signature: { verdict: string } };
}

/** How {@linkcode loadMeshConfigs} checks each config. */
export interface MeshLoadOptions {
  home: LoomHome;
  /** Where each signature check is recorded. */
  audit: AuditLog;
  /** Refuse unsigned configs (`--require-signed`, `LOOM_REQUIRE_SIGNED=1`). */
  requireSigned: boolean;
  /** Serve every tool as `agent__tool`. */
  namespace: boolean;
  /** A warning for the operator (a config's lint findings, an unsigned config). */
  onWarning(message: string): void;
}

/**
 * The tool name a client sees: the tool's own, or with namespacing
 * `agent__tool`, the agent's `-` written `_` so the name keeps to
 * `[a-z0-9_]`. Agent names hold no `_`, so the first `__` always ends the
 * agent's part and two different (agent, tool) pairs never meet.
 *
 * @param agent the config's `name`
 * @param tool the tool's name
 * @param namespace whether tools are namespaced
 */
export function servedToolName(agent: string, tool: string, namespace: boolean): string {
  return namespace ? `${agent.replaceAll("-", "_")}${NAMESPACE_SEPARATOR}${tool}` : tool;
}

/**
 * The config files of a mesh directory: `*.yaml` and `*.yml` directly in it,
 * sorted by name (signature files, subdirectories, the mesh file and hidden
 * files, such as an editor's temporary copy, are not configs).
 *
 * @throws {NotFoundError} when the directory does not exist
 * @throws {UsageError} when the path is not a directory
 */
export async function meshConfigFiles(dir: string): Promise<string[]> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(dir);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new NotFoundError(`Mesh directory "${dir}" does not exist`, { cause: error });
    }
    throw error;
  }
  if (!info.isDirectory) throw new UsageError(`Mesh path "${dir}" is not a directory`);
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if ((entry.isFile || entry.isSymlink) && isConfigName(entry.name)) names.push(entry.name);
  }
  return names.sort().map((name) => join(dir, name));
}

/**
 * Load and verify every config of a mesh directory. Loading runs in
 * parallel, and so do the signature checks of different agents (their
 * audit records then share the log's commits); the configs of one agent
 * name are checked one after the other in file order, so which of them a
 * version rule refuses does not depend on timing.
 *
 * @param dir the mesh directory
 * @param options home, audit log, signature policy, namespacing, warnings
 * @returns the configs that serve and those left out, each in file order
 * @throws {NotFoundError} / {UsageError} for a missing or wrong directory
 */
export async function loadMeshConfigs(
  dir: string,
  options: MeshLoadOptions,
): Promise<{ loaded: MeshConfig[]; skipped: SkippedConfig[] }> {
  return await loadMeshFiles(await meshConfigFiles(dir), options);
}

/**
 * Whether a file name is a mesh config's: `*.yaml` or `*.yml`, not hidden,
 * and not the mesh file (`loom-mesh.yaml`, its profiles).
 *
 * @param name a file name (no directory)
 */
export function isConfigName(name: string): boolean {
  return !name.startsWith(".") && /\.ya?ml$/i.test(name) &&
    !MESH_FILE_NAMES.includes(name.toLowerCase());
}

/**
 * {@linkcode loadMeshConfigs} for some files of a mesh directory (a reload
 * loads only those that changed).
 *
 * @param files the config files, in file order
 * @param options home, audit log, signature policy, namespacing, warnings
 * @returns the configs that serve and those left out, each in file order
 */
export async function loadMeshFiles(
  files: readonly string[],
  options: MeshLoadOptions,
): Promise<{ loaded: MeshConfig[]; skipped: SkippedConfig[] }> {
  const outcomes = await Promise.all(files.map(async (file) => {
    try {
      return await loadConfig(file, {
        onWarning: (w) => options.onWarning(formatConfigIssue(w)),
      });
    } catch (error) {
      // Any load error (a config error, an unreadable file) leaves the file out.
      return { file, problems: problemsOf(error, file) };
    }
  })) as (AgentConfig | MeshConfig | SkippedConfig)[];
  const byName = new Map<string, number[]>();
  for (const [i, file] of files.entries()) {
    const config = outcomes[i];
    if (!isConfig(config)) continue;
    const tooLong = options.namespace ? namespaceProblems(file, config) : [];
    if (tooLong.length > 0) outcomes[i] = { file, problems: tooLong };
    else byName.set(config.name, [...byName.get(config.name) ?? [], i]);
  }
  await Promise.all([...byName.values()].map(async (indices) => {
    for (const i of indices) {
      const file = files[i];
      const config = outcomes[i] as AgentConfig;
      try {
        // The signature is checked against the digest of the bytes just loaded.
        const signature = await enforceConfigSignature(
          options.home,
          options.audit,
          { name: config.name, path: file, digest: config.source.digest },
          { requireSigned: options.requireSigned, onWarning: options.onWarning },
        );
        if (signature.verdict === "unsigned") {
          options.onWarning(`config "${file}" is not signed; sign it with "loom sign config"`);
        }
        outcomes[i] = { file, config, signature };
      } catch (error) {
        const verdict = await refusedVerdict(options.home, config, file, error);
        outcomes[i] = {
          file,
          problems: problemsOf(error, file),
          refused: { config, signature: { verdict } },
        };
      }
    }
  }));
  const loaded: MeshConfig[] = [];
  const skipped: SkippedConfig[] = [];
  for (const outcome of outcomes) {
    if ("problems" in outcome) skipped.push(outcome);
    else loaded.push(outcome as MeshConfig);
  }
  return { loaded, skipped };
}

/** One served tool: the agent that owns it (by index) and its own name there. */
export interface MeshRoute {
  /** Index of the owning config in the list planned. */
  member: number;
  /** The tool's name in its own config. */
  tool: string;
}

/**
 * The served name of every tool of every config, or the refusal: two
 * configs of the same agent, or two tools served under the same name, stop
 * the mesh with both files named. Every tool of a config is routed, also
 * those a quarantined agent does not list (its gate refuses their calls).
 * A gateway config's tools are known once its upstream is listed: its
 * member passes them as `served` (before that, it has none to route).
 *
 * @param configs the configs, in file order, with a gateway's tool names
 * @param namespace whether tools are namespaced
 * @returns served name to route
 * @throws {ConfigError} naming both files of each collision
 */
export function planMeshRoutes(
  configs: readonly { file: string; config: AgentConfig; served?: readonly string[] }[],
  namespace: boolean,
): Map<string, MeshRoute> {
  const routes = new Map<string, MeshRoute>();
  const agents = new Map<string, string>();
  const issues: ConfigIssue[] = [];
  const clash = (file: string, message: string) =>
    issues.push({ file, line: 0, column: 0, path: "", message });
  for (const [member, { file, config, served }] of configs.entries()) {
    const sameAgent = agents.get(config.name);
    if (sameAgent !== undefined) {
      clash(
        file,
        `agent "${config.name}" is also defined in ${sameAgent}: agent names must be unique in a mesh`,
      );
      continue;
    }
    agents.set(config.name, file);
    for (const own of served ?? config.tools.map((tool) => tool.name)) {
      const name = servedToolName(config.name, own, namespace);
      const taken = routes.get(name);
      if (taken !== undefined) {
        const other = configs[taken.member].file;
        clash(
          file,
          `tool "${name}" is also served by ${other}: rename one of them, or serve the mesh ` +
            `with --namespace (tools become agent__tool)`,
        );
        continue;
      }
      routes.set(name, { member, tool: own });
    }
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return routes;
}

/** Namespaced names over the length limit, as problems of the file. */
function namespaceProblems(file: string, config: AgentConfig): string[] {
  return config.tools
    .map((tool) => servedToolName(config.name, tool.name, true))
    .filter((name) => name.length > MAX_TOOL_NAME_LENGTH)
    .map((name) =>
      `${file}: namespaced tool name "${name}" is ${name.length} characters, over ` +
      `${MAX_TOOL_NAME_LENGTH}: shorten the agent's name or the tool's`
    );
}

/**
 * The verdict of a refused signature: `unsigned` for an unsigned config when
 * signatures are required; else the kind of failure, read again without
 * recording anything (`refused` when even that fails).
 */
async function refusedVerdict(
  home: LoomHome,
  config: AgentConfig,
  file: string,
  error: unknown,
): Promise<string> {
  if (error instanceof PolicyError && /^Refusing unsigned config/.test(error.message)) {
    return "unsigned";
  }
  try {
    const check = await checkConfigSignature(home, {
      name: config.name,
      path: file,
      digest: config.source.digest,
    });
    return check.verdict === "valid" || check.verdict === "unsigned" ? "refused" : check.verdict;
  } catch {
    return "refused";
  }
}

function isConfig(value: unknown): value is AgentConfig {
  return typeof value === "object" && value !== null && !(value instanceof Error) &&
    "tools" in value;
}

/**
 * An error's problems, one line each (a config error's issues positioned,
 * `file:line:column` as `loom validate` prints them).
 *
 * @param error what was thrown
 * @param file the file it is about, named when the message does not
 */
export function problemsOf(error: unknown, file?: string): string[] {
  if (error instanceof ConfigError) return error.issues.map(formatConfigIssue);
  const message = error instanceof Error ? error.message : String(error);
  return [file === undefined || message.includes(basename(file)) ? message : `${file}: ${message}`];
}

/**
 * A member's config as routes are planned for it: a gateway's with the
 * names its gate serves (known only once its upstream was listed).
 *
 * @param member the opened member's config entry and gate
 */
export function routedConfig<T extends { config: AgentConfig }>(
  entry: T,
  gate: { listTools(): readonly { name: string }[] },
): T & { served?: readonly string[] } {
  if (entry.config.mcpUpstream === null) return entry;
  return { ...entry, served: gate.listTools().map((tool) => tool.name) };
}
