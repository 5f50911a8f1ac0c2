/**
 * Tier 1 calls that ran without any record: under
 * `runtime.audit_failure: allow`, or under `refuse` when a call was already
 * past its intent (step 6) as the log failed. They are counted per tool, and
 * once a write succeeds again one `audit_recovery` record
 * (`unrecorded_calls`) says how many ran, per tool, and over which time
 * span. If that record cannot be written either, the counts are kept for the
 * next attempt.
 *
 * @module
 */

import type { AuditLog } from "../../security/audit/mod.ts";

interface Counts {
  calls: number;
  perTool: Map<string, number>;
  first: number;
  last: number;
}

/** The count of one agent's unrecorded calls, and its report. */
export class UnrecordedCalls {
  readonly #audit: AuditLog;
  readonly #agent: string;
  readonly #auditFailure: string;
  #counts: Counts | null = null;
  #reporting: Promise<void> | null = null;

  constructor(audit: AuditLog, agent: string, auditFailure: string) {
    this.#audit = audit;
    this.#agent = agent;
    this.#auditFailure = auditFailure;
  }

  /** Count one call of `tool` that ran unrecorded. */
  count(tool: string): void {
    const now = Date.now();
    const c = this.#counts ??= { calls: 0, perTool: new Map(), first: now, last: now };
    c.calls++;
    c.perTool.set(tool, (c.perTool.get(tool) ?? 0) + 1);
    c.last = now;
  }

  /** Record the counts, if there are any and no report is under way. */
  report(): void {
    const c = this.#counts;
    if (c === null || this.#reporting !== null) return;
    this.#counts = null;
    this.#reporting = this.#audit.append({
      event: "audit_recovery",
      agent: this.#agent,
      tool: null,
      action: "unrecorded_calls",
      calls: c.calls,
      counts: Object.fromEntries(c.perTool),
      first_at: new Date(c.first).toISOString(),
      last_at: new Date(c.last).toISOString(),
      audit_failure: this.#auditFailure,
    }).then(
      () => {},
      () => {
        const later = this.#counts;
        if (later !== null) {
          c.calls += later.calls;
          for (const [tool, n] of later.perTool) {
            c.perTool.set(tool, (c.perTool.get(tool) ?? 0) + n);
          }
          c.last = later.last;
        }
        this.#counts = c;
      },
    ).finally(() => {
      this.#reporting = null;
    });
  }

  /** Report what is counted and wait for the report under way, if any. */
  async flush(): Promise<void> {
    this.report();
    if (this.#reporting !== null) await this.#reporting;
  }
}
