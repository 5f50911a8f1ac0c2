/**
 * Discovery mode of a mesh (`loom mesh --discovery`): instead of every
 * tool, a client sees two, and a mesh of fifty agents costs it two tool
 * definitions of context instead of hundreds.
 *
 * - `loom_search_tools` ranks the mesh's (exposed) tools by the words of a
 *   query against their names, agent, title and description, and returns
 *   the best ones with their input schemas;
 * - `loom_call_tool` calls one of them by name. The mesh routes that inner
 *   call exactly like a direct call: the owning agent's gate validates,
 *   screens, rate-limits, holds, audits and redacts it, and a tool the
 *   filter hides is as unknown here as it is directly.
 *
 * Both names start with `loom_`, which agent configs may not use, so they
 * can never collide with an agent's tool.
 *
 * @module
 */

import { type CallToolResult, type McpTool, UnknownToolError } from "../mcp/mod.ts";

/** The search tool's name. */
export const SEARCH_TOOL = "loom_search_tools";
/** The call tool's name. */
export const CALL_TOOL = "loom_call_tool";

/** Results a search returns by default, and at most. */
export const SEARCH_DEFAULT_LIMIT = 10;
export const SEARCH_MAX_LIMIT = 50;
/** The longest query read, in characters. */
export const MAX_QUERY_LENGTH = 500;

/** One tool a search can find. */
export interface CatalogEntry {
  /** The owning agent. */
  agent: string;
  /** The tool as listed (its served name). */
  tool: McpTool;
}

/** The two tools of discovery mode, as listed. */
export const DISCOVERY_TOOLS: readonly McpTool[] = Object.freeze([
  {
    name: SEARCH_TOOL,
    title: "Search LOOM tools",
    description: "Search the tools this LOOM mesh serves, by words of their name, agent, title " +
      "and description. Returns the best matches with their input schemas; call one with " +
      `${CALL_TOOL}.`,
    inputSchema: {
      type: "object",
      properties: {
        query: {
          type: "string",
          minLength: 1,
          maxLength: MAX_QUERY_LENGTH,
          description: 'Words describing the tool you need, such as "open github issues"',
        },
        limit: {
          type: "integer",
          minimum: 1,
          maximum: SEARCH_MAX_LIMIT,
          description: `How many tools to return (default ${SEARCH_DEFAULT_LIMIT})`,
        },
      },
      required: ["query"],
      additionalProperties: false,
    },
    annotations: { readOnlyHint: true, openWorldHint: false },
  },
  {
    name: CALL_TOOL,
    title: "Call a LOOM tool",
    description: `Call a tool found with ${SEARCH_TOOL}, by its name, with arguments that ` +
      "follow its input schema. The call runs through that tool's own checks and approvals.",
    inputSchema: {
      type: "object",
      properties: {
        name: { type: "string", minLength: 1, maxLength: 140, description: "The tool's name" },
        arguments: { type: "object", description: "The tool's arguments" },
      },
      required: ["name"],
      additionalProperties: false,
    },
    annotations: { readOnlyHint: false, destructiveHint: true, openWorldHint: true },
  },
]);

/** Arguments of a search, checked. */
export interface SearchArgs {
  query: string;
  limit: number;
}

/** Arguments of a call, checked. */
export interface CallArgs {
  name: string;
  arguments: Record<string, unknown>;
}

/**
 * Check the search tool's arguments.
 *
 * @returns the arguments, or the message naming the field that is wrong
 */
export function searchArgs(args: unknown): SearchArgs | string {
  const object = plainObject(args);
  if (object === null) return "arguments must be an object";
  const extra = Object.keys(object).find((k) => k !== "query" && k !== "limit");
  if (extra !== undefined) return `unknown argument ${fieldName(extra)}`;
  const { query, limit } = object;
  if (typeof query !== "string" || query.trim() === "" || query.length > MAX_QUERY_LENGTH) {
    return `"query" must be a non-empty string of at most ${MAX_QUERY_LENGTH} characters`;
  }
  if (
    limit !== undefined &&
    (typeof limit !== "number" || !Number.isInteger(limit) || limit < 1 ||
      limit > SEARCH_MAX_LIMIT)
  ) {
    return `"limit" must be an integer from 1 to ${SEARCH_MAX_LIMIT}`;
  }
  return { query, limit: (limit as number | undefined) ?? SEARCH_DEFAULT_LIMIT };
}

