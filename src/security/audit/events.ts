/**
 * Every event LOOM writes to its audit log, as one typed union. A record is
 * what an operator, an auditor or `loom audit` reads back months later, so
 * its shape is part of LOOM's interface: each event and each field is named
 * and documented here, once, and {@linkcode AuditLog.append} accepts nothing
 * else. A writer that misspells a field, or forgets one an event requires,
 * fails the type check instead of leaving a record nobody can query.
 *
 * Field names are snake_case, as they appear in the JSON record. The log adds
 * `seq`, `ts`, `prev` and `hash` (and `sig` when signing); `tool` is null for
 * events that concern no tool. No field ever holds a secret value: a
 * credential appears as its name and, at most, `value_hmac`.
 *
 * Events, by writer:
 *
 * | event | written by | when |
 * | --- | --- | --- |
 * | `tool_call` | the gate | a call's `intent` before it runs, its `outcome` after |
 * | `trust_violation` | the gate | a call refused by policy; a call that runs with injection findings |
 * | `credential_access` | the credential broker | set, remove, rotate, grant, revoke, resolve |
 * | `agent_lifecycle` | the served agent | start and stop; a mesh's added, reload, removed, refused |
 * | `sandbox_lifecycle` | the sandbox supervisor | spawn, ready, stop, crash, kill, restart |
 * | `refusal_summary` | the refusal coalescer | refusals counted instead of recorded one by one |
 * | `audit_recovery` | the log itself; the gate | a torn tail repaired; tier 1 calls that ran unrecorded |
 * | `approval` | the gate; `loom approvals` | a held call's approval requested, decided, used, expired or voided |
 * | `approval_queue` | the gate | held calls refused because the review queue was full, summed per window |
 * | `config_signature` | `loom sign`; `loom run` | a signing key made or trusted, a config signed, a signature checked |
 * | `quarantine` | `loom quarantine` | a config added to, promoted from or rejected by the quarantine |
 * | `config_approval` | `loom quarantine approve` | an ai-generated config's exact bytes approved, or the approval refused |
 * | `tool_pin` | the mesh; `loom pin approve` | a tool definition pinned on first use, seen changed, or a change approved |
 * | `schedule` | the mesh's scheduler | a scheduled run skipped (still running) or not routed; a run's webhook delivered or not |
 * | `anomaly` | the served agent's anomaly monitor | a new tool after the warm-up, rate-limit or credential denials or refusals over a threshold, a pinned tool changed; an alert's webhook delivered or not |
 *
 * @module
 */

/** The status of a call's outcome. */
export type CallStatus = "success" | "error" | "timeout" | "denied" | "invalid" | "held";

/** One injection finding as recorded (never the matched text). */
export type RecordedFinding = {
  /** The injection category (`shell`, `sql`, `path`, ...). */
  category: string;
  /** The argument, as a path: `query`, `filters[2].name`. */
  field: string;
  /** The id of the pattern that matched. */
  pattern: string;
};

/** Fields every record of one call shares. */
type CallFields = {
  event: "tool_call";
  /** The agent (`config.name`). */
  agent: string;
  /** A call id, unique within the process's lifetime: `<8 hex>-<n>`. */
  call: string;
  /** The client's name from its `initialize`, when it gave one. */
  client: string | null;
  /**
   * Who called, when the HTTP transport authenticated the caller by an OAuth
   * access token (`--auth oauth`): the token's `sub`. Absent over stdio and
   * with static bearer tokens. Never the token itself. At most 128
   * characters: a longer `sub` is recorded as its first 64 characters, `…`
   * and `sha256:<32 hex>` of the whole.
   */
  subject?: string;
  /**
   * The call of the composite tool that made this one (a step of its
   * `steps`), when one did: its `call` id. Absent for a client's own call.
   */
  parent?: string;
};

/**
 * A call about to run: written once the call passed every check and before
 * anything leaves LOOM. At tier 2 and above it is durable before the call
 * runs; at tier 1 it is written with the outcome.
 */
