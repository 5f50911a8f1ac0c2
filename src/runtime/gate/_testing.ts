/**
 * A gate for tests whose bridge sends a granted secret: a temporary LOOM
 * home with an audit log and a credential broker holding `api-key`, granted
 * to the config's agent, and the gate run in process (`sandbox: none`) or
 * through the sandboxed agent host (`sandbox: deno`). Private to the gate's
 * tests.
 *
 * @module
 */

import { type AgentConfig, parseConfig } from "../../config/mod.ts";
import { AuditLog } from "../../security/audit/mod.ts";
import { CredentialBroker } from "../../security/secrets/mod.ts";
import { resolveHome } from "../../store/mod.ts";
import { AgentHost } from "../sandbox/mod.ts";
import { AgentGate } from "./gate.ts";
import { tempDir } from "../../../tests/_helpers.ts";

/** Where a gate runs its bridges. */
export type SandboxMode = "none" | "deno";

/** A gate with a granted secret, and what to close. */
export interface SecretGate extends AsyncDisposable {
  gate: AgentGate;
  config: AgentConfig;
  /** The audit log's file. */
  auditFile: string;
}

/**
 * Build a gate from `yaml` whose bridges may name `{{secret:api-key}}`,
 * holding `secret` under that key, granted to the agent.
 *
 * @param yaml the config text (its `runtime.sandbox` decides the executor)
 * @param path the config's name in messages
 * @param secret the value stored under `api-key`
 * @returns the gate; dispose it to close gate, broker, audit log and home
 */
export async function secretGate(yaml: string, path: string, secret: string): Promise<SecretGate> {
  const root = await tempDir("loom-gate-");
  const config = parseConfig(yaml, { path });
  const home = resolveHome(new Map([["LOOM_HOME", root.path]]));
  const audit = await AuditLog.open(home.audit);
  const broker = await CredentialBroker.open({ home, env: new Map(), audit });
  await broker.set("api-key", secret);
  await broker.grant(config.name, "api-key", config.source.digest);
  const executor = config.runtime.sandbox === "deno" ? new AgentHost(config) : undefined;
  const gate = new AgentGate(config, { audit, secrets: broker, executor });
  return {
    gate,
    config,
    auditFile: `${home.audit}/audit.jsonl`,
    [Symbol.asyncDispose]: async () => {
      await gate.close();
      await broker.close();
      await audit.close();
      await root[Symbol.asyncDispose]();
    },
  };
}

/**
 * A config with a write tool (`create_item`, POST) and a read tool
 * (`lookup`), both bridged to `url`.
 *
 * @param url the upstream's base URL
 * @param options the agent's name, trust tier, escalation rules (YAML flow),
 *   sandbox, and lines appended under `runtime:`
 * @returns the config text
 */
export function writeReadConfig(
  url: string,
  options: { name: string; tier: number; rules?: string; sandbox?: SandboxMode; extra?: string },
): string {
  const { name, tier, rules = "[]", sandbox = "deno", extra = "" } = options;
  return `agent:
  name: ${name}
  exposes:
    - name: create_item
      description: Create an item
      access: write
      parameters:
        title: { type: string, max_length: 100 }
        amount: { type: integer, required: false }
    - name: lookup
      description: Look something up
      access: read
      parameters:
        q: { type: string, max_length: 100 }
  http_bridge:
    - tool_name: create_item
      method: POST
      url: "${url}/items"
      body_template: { title: "{{title}}", amount: "{{amount}}" }
    - tool_name: lookup
      url: "${url}/lookup"
      query_params: { q: q }
  escalation_rules: ${rules}
  runtime:
    trust_tier: ${tier}
    sandbox: ${sandbox}
${extra}`;
}