/**
 * Check the call tool's arguments.
 *
 * @returns the arguments, or the message naming the field that is wrong
 */
export function callArgs(args: unknown): CallArgs | string {
  const object = plainObject(args);
  if (object === null) return "arguments must be an object";
  const extra = Object.keys(object).find((k) => k !== "name" && k !== "arguments");
  if (extra !== undefined) return `unknown argument ${fieldName(extra)}`;
  const { name, arguments: inner } = object;
  if (typeof name !== "string" || name === "" || name.length > 140) {
    return `"name" must be a tool name (a string of 1 to 140 characters)`;
  }
  if (inner !== undefined && plainObject(inner) === null) return `"arguments" must be an object`;
  return { name, arguments: (inner as Record<string, unknown> | undefined) ?? {} };
}

/** A tool-level error naming what was wrong with the arguments. */
export function argumentError(tool: string, message: string): CallToolResult {
  return {
    isError: true,
    content: [{ type: "text", text: `Invalid arguments for ${tool}: ${message}` }],
  };
}

/** Whether a name is one of the two discovery tools. */
export function isDiscoveryTool(name: string): boolean {
  return name === SEARCH_TOOL || name === CALL_TOOL;
}

/**
 * Answer a call of a discovery tool: a search over the index, or the call
 * of a found tool through `route` (the mesh's routing of a direct call). A
 * name no agent serves to this client answers a tool error pointing to the
 * search; failures of the call itself are the routed call's.
 *
 * @param name {@linkcode SEARCH_TOOL} or {@linkcode CALL_TOOL}
 * @param args the client's arguments
 * @param index the exposed tools
 * @param route routes a call by served name, as a direct call
 */
export async function answerDiscovery(
  name: string,
  args: unknown,
  index: SearchIndex,
  route: (name: string, args: Record<string, unknown>) => Promise<CallToolResult>,
): Promise<CallToolResult> {
  if (name === SEARCH_TOOL) {
    const parsed = searchArgs(args);
    if (typeof parsed === "string") return argumentError(SEARCH_TOOL, parsed);
    const { found, matched } = searchTools(index, parsed.query, parsed.limit);
    return searchResult(found, matched, index.entries.length);
  }
  const parsed = callArgs(args);
  if (typeof parsed === "string") return argumentError(CALL_TOOL, parsed);
  try {
    return await route(parsed.name, parsed.arguments);
  } catch (error) {
    if (!(error instanceof UnknownToolError)) throw error;
    const shown = /^[a-z0-9_-]{1,140}$/.test(parsed.name) ? `"${parsed.name}"` : "of that name";
    return argumentError(
      CALL_TOOL,
      `no tool ${shown} is served here; find one with ${SEARCH_TOOL}`,
    );
  }
}

/** Words shorter than this or in this list say nothing about a tool. */
const STOP_WORDS: ReadonlySet<string> = new Set([
  "a",
  "an",
  "and",
  "any",
  "for",
  "from",
  "i",
  "in",
  "into",
  "is",
  "it",
  "me",
  "my",
  "of",
  "on",
  "or",
  "the",
  "to",
  "tool",
  "tools",
  "with",
]);

/** The searchable words of each entry, computed once per mesh state. */
export interface SearchIndex {
  entries: readonly CatalogEntry[];
  words: readonly IndexedWords[];
}

interface IndexedWords {
  name: ReadonlySet<string>;
  agent: ReadonlySet<string>;
  title: ReadonlySet<string>;
  description: ReadonlySet<string>;
}

/**
 * Index a catalog for searching.
 *
 * @param entries the tools a search may find, in listing order
 */
export function searchIndex(entries: readonly CatalogEntry[]): SearchIndex {
  return {
    entries,
    words: entries.map(({ agent, tool }) => ({
      name: new Set(words(tool.name)),
      agent: new Set(words(agent)),
      title: new Set(words(tool.title ?? "")),
      description: new Set(words(tool.description)),
    })),
  };
}

