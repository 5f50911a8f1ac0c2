/**
 * Generated configs in quarantine: an agent whose config says `provenance:
 * ai-generated` serves no tool until a person other than its submitter
 * approved the config's exact bytes (`loom quarantine approve`, kept in the
 * state database by `src/store/config_approvals.ts`).
 *
 * The gate decides once, when it is built, from the config and the approval
 * its builder found (`src/app/served_agent.ts` reads it): without an
 * approval of this agent's name and this digest, `tools/list` is empty (both
 * protocol eras list through the same gate) and a call of one of its tools
 * is a tool error saying it is quarantined and which command approves it,
 * recorded like any refusal (`trust_violation`, action `quarantined`);
 * nothing reaches the upstream. A gate built without an approval fails
 * closed, so a builder that forgets to look one up serves nothing.
 *
 * @module
 */

import { basename } from "node:path";
import type { AgentConfig } from "../../config/mod.ts";
import type { CallToolResult } from "../../mcp/mod.ts";
import type { GateCall, GateParts } from "./call.ts";
import { deny } from "./refuse.ts";

/** An approval of a config's bytes, as the gate's builder found it. */
export interface ConfigApprovalState {
  /** The agent it was given for. */
  agent: string;
  /** Hex SHA-256 of the approved bytes. */
  configDigest: string;
  /** Who approved (`cli:<user>`). */
  approvedBy: string;
}

/**
 * Whether an agent's tools are quarantined: its config is `ai-generated` and
 * no approval of its name and exact digest was found.
 *
 * @param config the loaded config
 * @param approval the approval its builder found, if any
 * @returns true when nothing may be served
 */
export function isQuarantined(
  config: Pick<AgentConfig, "name" | "provenance" | "source">,
  approval: ConfigApprovalState | null | undefined,
): boolean {
  if (config.provenance.source !== "ai-generated") return false;
  return !(approval?.agent === config.name && approval.configDigest === config.source.digest);
}

/**
 * The command that approves a config, for messages: `loom quarantine approve
 * FILE`, with the config's file name only (a client is not told where the
 * operator keeps it).
 */
export function approveCommand(config: Pick<AgentConfig, "source">): string {
  return `loom quarantine approve ${basename(config.source.path)}`;
}

/**
 * Refuse a call of a quarantined agent's tool, recorded as a `trust_violation`
 * with action `quarantined` (within the refusal budget).
 *
 * @returns the tool error
 */
export function refuseQuarantined(parts: GateParts, call: GateCall): Promise<CallToolResult> {
  const config = parts.config;
  return deny(parts, call, "quarantined", {
    action: "quarantined",
    detail: `Tool "${call.tool}" is quarantined: agent "${config.name}" is ai-generated and its ` +
      `config is not approved; a person other than its submitter approves it with ` +
      `"${approveCommand(config)}", then restarts the agent`,
    config_digest: `sha256:${config.source.digest}`,
  });
}