export type ToolCallIntent = CallFields & {
  tool: string;
  phase: "intent";
  /** The bridge's HTTP method; absent for a tool of an MCP upstream (gateway mode). */
  method?: string;
  /** The upstream's own name of a gateway tool, when the config renamed it. */
  upstream_tool?: string;
  /** The arguments; strings over 256 characters and large objects shortened. */
  args: Record<string, unknown>;
  /** `sha256:<hex>` of the canonical arguments, present only when `args` was shortened. */
  args_digest?: string;
  /** The agent's trust tier. */
  tier: number;
};

/** The fields an outcome can carry besides its status, by what ended the call. */
export type OutcomeFields = {
  /** Wall time from the call's arrival, in milliseconds. */
  duration_ms?: number;
  /** The refusal's client key (`stdio`, or `session:<16 hex>`), for refusals only. */
  session?: string;
  /** What went wrong, as the client was told (redacted). */
  error?: string;
  /** The argument a validation refusal names. */
  field?: string;
  /** A `LoomError` code (`UPSTREAM_TIMEOUT`, `UPSTREAM_STATUS`, ...). */
  code?: string;
  /** The upstream's HTTP status, when it answered with an error. */
  upstream_status?: number;
  /** SHA-256 of the upstream error text shown to the client, when one was. */
  error_excerpt_sha256?: string;
  /** The upstream exchange of a call that got a response. */
  http?: { bytes: number; method: string; status: number; url: string };
  /**
   * The exchange of a gateway call that got an answer: the upstream MCP
   * server's own tool name, the answer's size as JSON, and whether the
   * upstream called it a tool error.
   */
  mcp?: { bytes: number; is_error: boolean; tool: string };
  /** The secret a `denied` outcome could not release. */
  key?: string;
  /** Why: the broker's denial code, or the escalation rule's reason. */
  reason?: string;
  /** The escalation rule that held the call. */
  rule?: string;
  /** What held it: `escalation_rule` (an entry of the config) or `trust_tier` (a tier 4 write). */
  held_by?: string;
  /** The approval a held call opened or found (its id), when approvals are available. */
  approval?: string;
  /** Injection findings of a held call (at most 8). */
  findings?: RecordedFinding[];
  /** How many findings there were in all. */
  findings_total?: number;
  /**
   * The output scan's rules that an upstream response tripped (rule names,
   * never the matched text): the answer was flagged as data, or withheld
   * (`runtime.output_scan`, `src/runtime/gate/output_scan.ts`).
   */
  output_findings?: string[];
  /**
   * A composite tool's steps, each with the tool it called and its status
   * (`ok`, `error`, `timeout`, `skipped`; the step's own records carry this
   * call as `parent`), and the LLM step's status (`ok`, `error`, or `none`
   * without one).
   */
  composite?: {
    llm: string;
    steps: { id: string; status: string; tool: string }[];
  };
};

/**
 * How a call ended: exactly one per call id, durable before the client gets
 * its answer. `tool` is null only for an unknown tool's refusal.
 */
export type ToolCallOutcome = Omit<CallFields, "call"> & OutcomeFields & {
  tool: string | null;
  call: string;
  phase: "outcome";
  status: CallStatus;
};

/** Why a policy step refused a call, with each kind's own fields. */
export type PolicyRefusal =
  | {
    action: "injection_attempt";
    detail: string;
    field: string;
    category: string;
    pattern: string;
  }
  | {
    /** `write_tool`, `http_<METHOD>` or `method_override`. */
    action: string;
    detail: string;
    /** The agent's tier. */
    tier: number;
  }
  | {
    /** The OAuth caller's token lacks the scope the tool's access needs. */
    action: "insufficient_scope";
    detail: string;
    /** The scope it lacks: `loom:read` or `loom:write`. */
    scope: string;
  }
  | {
    action: "rate_limit";
    detail: string;
    limit: number;
    window_ms: number;
    retry_after_ms: number;
  }
  | {
    /** The agent's config is `ai-generated` and its bytes are not approved. */
    action: "quarantined";
    detail: string;
    /** `sha256:<hex>` of the served config's bytes. */
    config_digest: string;
  }
  | {
    /** The tool's definition changed since it was pinned, and the change is not approved. */
    action: "tool_changed";
    detail: string;
    /** `sha256:<hex>` of the definition served now. */
    digest: string;
    /** `sha256:<hex>` of the pinned definition. */
    pinned_digest: string;
    /** The top-level fields that differ. */
    changed: string[];
  };

