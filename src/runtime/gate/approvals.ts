/**
 * The gate's side of approvals: where a held call's approval lives (the
 * state database of the LOOM home, opened on the first hold), its limits
 * (time-to-live, pending cap per agent), the clock, one `approval` audit
 * record per change, and the coalesced notices that tell reviewers about held
 * calls (`review_notices.ts`). Step 5 (`05_escalation.ts`) uses it; `loom approvals`
 * changes the same rows from another process.
 *
 * An approval is bound to the agent, the tool, the SHA-256 of the canonical
 * JSON of the validated arguments, and the config's digest; see
 * `src/store/approvals.ts` for its states.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { canonicalJson } from "../../_util/canonical_json.ts";
import type { AgentConfig } from "../../config/mod.ts";
import type { ApprovalChange, AuditLog } from "../../security/audit/mod.ts";
import { ReviewNotices } from "./review_notices.ts";
import { approvalRecord, RequestStateSigner } from "../../security/escalation/mod.ts";
import {
  type Approval,
  type ApprovalBinding,
  type LoomHome,
  type LoomStore,
  openStore,
} from "../../store/mod.ts";

/** How long an approval waits for a decision, and then for the call (15 minutes). */
export const DEFAULT_APPROVAL_TTL_MS = 15 * 60_000;
/** Most pending approvals per agent; more held calls are refused ("review queue full"). */
export const DEFAULT_MAX_PENDING_APPROVALS = 50;

/** Options of {@linkcode ApprovalDesk}. */
export interface ApprovalDeskOptions {
  /** The LOOM home whose state database holds the approvals. */
  home: LoomHome;
  /** Default {@linkcode DEFAULT_APPROVAL_TTL_MS}. */
  ttlMs?: number;
  /** Default {@linkcode DEFAULT_MAX_PENDING_APPROVALS}. */
  maxPending?: number;
  /** Milliseconds since the epoch (tests inject one). Default `Date.now`. */
  now?: () => number;
  /**
   * Where lines telling reviewers about held calls go (the server's stderr),
   * coalesced per window; default nowhere (the audit log still has them).
   */
  notify?: (line: string) => void;
  /** The notice window in ms (default 10 s; see `review_notices.ts`). */
  noticeWindowMs?: number;
}

/** One gate's approvals: the store (opened lazily), limits, clock and records. */
export class ApprovalDesk {
  readonly ttlMs: number;
  readonly maxPending: number;
  readonly now: () => number;
  /** Coalesced notices of held and refused calls, for reviewers. */
  readonly notices: ReviewNotices;
  readonly #home: LoomHome;
  #store: Promise<LoomStore> | null = null;
  #signer: Promise<RequestStateSigner> | null = null;

  /**
   * @param options home, limits, clock, notice sink
   * @param audit the log the notices' summaries go to
   * @param agent the agent's name, for notices
   */
  constructor(options: ApprovalDeskOptions, audit: AuditLog, agent: string) {
    this.#home = options.home;
    this.ttlMs = options.ttlMs ?? DEFAULT_APPROVAL_TTL_MS;
    this.maxPending = options.maxPending ?? DEFAULT_MAX_PENDING_APPROVALS;
    this.now = options.now ?? Date.now;
    if (!(Number.isSafeInteger(this.ttlMs) && this.ttlMs > 0)) {
      throw new RangeError("ApprovalDesk: ttlMs must be a positive integer");
    }
    if (!(Number.isSafeInteger(this.maxPending) && this.maxPending > 0)) {
      throw new RangeError("ApprovalDesk: maxPending must be a positive integer");
    }
    this.notices = new ReviewNotices(audit, agent, this.maxPending, {
      notify: options.notify,
      windowMs: options.noticeWindowMs,
      now: this.now,
    });
  }

  /** The state database, opened on first use (a failed open is retried next time). */
  store(): Promise<LoomStore> {
    this.#store ??= openStore(this.#home);
    this.#store.catch(() => (this.#store = null));
    return this.#store;
  }

  /** The signer of 2026-07-28 request states, its key loaded on first use. */
  signer(): Promise<RequestStateSigner> {
    this.#signer ??= RequestStateSigner.open(this.#home);
    this.#signer.catch(() => (this.#signer = null));
    return this.#signer;
  }

  /** Say what the notices still count, then close the database if it was opened. */
  async close(): Promise<void> {
    await this.notices.close();
    const store = this.#store;
    this.#store = null;
    if (store !== null) (await store.catch(() => null))?.close();
  }
}

/**
 * What one call's approval is bound to.
 *
 * @param config the agent's config (name and digest)
 * @param tool the tool name
 * @param input the validated arguments
 * @returns the binding and the canonical arguments it hashes
 */
export function approvalBinding(
  config: AgentConfig,
  tool: string,
  input: Record<string, unknown>,
): ApprovalBinding & { argsJson: string } {
  const argsJson = canonicalJson(input);
  return {
    agent: config.name,
    tool,
    argsSha256: createHash("sha256").update(argsJson).digest("hex"),
    configDigest: config.source.digest,
    argsJson,
  };
}

/**
 * Append one `approval` record per change, in order, and wait until they are
 * durable.
 *
 * @param audit the log
 * @param changes each approval and what happened to it
 */
export async function recordApprovals(
  audit: AuditLog,
  changes:
    readonly (readonly [Approval, ApprovalChange["action"], { call?: string; actor?: string }?])[],
): Promise<void> {
  const written = changes.map(([approval, action, extra]) =>
    audit.append(approvalRecord(approval, action, extra))
  );
  await Promise.all(written);
}

/** The command that approves an approval, as the held error names it. */
export function approveCommand(id: string): string {
  return `loom approvals approve ${id}`;
}

/** "15 minutes", "90 seconds": a TTL for messages. */
export function describeTtl(ms: number): string {
  if (ms % 60_000 === 0) {
    const m = ms / 60_000;
    return `${m} minute${m === 1 ? "" : "s"}`;
  }
  const s = Math.ceil(ms / 1000);
  return `${s} second${s === 1 ? "" : "s"}`;
}
