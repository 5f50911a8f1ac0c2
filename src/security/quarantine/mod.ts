/**
 * A person's decisions about a quarantined config (`src/store/quarantine.ts`
 * holds the entries): promote it into the agents directory (loaded with the
 * real config loader, optionally signed, installed atomically, audited) or
 * reject it with a reason. `loom quarantine promote | reject` and the
 * dashboard's quarantine page both act through these functions.
 *
 * @example
 * ```ts
 * import { rejectReasonProblem } from "./mod.ts";
 * rejectReasonProblem("calls an unknown host"); // null
 * rejectReasonProblem("  "); // "missing"
 * ```
 *
 * @module
 */

export {
  decodeQuarantined,
  MAX_REJECT_REASON,
  type ParsedEntry,
  parseQuarantined,
  type PromoteOptions,
  promoteQuarantined,
  type Promotion,
  type RejectOptions,
  rejectQuarantined,
  rejectReasonProblem,
} from "./transitions.ts";