/** A call refused by a policy step (injection, tier, scope, rate limit): it did not run. */
export type TrustViolationRefusal = PolicyRefusal & {
  event: "trust_violation";
  agent: string;
  tool: string;
  call: string;
  phase: "outcome";
  status: "denied";
  severity: "high";
  duration_ms: number;
  client: string | null;
  /** The refusal's client key (`stdio`, or `session:<16 hex>`). */
  session: string;
  /** The OAuth caller's `sub`, bounded as in `tool_call` records. */
  subject?: string;
  /** The composite call this one was a step of, as in `tool_call` records. */
  parent?: string;
};

/** A call that runs although its arguments matched injection patterns (`injection: audit`). */
export type TrustViolationAudit = {
  event: "trust_violation";
  agent: string;
  tool: string;
  call: string;
  action: "injection_attempt";
  severity: "high";
  decision: "audit";
  /** At most 8 findings. */
  findings: RecordedFinding[];
  findings_total: number;
  client: string | null;
  /** The OAuth caller's `sub`, bounded as in `tool_call` records. */
  subject?: string;
};

/** Fields of every `credential_access` record. */
type CredentialFields = {
  event: "credential_access";
  /** The agent; `loom` for vault operations, which concern no agent. */
  agent: string;
  tool: null;
};

/** A change to the vault or the grants, made by an operator's command. */
export type CredentialChange =
  & CredentialFields
  & (
    | {
      action: "set";
      key: string;
      /** The value's version after the change. */
      version: number;
      /** `hmac-sha256:<hex>` of the value under the audit key: lets an auditor match values. */
      value_hmac: string;
    }
    | { action: "remove"; key: string }
    | {
      action: "rotate";
      /** `manual`, `threshold` (the key's encryption budget) or `migration`. */
      reason: string;
      /** The new data key's id. */
      kid: string;
      /** The replaced key's id; null for a migrated format-1 vault. */
      previous_kid: string | null;
      /** Values re-encrypted. */
      values: number;
    }
    | {
      action: "grant";
      key: string;
      /** The config digest the grant is pinned to (with `signed_by`: the digest at grant time). */
      config_digest: string;
      /**
       * The signing key id the grant is pinned to instead of the digest: any
       * version of the config with a valid signature by this key gets it.
       */
      signed_by?: string;
    }
    | { action: "revoke"; key: string }
  );

/** One secret asked for by one call: released, or refused with a reason. */
export type CredentialResolve = Omit<CredentialFields, "tool"> & {
  tool: string;
  call: string;
  action: "resolve";
  key: string;
  granted: boolean;
  /** Why it was refused (`no_grant`, `config_mismatch`, `not_found`, an error code). */
  reason?: string;
  /** The only origin the value may be sent to. */
  origin: string;
  /** Present when released. */
  value_hmac?: string;
};

/** An agent begins or stops serving. */
export type AgentLifecycle =
  & { event: "agent_lifecycle"; agent: string; tool: null; transport: string }
  & (
    | {
      action: "start";
      /** The served config's digest (`sha256:<hex>`). */
      config_digest: string;
      /** How many tools it serves. */
      tools: number;
    }
    | { action: "stop" }
    | {
      /**
       * A mesh's hot reload: `added` (a new agent serves), `reload` (a new
       * version of its config serves), `removed` (its file is gone), or
       * `refused` (a change not applied; the serving version stays).
       */
      action: "added" | "reload" | "removed" | "refused";
      /** The config file. */
      file: string;
      /** added and reload: the digest of the config now served. */
      config_digest?: string;
      /** refused: why (its problems, bounded). */
      reason?: string;
    }
  );

/** What happened to an agent's sandboxed host process. */
export type SandboxAction = "spawn" | "ready" | "stop" | "crash" | "kill" | "restart";

