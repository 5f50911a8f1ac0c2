/**
 * The mesh file: named profiles of a mesh directory (`loom-mesh.yaml` in it,
 * or the file `loom mesh --mesh-file` names). A profile says which of the
 * mesh's tools one client entry sees, so that each Claude Desktop entry can
 * serve a different subset of one directory of agents:
 *
 * ```yaml
 * profiles:
 *   ops:
 *     description: Prometheus and Grafana, read only
 *     tools: ["prometheus__*", "grafana__search_*"]
 *   everything:
 *     discovery: true       # two tools: search the mesh, call what was found
 * ```
 *
 * The file is read with the config reader (the same YAML limits), and
 * every problem is reported at its file:line:column: an unknown key (with a
 * did-you-mean hint), a bad profile name or tool pattern, a profile that
 * neither names tools nor turns discovery on.
 *
 * @module
 */

import { ConfigError, type ConfigIssue, NotFoundError } from "../errors.ts";
import { hint } from "./_checks.ts";
import { type Located, parseYaml, type PathSegment, quote, type YamlSource } from "./_yaml.ts";

/** The mesh file's name inside a mesh directory (never loaded as an agent config). */
export const MESH_FILE_NAMES: readonly string[] = ["loom-mesh.yaml", "loom-mesh.yml"];

/** Profile names: kebab- or snake-case, 1-64 characters. */
export const PROFILE_NAME: RegExp = /^[a-z0-9][a-z0-9_-]{0,63}$/;

/**
 * Tool patterns: lower-case letters, digits, `_`, `-`, and the wildcards
 * `*` (any run of characters) and `?` (one character), 1-140 characters
 * (an `agent__tool` name is at most 64 + 2 + 64).
 */
export const TOOL_PATTERN: RegExp = /^[a-z0-9_*?-]{1,140}$/;

/** At most this many patterns in one profile or on one command line. */
export const MAX_TOOL_PATTERNS = 200;

/** The largest mesh file read: 256 KiB. */
export const MAX_MESH_FILE_BYTES = 256 * 1024;

/** One named subset of a mesh's tools. */
export interface MeshProfile {
  name: string;
  description: string | null;
  /** Tool patterns; empty means every tool. */
  tools: readonly string[];
  /** Serve the two discovery tools instead of the list. */
  discovery: boolean;
}

/** A parsed mesh file. */
export interface MeshFile {
  path: string;
  profiles: ReadonlyMap<string, MeshProfile>;
}

const TOP_KEYS = ["profiles"];
const PROFILE_KEYS = ["description", "tools", "discovery"];

/**
 * Why a tool pattern is refused, or null when it is a valid pattern.
 *
 * @param pattern a pattern from a profile or `--tools`
 */
export function toolPatternProblem(pattern: string): string | null {
  if (TOOL_PATTERN.test(pattern)) return null;
  return `Invalid tool pattern ${quote(pattern.slice(0, 40))}: use lower-case letters, digits, ` +
    `"_", "-" and the wildcards "*" and "?" (at most 140 characters)`;
}

/**
 * Parse a mesh file's text.
 *
 * @param text the file's text
 * @param path its path, for messages
 * @returns the profiles
 * @throws {ConfigError} with every problem at its file:line:column
 */
export function parseMeshFile(text: string, path: string): MeshFile {
  const fail = (found: readonly Located[]): never => {
    const ordered = [...found].sort((a, b) => a.line - b.line || a.column - b.column);
    throw new ConfigError(ordered.map((l): ConfigIssue => ({ file: path, ...l })));
  };
  if (new TextEncoder().encode(text).length > MAX_MESH_FILE_BYTES) {
    fail([{ line: 0, column: 0, path: "", message: "Mesh file is larger than 256 KiB" }]);
  }
  const parsed = parseYaml(text);
  if (!parsed.ok) return fail(parsed.problems);
  const { source, data } = parsed;
  const problems: Located[] = [];
  const profiles = new Map<string, MeshProfile>();
  if (!isMapping(data)) {
    fail([source.at([], 'A mesh file must be a mapping with the top-level key "profiles"')]);
  }
  const top = data as Record<string, unknown>;
  unknownKeys(top, [], TOP_KEYS, source, problems);
  const all = top.profiles;
  if (all === undefined || all === null) {
    problems.push(source.at([], 'Missing required key "profiles"'));
  } else if (!isMapping(all)) {
    problems.push(source.at(["profiles"], "Expected a mapping of profile names to profiles"));
  } else {
    for (const [name, value] of Object.entries(all)) {
      const profile = readProfile(name, value, source, problems);
      if (profile !== null) profiles.set(name, profile);
    }
  }
  if (problems.length > 0) fail(problems);
  return { path, profiles };
}

/**
 * Read a mesh file.
 *
 * @param path the file
 * @returns the profiles
 * @throws {NotFoundError} when the file does not exist
 * @throws {ConfigError} when it is not a valid mesh file
 */
export async function loadMeshFile(path: string): Promise<MeshFile> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new NotFoundError(`Mesh file "${path}" does not exist`, { cause: error });
    }
    throw error;
  }
  return parseMeshFile(text, path);
}

function readProfile(
  name: string,
  value: unknown,
  source: YamlSource,
  problems: Located[],
): MeshProfile | null {
  const at: PathSegment[] = ["profiles", name];
  const before = problems.length;
  if (!PROFILE_NAME.test(name)) {
    problems.push(
      source.at(at, `Invalid profile name ${quote(name.slice(0, 40))}: use [a-z0-9_-], 1-64`, true),
    );
  }
  if (!isMapping(value)) {
    problems.push(source.at(at, "Expected a mapping with tools, discovery or description"));
    return null;
  }
  const profile = value as Record<string, unknown>;
  unknownKeys(profile, at, PROFILE_KEYS, source, problems);
  const { description, tools, discovery } = profile;
  if (description !== undefined && (typeof description !== "string" || description.length > 500)) {
    problems.push(source.at([...at, "description"], "Expected a string of at most 500 characters"));
  }
  if (discovery !== undefined && typeof discovery !== "boolean") {
    problems.push(source.at([...at, "discovery"], "Expected true or false"));
  }
  const patterns: string[] = [];
  if (tools !== undefined) {
    if (!Array.isArray(tools) || tools.length === 0 || tools.length > MAX_TOOL_PATTERNS) {
      problems.push(
        source.at([...at, "tools"], `Expected a list of 1 to ${MAX_TOOL_PATTERNS} tool patterns`),
      );
    } else {
      for (const [i, pattern] of tools.entries()) {
        const problem = typeof pattern === "string"
          ? toolPatternProblem(pattern)
          : "Expected a tool pattern (a string)";
        if (problem === null) patterns.push(pattern);
        else problems.push(source.at([...at, "tools", i], problem));
      }
    }
  } else if (discovery !== true) {
    problems.push(
      source.at(at, "A profile needs tools (a list of patterns), discovery: true, or both", true),
    );
  }
  if (problems.length > before) return null;
  return {
    name,
    description: typeof description === "string" ? description : null,
    tools: Object.freeze(patterns),
    discovery: discovery === true,
  };
}

function unknownKeys(
  object: Record<string, unknown>,
  at: PathSegment[],
  known: readonly string[],
  source: YamlSource,
  problems: Located[],
): void {
  for (const key of Object.keys(object)) {
    if (known.includes(key)) continue;
    problems.push(
      source.at([...at, key], `Unknown key ${quote(key.slice(0, 40))}${hint(key, known)}`, true),
    );
  }
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
