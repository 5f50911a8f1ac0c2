/**
 * Test state for the Overview, Topology and Agents pages: real configs in
 * the agents directory (one with a brokered `Authorization` header), a
 * secret planted in the real vault, real audit records through `AuditLog`,
 * and a real agent registry entry.
 *
 * @module
 */

import { join } from "node:path";
import { loadConfig } from "../../config/mod.ts";
import { type AuditEvent, AuditLog } from "../../security/audit/mod.ts";
import { CredentialBroker } from "../../security/secrets/mod.ts";
import { type LoomHome, openStore, registrationOf } from "../../store/mod.ts";

/** The planted secret's value: no page may ever contain it. */
export const SECRET_VALUE = "s3cr3t-token-value-9f8e7d6c5b4a";

/** A tier-2 agent whose bridge sends `Authorization: Bearer {{secret:tok}}`. */
export const BILLING_YAML = `agent:
  name: billing
  version: "1.0.0"
  description: "Read invoices of the billing service"
  exposes:
    - name: invoice
      description: "Get one invoice by its number"
      access: read
      parameters:
        id: { type: string, max_length: 20, pattern: "[0-9]+", description: "Invoice number" }
        limit: { type: integer, required: false, minimum: 1, maximum: 50 }
  http_bridge:
    - tool_name: invoice
      method: GET
      url: "https://billing.example.com/invoices/{{id}}"
      headers: { Authorization: "Bearer {{secret:tok}}" }
  runtime:
    trust_tier: 2
`;

/** A tier-1 agent of one tool on a loopback port. */
export function readerYaml(name: string, port = 9090): string {
  return `agent:
  name: ${name}
  version: "1.0.0"
  description: "Read a local service"
  exposes:
    - name: status
      description: "Get the service's status"
      access: read
  http_bridge:
    - tool_name: status
      method: GET
      url: "http://127.0.0.1:${port}/status"
  runtime:
    trust_tier: 1
`;
}

/** A config that does not load: a missing description on line 3. */
export const BROKEN_YAML = `agent:
  name: broken
  version: 1.0.0
  exposes: nope
`;

/** Write a config file into the agents directory. */
export async function writeAgent(agentsDir: string, file: string, yaml: string): Promise<string> {
  const path = join(agentsDir, file);
  await Deno.writeTextFile(path, yaml);
  return path;
}

/** Store `SECRET_VALUE` as secret `tok` in the home's vault (key-file mode). */
export async function plantSecret(home: LoomHome): Promise<void> {
  await using audit = await AuditLog.open(home.audit);
  await using broker = await CredentialBroker.open({ home, env: new Map(), audit });
  await broker.set("tok", SECRET_VALUE);
}

/** Register a config in the agent registry, as `loom run` does. */
export async function registerAgent(
  home: LoomHome,
  path: string,
  status: "running" | "stopped" | "failed" = "stopped",
): Promise<void> {
  const config = await loadConfig(path);
  await using store = await openStore(home);
  store.registry.register(
    registrationOf(config, {
      path,
      signature: { verdict: "unsigned" },
      transport: "stdio",
      status,
    }),
    new Date(),
  );
}

/** One call outcome, as the gate records it. */
export function outcome(
  agent: string,
  tool: string,
  status: "success" | "error" | "timeout" | "denied",
  url?: string,
): AuditEvent {
  return {
    event: "tool_call",
    agent,
    tool,
    call: `0000abcd-${crypto.randomUUID().slice(0, 8)}`,
    client: "test",
    phase: "outcome",
    status,
    duration_ms: 3,
    ...(url === undefined ? {} : { http: { bytes: 10, method: "GET", status: 200, url } }),
  } as AuditEvent;
}

/** Append records to the home's audit log. */
export async function appendAll(home: LoomHome, events: AuditEvent[]): Promise<void> {
  await using log = await AuditLog.open(home.audit);
  for (const e of events) await log.append(e);
}