/** One event of an agent's host process, as its supervisor reports it. */
export type SandboxLifecycle = {
  event: "sandbox_lifecycle";
  agent: string;
  tool: null;
  action: SandboxAction;
  /**
   * `spawn`: the mode; `ready`: start-up time; `stop`: `idle` or
   * `shutdown`; `crash`: exit code or signal; `kill`: `timeout`, `memory`,
   * `protocol` or `startup`; `restart`: the backoff waited.
   */
  detail: string;
  /** The process id, when there is one. */
  pid: number | null;
};

/** Refusals of one client in one window, counted instead of recorded one by one. */
export type RefusalSummaryClient = {
  /** The client key (`stdio`, or `session:<16 hex>`). */
  client: string;
  refused: number;
  /** Per tool (`(unknown)` for unknown names, `*` past the cap), per refusal kind. */
  counts: Record<string, Record<string, number>>;
};

/** The refusals of one window that did not get records of their own. */
export type RefusalSummary = {
  event: "refusal_summary";
  agent: string;
  tool: null;
  window_start: string;
  window_end: string;
  /** Refusals in this record, all clients. */
  refused: number;
  /** At most 64 clients per record; a larger window is written as several. */
  clients: RefusalSummaryClient[];
};

/** The log repaired itself, or says what it could not record. */
export type AuditRepair =
  | {
    event: "audit_recovery";
    agent: "loom";
    tool: null;
    /** A torn last line (a crash mid-write) was cut off and saved aside. */
    action: "recovered_torn_tail";
    bytes_removed: number;
    last_good_seq: number;
    /** The file the removed bytes were saved to, beside the log. */
    saved_as: string;
  }
  | {
    event: "audit_recovery";
    agent: string;
    tool: null;
    /** Tier 1 calls ran while the log could not be written. */
    action: "unrecorded_calls";
    calls: number;
    /** Per tool. */
    counts: Record<string, number>;
    first_at: string;
    last_at: string;
    /** The agent's `runtime.audit_failure`. */
    audit_failure: string;
  };

/**
 * A change of a held call's approval (see `src/store/approvals.ts`). One
 * record per change: `requested` (a held call opened it: `requested_by` says
 * who asked), `approved` and `denied` (a reviewer decided: `actor` says who),
 * `decision_refused` (a decision by the identity that asked was refused: the
 * approval stays pending; `actor` and `requested_by` say who), `consumed`
 * (the approved call ran, once: `call` names it), `expired` (its time
 * passed) and `voided` (the agent's config changed). The arguments appear
 * only as their digest.
 */
export type ApprovalChange = {
  event: "approval";
  agent: string;
  tool: string;
  action:
    | "requested"
    | "approved"
    | "denied"
    | "decision_refused"
    | "consumed"
    | "expired"
    | "voided";
  /** The approval's id (16 hex). */
  approval: string;
  /** The escalation rule that held the call. */
  rule: string;
  /** Hex SHA-256 of the call's canonical arguments. */
  args_sha256: string;
  /** Hex SHA-256 of the agent's config the approval is bound to. */
  config_digest: string;
  /**
   * Who decided: `cli:<user>`, `inline:<principal>`, `dashboard:<principal>`
   * (approved, denied), or tried to (decision_refused).
   */
  actor?: string;
  /**
   * Who asked: `oauth:<issuer>#<sub>`, `stdio`, `http`, `http-token:<n>`
   * (requested, approved, denied, decision_refused).
   */
  requested_by?: string;
  /** The reviewer's reason (denied, when given). */
  reason?: string;
  /** The call that opened it (requested) or ran under it (consumed). */
  call?: string;
  /** When it stops counting, ISO-8601 UTC (requested, approved, denied). */
  expires_at?: string;
};

/**
 * Held calls of one agent in one notice window, summed up (see
 * `src/runtime/gate/review_notices.ts`): written once when a window in which
 * calls were refused because the review queue was full ends, instead of one
 * notice per call. Each call still has its own `tool_call` outcome record;
 * this record is the reviewers' one notice of the flood.
 */
export type ApprovalQueueSummary = {
  event: "approval_queue";
  agent: string;
  tool: null;
  /** New approvals opened in the window (calls held for review). */
  held: number;
  /** Calls refused because the review queue was full. */
  refused: number;
  /** The pending cap per agent. */
  max_pending: number;
  /** The window, ISO-8601 UTC. */
  window_start: string;
  window_end: string;
};

