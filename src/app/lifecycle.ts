/**
 * Lifecycle records of a served agent and its sandbox, written to the audit
 * log beside the calls: `agent_lifecycle` (`start` with the transport, the
 * config's digest and its tool count; `stop`) and `sandbox_lifecycle` (each
 * spawn, ready, stop, crash, kill and restart of the agent's host process).
 *
 * A sandbox event arrives from the process supervisor, which cannot wait for
 * the log: a record that cannot be written is reported on the operator's log
 * instead of being lost silently.
 *
 * @module
 */

import type { AgentConfig } from "../config/mod.ts";
import type { AuditLog } from "../security/audit/mod.ts";
import type { SandboxEvent } from "../runtime/sandbox/mod.ts";

/**
 * Record an agent's start or stop.
 *
 * @param audit the audit log
 * @param config the agent's config
 * @param action `start` or `stop`
 * @param transport how it is served
 */
export async function recordAgent(
  audit: AuditLog,
  config: AgentConfig,
  action: "start" | "stop",
  transport: string,
): Promise<void> {
  await audit.append(
    action === "start"
      ? {
        event: "agent_lifecycle",
        agent: config.name,
        tool: null,
        action,
        transport,
        config_digest: config.source.digest,
        tools: config.tools.length,
      }
      : { event: "agent_lifecycle", agent: config.name, tool: null, action, transport },
  );
}

/**
 * A sandbox event handler that records each event.
 *
 * @param audit the audit log
 * @param agent the agent's name
 * @param log where a record that could not be written is reported
 * @returns the handler for `AgentHost`'s `onEvent`
 */
export function sandboxRecorder(
  audit: AuditLog,
  agent: string,
  log: (line: string) => void,
): (event: SandboxEvent) => void {
  return (event) => {
    audit.append({
      event: "sandbox_lifecycle",
      agent,
      tool: null,
      action: event.action,
      detail: event.detail,
      pid: event.pid ?? null,
    }).catch(() => log(`loom: could not record sandbox event "${event.action}"`));
  };
}
