/**
 * The options that choose which of a mesh's tools a client entry sees,
 * shared by `loom mesh` and `loom claude-config` (which writes them into
 * the entry): `--tools PATTERN` (repeatable, or comma-separated),
 * `--profile NAME` of the mesh file, `--mesh-file FILE` (default
 * `DIR/loom-mesh.yaml`) and `--discovery`.
 *
 * @module
 */

import { join } from "node:path";
import { UsageError } from "../errors.ts";
import {
  loadMeshFile,
  MAX_TOOL_PATTERNS,
  MESH_FILE_NAMES,
  type MeshProfile,
  toolPatternProblem,
} from "../config/mod.ts";
import { suggest } from "../_util/suggest.ts";

/** The option definitions, for `parseOptions`. */
export const EXPOSURE_OPTIONS = {
  tools: { type: "string", multiple: true },
  profile: { type: "string" },
  "mesh-file": { type: "string" },
  discovery: { type: "boolean" },
} as const;

/** The help lines of those options. */
export const EXPOSURE_HELP =
  `      --tools PATTERN         expose only the tools PATTERN matches (repeatable,
                              or comma-separated): a glob with * and ? over
                              agent__tool or the tool's own name, such as
                              "github__*" or "*_issue*"; the others are neither
                              listed nor callable
      --profile NAME          expose what profile NAME of the mesh file allows
      --mesh-file FILE        the mesh file of profiles (default
                              DIR/loom-mesh.yaml)
      --discovery             list two tools instead of every tool:
                              loom_search_tools finds tools by words and returns
                              their schemas, loom_call_tool calls one through its
                              own agent's gate`;

/** The parsed option values. */
export interface ExposureValues {
  tools?: string[];
  profile?: string;
  "mesh-file"?: string;
  discovery?: boolean;
}

/** What a client entry is given to see. */
export interface MeshExposure {
  /** Tool patterns; empty means every tool. */
  tools: string[];
  discovery: boolean;
  /** The profile used, with the mesh file it came from. */
  profile: { profile: MeshProfile; file: string } | null;
}

/**
 * Resolve the exposure options of a mesh directory.
 *
 * @param dir the mesh directory
 * @param values the parsed options
 * @throws {UsageError} for a bad pattern, an unknown profile, or options that conflict
 * @throws {NotFoundError} when `--profile` names no existing mesh file
 * @throws {ConfigError} when the mesh file is not valid (file:line:column)
 */
export async function meshExposure(dir: string, values: ExposureValues): Promise<MeshExposure> {
  const tools = (values.tools ?? []).flatMap((t) => t.split(",")).map((t) => t.trim())
    .filter((t) => t !== "");
  if (values.tools !== undefined && tools.length === 0) {
    throw new UsageError("--tools needs at least one pattern");
  }
  if (tools.length > MAX_TOOL_PATTERNS) {
    throw new UsageError(`Too many --tools patterns: at most ${MAX_TOOL_PATTERNS}`);
  }
  for (const pattern of tools) {
    const problem = toolPatternProblem(pattern);
    if (problem !== null) throw new UsageError(`--tools: ${problem}`);
  }
  if (values.profile === undefined) {
    if (values["mesh-file"] !== undefined) {
      throw new UsageError("--mesh-file is read for --profile: name the profile to use");
    }
    return { tools, discovery: values.discovery === true, profile: null };
  }
  if (tools.length > 0) {
    throw new UsageError("Give --tools or --profile, not both: a profile names its own tools");
  }
  const file = values["mesh-file"] ?? await defaultMeshFile(dir);
  const { profiles } = await loadMeshFile(file);
  const profile = profiles.get(values.profile);
  if (profile === undefined) {
    const names = [...profiles.keys()];
    throw new UsageError(
      `No profile "${values.profile.slice(0, 64)}" in "${file}"` +
        (names.length === 0
          ? ""
          : `${hintOf(values.profile, names)}; profiles: ${names.join(", ")}`),
    );
  }
  return {
    tools: [...profile.tools],
    discovery: values.discovery === true || profile.discovery,
    profile: { profile, file },
  };
}

/**
 * The options that reproduce an exposure on a `loom mesh` command line.
 *
 * @param values the parsed options (paths already absolute)
 */
export function exposureArgs(values: ExposureValues & { namespace?: boolean }): string[] {
  return [
    ...(values.namespace === true ? ["--namespace"] : []),
    ...(values["mesh-file"] === undefined ? [] : ["--mesh-file", values["mesh-file"]]),
    ...(values.profile === undefined ? [] : ["--profile", values.profile]),
    ...(values.tools ?? []).flatMap((t) => ["--tools", t]),
    ...(values.discovery === true ? ["--discovery"] : []),
  ];
}

/** `DIR/loom-mesh.yaml`, or `DIR/loom-mesh.yml` when only that one exists. */
async function defaultMeshFile(dir: string): Promise<string> {
  for (const name of MESH_FILE_NAMES) {
    try {
      await Deno.stat(join(dir, name));
      return join(dir, name);
    } catch { /* try the next */ }
  }
  return join(dir, MESH_FILE_NAMES[0]);
}

function hintOf(name: string, names: readonly string[]): string {
  const best = suggest(name, names);
  return best === undefined ? "" : `: did you mean "${best}"?`;
}
