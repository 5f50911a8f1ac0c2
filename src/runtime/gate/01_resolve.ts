/**
 * Step 1, resolve: find the tool the client named. An unknown name is a
 * JSON-RPC error, not a tool error, and is recorded as a refusal.
 *
 * Everything about a tool that does not depend on the call is computed here
 * once, when the gate is built: its MCP listing (`listing.ts`), its
 * bridge's origin and secret names, the escalation rules that can hold it,
 * and the validators of its `input_schema` (a JSON Schema 2020-12 validator,
 * compiled here and never per call) and of its `output_schema`.
 *
 * @module
 */

import {
  type AgentConfig,
  type BridgeSpec,
  compileOutputSchema,
  type CompositeSpec,
  type OutputValidator,
  type ToolSpec,
} from "../../config/mod.ts";
import { compileEscalation, type EscalationPolicy } from "../../security/escalation/mod.ts";
import { requiresApproval } from "../../security/trust/mod.ts";
import { type CompiledInputSchema, compileToolInputSchema } from "../../security/validate/mod.ts";
import { bridgeSecretNames, bridgeTarget } from "../../upstream/mod.ts";
import { type McpTool, UnknownToolError } from "../../mcp/mod.ts";
import type { GateCall, GateParts } from "./call.ts";
import { refuse } from "./refuse.ts";
import { listedTool } from "./listing.ts";
import { compositeEntry } from "./composite.ts";

/**
 * Where a tool's calls go: an HTTP bridge of the config, or a tool of the
 * agent's MCP upstream (gateway mode), by the upstream's own name.
 */
export type ToolTarget =
  | { readonly kind: "bridge"; readonly bridge: BridgeSpec }
  | { readonly kind: "upstream"; readonly name: string }
  | { readonly kind: "composite"; readonly name: string; readonly composite: CompositeSpec };

/** A tool as the gate holds it. */
export interface ToolEntry {
  readonly tool: ToolSpec;
  readonly target: ToolTarget;
  /** As `tools/list` shows it. */
  readonly listed: McpTool;
  /**
   * The only origin the bridge may reach, and the only one its secrets are
   * released for; for an upstream tool, the upstream's identity.
   */
  readonly origin: string;
  /** The secrets the bridge's templates name (none per call for an upstream tool). */
  readonly secretNames: readonly string[];
  /** The escalation rules that can hold this tool's calls; null when nothing can. */
  readonly escalation: EscalationPolicy | null;
  /** The tool's compiled `input_schema`; null when it declares `parameters`. */
  readonly input: CompiledInputSchema | null;
  /** Checks a result against the tool's `output_schema`; null when it declares none. */
  readonly output: OutputValidator | null;
}

/**
 * One tool of an MCP upstream as the agent serves it: its spec (the name it
 * is listed under, its access, its input schema as the gate checks it), its
 * listing, and the upstream's own name. Made by the agent when it lists the
 * upstream (`src/app/upstream_tools.ts`).
 */
export interface UpstreamToolSpec {
  readonly tool: ToolSpec;
  readonly listed: McpTool;
  readonly upstreamName: string;
}

/**
 * Index an agent's tools by name.
 *
 * @param config the agent's config
 * @param upstream the tools of its MCP upstream, with the upstream's identity (gateway mode)
 * @throws {TypeError} when a tool has no bridge (the loader prevents it)
 */
export function indexTools(
  config: AgentConfig,
  upstream?: { readonly origin: string; readonly tools: readonly UpstreamToolSpec[] },
): Map<string, ToolEntry> {
  const escalation = compileEscalation(config.escalationRules);
  const held = (tool: ToolSpec) => {
    const rules = escalation.forTool(tool.name, tool.access);
    return rules.rules.length > 0 || requiresApproval(config.runtime.trustTier, tool.access)
      ? rules
      : null;
  };
  const entries = new Map<string, ToolEntry>();
  for (const tool of config.tools) {
    if (tool.composite !== undefined) {
      entries.set(tool.name, compositeEntry(tool, tool.composite, held(tool)));
      continue;
    }
    const bridge = config.bridges.find((b) => b.toolName === tool.name);
    if (!bridge) throw new TypeError(`Tool "${tool.name}" has no bridge`);
    entries.set(tool.name, {
      tool,
      target: { kind: "bridge", bridge },
      origin: bridgeTarget(bridge).origin,
      secretNames: bridgeSecretNames(bridge),
      escalation: held(tool),
      listed: listedTool(tool, bridge),
      input: compileToolInputSchema(tool),
      output: tool.outputSchema === undefined ? null : compileOutputSchema(tool.outputSchema),
    });
  }
  for (const { tool, listed, upstreamName } of upstream?.tools ?? []) {
    entries.set(tool.name, {
      tool,
      target: { kind: "upstream", name: upstreamName },
      origin: upstream!.origin,
      secretNames: [],
      escalation: held(tool),
      listed,
      input: compileToolInputSchema(tool),
      output: null,
    });
  }
  return entries;
}

/**
 * Record the refusal of a name the agent does not have, then throw.
 *
 * @throws {UnknownToolError} always (the engine answers -32602)
 */
export async function refuseUnknownTool(parts: GateParts, call: GateCall): Promise<never> {
  await refuse(parts, call.ctx, null, "unknown_tool", (session) => ({
    event: "tool_call",
    agent: parts.config.name,
    tool: null,
    call: call.id,
    phase: "outcome",
    status: "invalid",
    error: "unknown tool",
    client: call.client,
    session,
    ...call.parentField(),
  }));
  throw new UnknownToolError(call.tool);
}
