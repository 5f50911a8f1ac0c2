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

/** A tool as the gate holds it. */
export interface ToolEntry {
  readonly tool: ToolSpec;
  readonly bridge: BridgeSpec;
  /** As `tools/list` shows it. */
  readonly listed: McpTool;
  /** The only origin the bridge may reach, and the only one its secrets are released for. */
  readonly origin: string;
  /** The secrets the bridge's templates name. */
  readonly secretNames: readonly string[];
  /** The escalation rules that can hold this tool's calls; null when nothing can. */
  readonly escalation: EscalationPolicy | null;
  /** The tool's compiled `input_schema`; null when it declares `parameters`. */
  readonly input: CompiledInputSchema | null;
  /** Checks a result against the tool's `output_schema`; null when it declares none. */
  readonly output: OutputValidator | null;
}

/**
 * Index an agent's tools by name.
 *
 * @throws {TypeError} when a tool has no bridge (the loader prevents it)
 */
export function indexTools(config: AgentConfig): Map<string, ToolEntry> {
  const escalation = compileEscalation(config.escalationRules);
  const entries = new Map<string, ToolEntry>();
  for (const tool of config.tools) {
    const bridge = config.bridges.find((b) => b.toolName === tool.name);
    if (!bridge) throw new TypeError(`Tool "${tool.name}" has no bridge`);
    const rules = escalation.forTool(tool.name, tool.access);
    entries.set(tool.name, {
      tool,
      bridge,
      origin: bridgeTarget(bridge).origin,
      secretNames: bridgeSecretNames(bridge),
      escalation: rules.rules.length > 0 || requiresApproval(config.runtime.trustTier, tool.access)
        ? rules
        : null,
      listed: listedTool(tool, bridge),
      input: compileToolInputSchema(tool),
      output: tool.outputSchema === undefined ? null : compileOutputSchema(tool.outputSchema),
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
  }));
  throw new UnknownToolError(call.tool);
}
