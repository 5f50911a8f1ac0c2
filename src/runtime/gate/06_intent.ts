/**
 * Step 6, intent: the record that a call is about to run, written before
 * anything leaves LOOM.
 *
 * From tier 2 the intent is synced before the call runs, so no such call
 * runs while the log cannot be written (it is refused instead). At tier 1
 * the intent is deferred: it takes its place in the chain now but is written
 * with the outcome, so a read costs one `fdatasync`, not two in a row. For
 * tier 1, `runtime.audit_failure` decides what happens once the log is known
 * to fail (a write failed and none succeeded since): `refuse` (the default)
 * makes the intent durable first and refuses the call if it cannot be,
 * `allow` lets the call run (and step 10 counts it).
 *
 * A call that goes on with injection findings (`injection: audit`) gets one
 * `trust_violation` record beside its intent: at most 8 findings and their
 * total.
 *
 * Both records name the OAuth caller's subject when there is one (bounded,
 * `recordedSubject()` in `call.ts`).
 *
 * @module
 */

import { createHash } from "node:crypto";
import { canonicalJson } from "../../_util/canonical_json.ts";
import type { RecordedFinding } from "../../security/audit/mod.ts";
import type { InjectionFinding } from "../../security/validate/mod.ts";
import type { CallToolResult } from "../../mcp/mod.ts";
import { type GateCall, type GateParts, toolError } from "./call.ts";
import type { ToolEntry } from "./01_resolve.ts";

/** Strings (and objects, as JSON) longer than this are shortened in `args`. */
const ARG_TEXT_LIMIT = 256;
/** Injection findings recorded per call; the record also says how many there were. */
const MAX_RECORDED_FINDINGS = 8;

/**
 * Queue the call's intent (and its injection findings, if any) and set
 * `call.intent`.
 *
 * @returns null when the call may go on at once; a promise of null when it
 *   may go on once the intent is durable, or of the refusal if it cannot be
 */
export function recordIntent(
  parts: GateParts,
  call: GateCall,
  entry: ToolEntry,
  input: Record<string, unknown>,
  findings: readonly InjectionFinding[],
): Promise<CallToolResult | null> | null {
  const { audit, config } = parts;
  const runtime = config.runtime;
  if (findings.length > 0) {
    audit.append({
      event: "trust_violation",
      agent: config.name,
      tool: call.tool,
      call: call.id,
      action: "injection_attempt",
      severity: "high",
      decision: "audit",
      findings: recordedFindings(findings),
      findings_total: findings.length,
      client: call.client,
      ...call.subjectField(),
    }, { defer: true }).catch(() => {});
  }
  const mustSync = runtime.trustTier >= 2 ||
    (runtime.auditFailure === "refuse" && !audit.writable);
  const summary = summarizeArgs(input);
  const written = audit.append({
    event: "tool_call",
    agent: config.name,
    tool: call.tool,
    call: call.id,
    phase: "intent",
    ...(entry.target.kind === "bridge"
      ? { method: entry.target.bridge.method }
      : entry.target.name === call.tool
      ? {}
      : { upstream_tool: entry.target.name }),
    args: summary.args,
    // Whole arguments are covered by the record's own hash; a digest is
    // needed only to match arguments the summary shortened.
    ...(summary.shortened ? { args_digest: digest(input) } : {}),
    tier: runtime.trustTier,
    client: call.client,
    ...call.subjectField(),
    ...call.parentField(),
  }, { defer: !mustSync });
  written.catch(() => {}); // observed by step 10
  call.intent = written;
  if (!mustSync) return null;
  return written.then(
    () => null,
    () => toolError("Audit log unavailable: call not executed"),
  );
}

/** A call's injection findings as recorded: the first 8 and the total. */
export function findingsFields(
  findings: readonly InjectionFinding[],
): { findings?: RecordedFinding[]; findings_total?: number } {
  if (findings.length === 0) return {};
  return { findings: recordedFindings(findings), findings_total: findings.length };
}

function recordedFindings(findings: readonly InjectionFinding[]): RecordedFinding[] {
  return findings.slice(0, MAX_RECORDED_FINDINGS).map((f) => ({
    category: f.category,
    field: f.field,
    pattern: f.pattern,
  }));
}

function digest(value: unknown): string {
  return "sha256:" + createHash("sha256").update(canonicalJson(value)).digest("hex");
}

/**
 * Arguments as recorded: long strings are cut so a record stays small.
 * `shortened` says whether anything was cut.
 */
function summarizeArgs(
  args: Record<string, unknown>,
): { args: Record<string, unknown>; shortened: boolean } {
  const out: Record<string, unknown> = {};
  let shortened = false;
  for (const [k, v] of Object.entries(args)) {
    if (typeof v === "string" && v.length > ARG_TEXT_LIMIT) {
      out[k] = v.slice(0, ARG_TEXT_LIMIT) + `…(${v.length} chars)`;
      shortened = true;
    } else if (v !== null && typeof v === "object") {
      const text = canonicalJson(v);
      if (text.length > ARG_TEXT_LIMIT) {
        out[k] = `${text.slice(0, ARG_TEXT_LIMIT)}…`;
        shortened = true;
      } else {
        out[k] = v;
      }
    } else {
      out[k] = v;
    }
  }
  return { args: out, shortened };
}
