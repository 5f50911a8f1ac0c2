/**
 * The discovery search on its own: ranking by words (name above agent above
 * title above description, whole words above shared prefixes, singular and
 * plural alike), stop words and empty matches, and the result's shape.
 */

import assert from "node:assert/strict";
import type { McpTool } from "../mcp/mod.ts";
import {
  type CatalogEntry,
  DISCOVERY_TOOLS,
  searchIndex,
  searchResult,
  searchTools,
} from "./mesh_discovery.ts";

function entry(agent: string, name: string, description: string, title?: string): CatalogEntry {
  const tool: McpTool = {
    name,
    description,
    inputSchema: { type: "object", properties: {}, additionalProperties: false },
    ...(title === undefined ? {} : { title }),
  };
  return { agent, tool };
}

const CATALOG = searchIndex([
  entry("github", "list_issues", "List the issues of a repository"),
  entry("github", "create_issue", "Open a new issue in a repository", "Create issue"),
  entry("github", "list_pulls", "List pull requests; each may close an issue"),
  entry("prometheus", "query", "Run an instant PromQL query"),
  entry("prometheus", "get_alerts", "Alerts firing now"),
  entry("notes", "search_notes", "Search the user's notes by text"),
]);

function names(query: string, limit = 10): string[] {
  return searchTools(CATALOG, query, limit).found.map((f) => f.entry.tool.name);
}

Deno.test("searchTools() ranks a name match above a description match, and plural finds singular", () => {
  const ranked = names("issues");
  assert.deepEqual(ranked.slice(0, 2).sort(), ["create_issue", "list_issues"]);
  // list_pulls only mentions an issue in its description: after both.
  assert.equal(ranked[2], "list_pulls");
  assert.deepEqual(names("open github issue")[0], "create_issue");
});

Deno.test("searchTools() scores the agent's name, and a query written as a tool name", () => {
  assert.deepEqual(names("prometheus").sort(), ["get_alerts", "query"]);
  assert.equal(names("get_alerts")[0], "get_alerts");
  assert.equal(names("firing alerts")[0], "get_alerts");
});

Deno.test("searchTools() finds nothing for stop words or unknown words, and honours the limit", () => {
  assert.deepEqual(names("the tools of my"), []);
  assert.deepEqual(names("kubernetes"), []);
  assert.equal(names("list", 1).length, 1);
  assert.equal(searchTools(CATALOG, "list", 1).matched, 2);
});

Deno.test("searchResult() returns schemas as structured content and the same as JSON text", () => {
  const { found, matched } = searchTools(CATALOG, "create issue", 5);
  const result = searchResult(found, matched, 6);
  const structured = result.structuredContent as { tools: { name: string }[]; total: number };
  assert.equal(structured.tools[0].name, "create_issue");
  assert.equal(structured.total, 6);
  assert.deepEqual(JSON.parse(result.content[0].text), structured);
  const empty = searchResult([], 0, 6);
  assert.match(empty.content[0].text, /No tool matches; 6 tool\(s\) are served/);
});

Deno.test("DISCOVERY_TOOLS use the reserved loom_ prefix and closed input schemas", () => {
  for (const tool of DISCOVERY_TOOLS) {
    assert.match(tool.name, /^loom_/);
    assert.equal(tool.inputSchema.additionalProperties, false);
  }
});
