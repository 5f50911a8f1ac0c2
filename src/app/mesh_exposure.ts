/**
 * Which of a mesh's tools one client entry sees: `loom mesh --tools
 * PATTERN...` or a profile of the mesh file (`src/config/mesh_file.ts`).
 *
 * A pattern is a glob (`*` any run of characters, `?` one character) over
 * lower-case names. It matches a tool when it matches any of the tool's
 * three names: the served name, the bare tool name, or the namespaced name
 * `agent__tool` (with the agent's `-` written `_`, or kept), whether or not
 * the mesh namespaces. So `github__*` picks one agent's tools in any mesh,
 * and `*_issue*` picks tools by their own names.
 *
 * The filter is a boundary, not a view: a tool it hides is not listed and
 * a call to it is refused as an unknown tool, exactly like a name no agent
 * serves.
 *
 * @module
 */

import { NAMESPACE_SEPARATOR } from "./mesh_load.ts";

/** A set of compiled tool patterns. */
export class ToolFilter {
  /** The patterns, as given. */
  readonly patterns: readonly string[];
  readonly #compiled: readonly RegExp[];

  /**
   * @param patterns patterns a {@linkcode toolPatternProblem} check accepted
   *   (`src/config/mesh_file.ts`); at least one
   */
  constructor(patterns: readonly string[]) {
    if (patterns.length === 0) throw new RangeError("A tool filter needs at least one pattern");
    this.patterns = Object.freeze([...patterns]);
    this.#compiled = patterns.map(globRegExp);
  }

  /**
   * Whether a tool is exposed.
   *
   * @param agent the agent's name (kebab-case)
   * @param tool the tool's own name
   * @param served the name clients see
   */
  matches(agent: string, tool: string, served: string): boolean {
    return this.#compiled.some((re) => anyName(re, agent, tool, served));
  }

  /**
   * The patterns that match none of the given tools (a typo, or an agent
   * not in the mesh yet), for a warning.
   *
   * @param tools every tool of the mesh
   */
  unmatched(tools: readonly { agent: string; tool: string; served: string }[]): string[] {
    return this.patterns.filter((_, i) =>
      !tools.some(({ agent, tool, served }) => anyName(this.#compiled[i], agent, tool, served))
    );
  }
}

function anyName(re: RegExp, agent: string, tool: string, served: string): boolean {
  return re.test(served) || re.test(tool) ||
    re.test(`${agent.replaceAll("-", "_")}${NAMESPACE_SEPARATOR}${tool}`) ||
    re.test(`${agent}${NAMESPACE_SEPARATOR}${tool}`);
}

/**
 * The anchored expression of a glob. Patterns hold only `[a-z0-9_*?-]`, so
 * `-` is the one character to escape; runs of `*` collapse to one, and a
 * name is at most 140 characters, so matching stays cheap.
 */
function globRegExp(glob: string): RegExp {
  const body = glob.replace(/\*+/g, "*").replaceAll("-", "\\-")
    .replaceAll("*", "[a-z0-9_-]*").replaceAll("?", "[a-z0-9_-]");
  return new RegExp(`^${body}$`);
}