/** What a field scores for a query word: exact word, then a shared stem or prefix. */
const WEIGHTS = {
  name: [6, 4],
  agent: [4, 3],
  title: [3, 2],
  description: [1.5, 1],
} as const;

/**
 * Rank the catalog for a query: each query word scores its best field
 * (name, agent, title, then description; a whole word above a prefix),
 * the total is scaled by the share of query words found, and the query
 * written as a tool name scores extra. Ties keep listing order.
 *
 * @param index the catalog's index
 * @param query the client's words
 * @param limit how many to return
 * @returns the best entries with their scores, best first, and how many matched at all
 */
export function searchTools(
  index: SearchIndex,
  query: string,
  limit: number,
): { found: { entry: CatalogEntry; score: number }[]; matched: number } {
  const terms = [...new Set(words(query))].slice(0, 32);
  const joined = query.trim().toLowerCase().replace(/[^a-z0-9]+/g, "_");
  const scored: { entry: CatalogEntry; score: number; order: number }[] = [];
  for (const [order, fields] of index.words.entries()) {
    let score = 0;
    let found = 0;
    for (const term of terms) {
      let best = 0;
      for (const field of ["name", "agent", "title", "description"] as const) {
        const [whole, partial] = WEIGHTS[field];
        if (fields[field].has(term)) best = Math.max(best, whole);
        else if (best < partial && someShares(fields[field], term)) best = partial;
      }
      if (best > 0) found++;
      score += best;
    }
    if (terms.length > 0) score *= found / terms.length;
    const name = index.entries[order].tool.name;
    if (joined.length >= 3 && name.includes(joined)) score += 5;
    if (score > 0) scored.push({ entry: index.entries[order], score, order });
  }
  scored.sort((a, b) => b.score - a.score || a.order - b.order);
  return {
    found: scored.slice(0, limit).map(({ entry, score }) => ({
      entry,
      score: Math.round(score * 100) / 100,
    })),
    matched: scored.length,
  };
}

/** The search tool's answer: the found tools as structured content and as JSON text. */
export function searchResult(
  found: { entry: CatalogEntry; score: number }[],
  matched: number,
  total: number,
): CallToolResult {
  const tools = found.map(({ entry: { agent, tool }, score }) => ({
    name: tool.name,
    ...(tool.title === undefined ? {} : { title: tool.title }),
    description: tool.description,
    agent,
    inputSchema: tool.inputSchema,
    ...(tool.annotations === undefined ? {} : { annotations: tool.annotations }),
    score,
  }));
  const structured = { tools, matched, total };
  const text = tools.length === 0
    ? `No tool matches; ${total} tool(s) are served. Try other words.`
    : JSON.stringify(structured);
  return { content: [{ type: "text", text }], structuredContent: structured };
}

/** Lower-case words of a text (NFKC folded), singular-ish, stop words out. */
function words(text: string): string[] {
  return text.normalize("NFKC").toLowerCase().split(/[^a-z0-9]+/)
    .filter((w) => w.length > 1 && !STOP_WORDS.has(w)).map(stem);
}

/** A crude English singular: enough that "issues" finds `list_issue` and back. */
function stem(word: string): string {
  if (word.length > 4 && word.endsWith("ies")) return `${word.slice(0, -3)}y`;
  if (word.length > 4 && /(?:ss|x|ch|sh)es$/.test(word)) return word.slice(0, -2);
  if (word.length > 3 && word.endsWith("s") && !word.endsWith("ss")) return word.slice(0, -1);
  return word;
}

/** Whether a word of the set starts with the term, or the term with it (3+ characters). */
function someShares(set: ReadonlySet<string>, term: string): boolean {
  if (term.length < 3) return false;
  for (const word of set) {
    if (word.length >= 3 && (word.startsWith(term) || term.startsWith(word))) return true;
  }
  return false;
}

function plainObject(value: unknown): Record<string, unknown> | null {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? value as Record<string, unknown>
    : null;
}

/** A field name for a message: as written when it is a plain name, else not repeated. */
function fieldName(name: string): string {
  return /^[A-Za-z0-9_-]{1,64}$/.test(name) ? `"${name}"` : "(a name that is not an identifier)";
}
