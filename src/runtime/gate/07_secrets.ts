/**
 * Step 7, secrets: only the names the bridge's templates use, only for the
 * bridge's own origin, only under a grant pinned to this config's digest.
 * Fail closed: without a broker, or when it fails, the call is refused. A
 * refusal tells the client which problem it is (not set, not granted,
 * granted to an older config) and the command that fixes it; it never
 * names a value.
 *
 * @module
 */

import type { ResolveRequest } from "../../security/secrets/mod.ts";
import type { CallToolResult } from "../../mcp/mod.ts";
import { type GateCall, type GateParts, toolError } from "./call.ts";
import type { ToolEntry } from "./01_resolve.ts";
import { recordOutcome } from "./10_outcome.ts";

/** What the gate asks of the credential broker. */
export interface SecretSource {
  /**
   * Resolve the secrets a bridge names, for that bridge's own origin only.
   * Audits every resolution; refuses unless the agent's grant is pinned to
   * this config's digest. A refusal's `message` (which problem, and the
   * command that fixes it, naming `configPath`; never a value) becomes the
   * tool error, and its `reason` code goes into the outcome record.
   */
  resolve(request: ResolveRequest): Promise<
    | { ok: true; values: Map<string, string>; redactor: Redaction }
    | { ok: false; name: string; reason: string; message?: string }
  >;
}

/** Removes resolved secret values from text and JSON (step 9). */
export interface Redaction {
  redact(text: string): string;
  redactJson(value: unknown): unknown;
}

/** The secrets released for one call, and the redaction that removes them again. */
export interface Released {
  readonly values: ReadonlyMap<string, string>;
  /** Null when nothing was released. */
  readonly redaction: Redaction | null;
}

/** Whether a step 7 answer is the released secrets (else it is the refusal). */
export function isReleased(answer: Released | CallToolResult): answer is Released {
  return "values" in answer;
}

const NOTHING: Released = Object.freeze({ values: new Map<string, string>(), redaction: null });

/**
 * Release the call's secrets.
 *
 * @returns the secrets (at once when the bridge names none), or the
 *   recorded `denied` answer
 */
export function releaseSecrets(
  parts: GateParts,
  call: GateCall,
  entry: ToolEntry,
): Released | Promise<Released | CallToolResult> {
  // A gateway's secrets were released when its upstream started (environment, headers).
  if (entry.target.kind === "upstream") return parts.upstream?.released() ?? NOTHING;
  if (entry.secretNames.length === 0) return NOTHING;
  return resolveSecrets(parts, call, entry);
}

async function resolveSecrets(
  parts: GateParts,
  call: GateCall,
  entry: ToolEntry,
): Promise<Released | CallToolResult> {
  const names = entry.secretNames;
  const { config, secrets } = parts;
  const resolved = secrets
    ? await secrets.resolve({
      agent: config.name,
      configDigest: config.source.digest,
      names,
      origin: entry.origin,
      tool: call.tool,
      call: call.id,
      configPath: config.source.path,
    }).catch(() => unavailable(names[0], "broker_failed"))
    : unavailable(names[0], "no_broker");
  if (resolved.ok) return { values: resolved.values, redaction: resolved.redactor };
  const message = resolved.message ?? `Secret "${resolved.name}" is not available to this agent`;
  return await recordOutcome(parts, call, "denied", toolError(message), {
    error: message,
    key: resolved.name,
    reason: resolved.reason,
  });
}

/** A refusal the broker did not word (no broker, or it failed). */
function unavailable(
  name: string,
  reason: string,
): { ok: false; name: string; reason: string; message?: string } {
  return { ok: false, name, reason };
}