/** The verdict of one config signature check (see `src/security/signing/`). */
export type SignatureVerdict =
  | "valid"
  | "unsigned"
  | "digest_mismatch"
  | "bad_signature"
  | "untrusted_key"
  | "malformed"
  | "expired"
  | "rollback"
  | "version_reused";

/**
 * A config signing event: `keygen` (a signing key was made), `trust` (a
 * public key was added to the trusted keys), `sign` (a config was signed),
 * `verify` (a signature was checked, by `loom sign verify` or before `loom
 * run` serves; `refused` says whether the config was kept from loading).
 */
export type ConfigSignatureEvent = {
  event: "config_signature";
  /** The config's agent name; `loom` for key events. */
  agent: string;
  tool: null;
  action: "keygen" | "trust" | "sign" | "verify";
  /** `ed25519` or `hmac-sha256`. */
  algorithm?: string;
  /** The signing key's id (16 hex). */
  key_id?: string;
  /** `sha256:<hex>` of the config file's bytes. */
  config_digest?: string;
  /** The config file, as the operator named it. */
  path?: string;
  /** `sign`, `verify`: the signed version number of the config. */
  version?: number;
  /** `sign`, `verify`: when the signature expires (ISO-8601 UTC). */
  expires?: string;
  /** `verify`: what the check found. */
  verdict?: SignatureVerdict;
  /** `verify`: true when the config was not allowed to load. */
  refused?: boolean;
};

/**
 * A quarantine transition (see `src/store/quarantine.ts`): `add` (a config
 * file entered the quarantine), `promote` (it was validated and copied into
 * the agents directory, maybe signed), `reject` (it was set aside, with a
 * reason). The entry's content appears only as its digest.
 */
export type QuarantineChange = {
  event: "quarantine";
  /** The config's agent name when it loads, else the entry's name. */
  agent: string;
  tool: null;
  action: "add" | "promote" | "reject";
  /** The entry's name in the quarantine. */
  name: string;
  /** `sha256:<hex>` of the entry's bytes. */
  config_digest: string;
  /** `add`: the file it was taken from. */
  source?: string;
  /** `add`: who submitted it (`generator:<name>`, `cli:<user>`); it may not approve it. */
  submitted_by?: string;
  /** `promote`: the file it was written to. */
  target?: string;
  /** `promote --sign`: the key that signed it. */
  key_id?: string;
  /** `reject`: the reviewer's reason. */
  reason?: string;
  /** `promote`, `reject` from the dashboard: who decided (`dashboard:<label>`). */
  actor?: string;
};

/**
 * An `ai-generated` config's approval (see `src/store/config_approvals.ts`):
 * `approved` (a person approved these exact bytes; its tools are served from
 * the next start) or `refused` (the approver was one of its submitters).
 */
export type ConfigApprovalEvent = {
  event: "config_approval";
  /** The config's agent name. */
  agent: string;
  tool: null;
  action: "approved" | "refused";
  /** `sha256:<hex>` of the config file's bytes. */
  config_digest: string;
  /** Who approved (or tried to): `cli:<user>`. */
  approver: string;
  /** Who submitted these bytes: `generator:<name>`, `cli:<user>`, ... (may be empty). */
  submitters: string[];
  /** The config file, as the approver named it. */
  path: string;
  /** `refused`: why. */
  reason?: string;
};

/**
 * A tool-definition pin (see `src/store/tool_pins.ts` and
 * `src/security/pinning/`): `pinned` (a tool seen for the first time was
 * pinned, trust on first use), `changed` (a tool's definition differs from
 * its pin: the tool is disabled until approved; written when a new version is
 * first seen) and `approved` (a person made the changed definition the pin;
 * the record is durable before the pin changes). Definitions appear only as
 * their digests; `loom pin show` and `loom pin diff` print them.
 */
