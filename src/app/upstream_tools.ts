/**
 * Which of an MCP upstream's tools a gateway agent serves, and how: the
 * ones `mcp_upstream.tools` chooses (renamed with `as`), or all of them
 * (a name such as `get-sum` listed as `get_sum`); a tool the upstream does
 * not mark `readOnlyHint` counts as a write tool unless the config says
 * otherwise, and a tier 1 agent serves no write tool it did not choose.
 * Never served: a tool whose title or description reads as tool poisoning
 * (`findPoisoning()`, with the upstream's own names allowed), and one whose
 * input schema the gate could not check whole (`upstreamInputSchema()`).
 * Each one left out is said, with why, never with its text.
 *
 * @module
 */

import {
  type AgentConfig,
  findPoisoning,
  listedUpstreamName,
  ownNames,
  type ToolSpec,
  upstreamInputSchema,
  type UpstreamToolChoice,
} from "../config/mod.ts";
import type { UpstreamToolDefinition } from "../upstream/mod.ts";
import type { McpTool } from "../mcp/mod.ts";
import type { UpstreamToolSpec } from "../runtime/mod.ts";

/**
 * The tools the agent serves of those the upstream offers, each with its
 * spec and listing; every one left out is said, with why.
 */
export function chooseTools(
  config: AgentConfig,
  offered: readonly UpstreamToolDefinition[],
  log: (line: string) => void,
): UpstreamToolSpec[] {
  const spec = config.mcpUpstream!;
  const byName = new Map(offered.map((tool) => [tool.name, tool]));
  const choices: readonly UpstreamToolChoice[] = spec.tools ??
    offered.map((tool) => ({
      name: tool.name,
      as: listedUpstreamName(tool.name) ?? "",
      access: null,
    }));
  const own = ownNames([...offered.map((t) => t.name), ...choices.map((c) => c.as)]);
  const skip = (name: string, why: string) =>
    log(`loom[${config.name}]: upstream tool "${name}" is not served: ${why}`);
  const served: UpstreamToolSpec[] = [];
  const listedAs = new Set<string>();
  for (const choice of choices) {
    const tool = byName.get(choice.name);
    if (tool === undefined) {
      skip(choice.name, "the upstream does not offer it");
      continue;
    }
    const access = choice.access ??
      (tool.annotations?.readOnlyHint === true ? "read" : "write");
    if (access === "write" && config.runtime.trustTier === 1) {
      skip(choice.name, "it may change state (not readOnlyHint) and the agent is tier 1");
      continue;
    }
    if (choice.as === "") {
      skip(choice.name, 'it has no name a tool may have here: choose it and rename it with "as"');
      continue;
    }
    if (listedAs.has(choice.as)) {
      skip(choice.name, `another tool is already listed as "${choice.as}": rename one with "as"`);
      continue;
    }
    listedAs.add(choice.as);
    const poisoned = [tool.title, tool.description].map((text) =>
      text === undefined ? undefined : findPoisoning(text, own)
    ).find((found) => found !== undefined);
    if (poisoned !== undefined) {
      skip(choice.name, `its description looks like tool poisoning (${poisoned})`);
      continue;
    }
    const input = upstreamInputSchema(tool.inputSchema);
    if (!input.ok) {
      skip(choice.name, `its input schema cannot be checked by the gate (${input.problem})`);
      continue;
    }
    served.push(servedTool(choice.as, access, tool, input.schema, choice.rateLimit));
  }
  return served;
}

function servedTool(
  name: string,
  access: "read" | "write",
  tool: UpstreamToolDefinition,
  inputSchema: Record<string, unknown>,
  rateLimit: ToolSpec["rateLimit"],
): UpstreamToolSpec {
  const description = tool.description ?? "";
  const spec: ToolSpec = {
    name,
    ...(tool.title === undefined ? {} : { title: tool.title }),
    description,
    access,
    parameters: {},
    inputSchema,
    ...(rateLimit === undefined ? {} : { rateLimit }),
  };
  const listed: McpTool = {
    name,
    ...(tool.title === undefined ? {} : { title: tool.title }),
    description,
    inputSchema,
    ...(tool.outputSchema === undefined ? {} : { outputSchema: tool.outputSchema }),
    annotations: { ...tool.annotations, readOnlyHint: access === "read" },
  };
  return { tool: spec, listed, upstreamName: tool.name };
}