export type ToolPinEvent = {
  event: "tool_pin";
  /** The agent (`agent.name`). */
  agent: string;
  /** The tool's own name (not namespaced). */
  tool: string;
  action: "pinned" | "changed" | "approved";
  /**
   * `sha256:<hex>` of the canonical definition: the one pinned (pinned), the
   * one seen (changed), the one approved and pinned now (approved).
   */
  digest: string;
  /** The digest pinned before (changed, approved). */
  pinned_digest?: string;
  /** The top-level fields that differ from the earlier pin (changed, approved). */
  changed?: string[];
  /** Who pinned: `first-use` (pinned) or the approver, `cli:<user>` (approved). */
  actor?: string;
};

/**
 * What the records of a scheduled run's call do not tell (`triggers`,
 * `src/app/mesh_schedule.ts`): the run itself is the gate's own `tool_call`
 * records, client `schedule`. `skipped`: the trigger's previous run was still
 * going when the next was due (runs never overlap); `failed`: the mesh could
 * not route the call (`reason`); `webhook`: the run's result was POSTed
 * (`result` `delivered`) or not (`failed`, `refused` by the destination
 * check, with `reason`).
 */
export type ScheduleEvent = {
  event: "schedule";
  agent: string;
  /** The tool's own name (not namespaced). */
  tool: string;
  action: "skipped" | "failed" | "webhook";
  /** The trigger's cron expression. */
  trigger: string;
  /** When the run was due, ISO-8601 UTC. */
  fired_at: string;
  /** webhook: `delivered`, `failed` or `refused`. */
  result?: string;
  /** webhook: the receiver's HTTP status, when it answered. */
  http_status?: number;
  /** webhook: the receiver's origin only (a path may carry a token). */
  webhook?: string;
  /** failed, and a webhook not delivered: why. */
  reason?: string;
};

/**
 * An anomaly of one agent (`runtime.anomaly`, `src/security/anomaly/`,
 * `src/app/anomaly_monitor.ts`). `detected`: one record per kind and tool
 * per window, with the numbers behind it; `alert`: the webhook of the
 * anomalies of one kind was POSTed (`result` `delivered`) or not (`failed`,
 * `refused` by the destination check, with `reason`). Names and counts
 * only: never argument values, results or secrets.
 */
export type AnomalyEvent = {
  event: "anomaly";
  /** The agent (`agent.name`). */
  agent: string;
  /** The tool's own name, when the anomaly concerns one; else null. */
  tool: string | null;
  action: "detected" | "alert";
  /** `new_tool`, `rate_limit`, `credential_denials`, `denial_burst` or `tool_changed`. */
  kind: string;
  /** detected: the events counted within the window; alert: the anomalies it reports. */
  count: number;
  /** detected: the threshold reached. */
  threshold?: number;
  /** detected: the sliding window, in milliseconds (0 for `new_tool`). */
  window_ms?: number;
  /** detected: events of the same kind and tool in the quiet window before, not recorded one by one. */
  suppressed?: number;
  /** alert: `delivered`, `failed` or `refused`. */
  result?: string;
  /** alert: the receiver's HTTP status, when it answered. */
  http_status?: number;
  /** alert: the receiver's origin only (a path may carry a token). */
  webhook?: string;
  /** alert not delivered: why. */
  reason?: string;
};

/** Every event LOOM appends to its audit log. */
export type AuditEvent =
  | ToolCallIntent
  | ToolCallOutcome
  | TrustViolationRefusal
  | TrustViolationAudit
  | CredentialChange
  | CredentialResolve
  | AgentLifecycle
  | SandboxLifecycle
  | RefusalSummary
  | AuditRepair
  | ApprovalChange
  | ApprovalQueueSummary
  | ConfigSignatureEvent
  | QuarantineChange
  | ConfigApprovalEvent
  | ToolPinEvent
  | ScheduleEvent
  | AnomalyEvent;

/** The event names a record can carry. */
export const AUDIT_EVENTS = [
  "tool_call",
  "trust_violation",
  "credential_access",
  "agent_lifecycle",
  "sandbox_lifecycle",
  "refusal_summary",
  "audit_recovery",
  "approval",
  "approval_queue",
  "config_signature",
  "quarantine",
  "config_approval",
  "tool_pin",
  "schedule",
  "anomaly",
] as const satisfies readonly AuditEvent["event"][];

/** One event name. */
export type AuditEventName = typeof AUDIT_EVENTS[number];
