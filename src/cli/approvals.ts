/**
 * `loom approvals list | show | approve | deny`: the reviewer's side of held
 * calls (`docs/security-controls.md`, escalation and approvals). A call an
 * escalation rule (or tier 4) holds opens a pending approval in the state
 * database; approving it lets that exact call (same agent, tool, arguments
 * and config) run once when the client sends it again. Every change is
 * recorded in the audit log (event `approval`), with the actor `cli:<user>`
 * (the OS user running the command, `_os_user.ts`). A decision by the
 * identity that asked for the approval is refused (exit 77, recorded as
 * `decision_refused`).
 *
 * @module
 */

import { parseOptions } from "./_args.ts";
import { NotFoundError, PolicyError, UsageError } from "../errors.ts";
import { type ApprovalChange, AuditLog } from "../security/audit/mod.ts";
import { approvalRecord, decideApproval } from "../security/escalation/mod.ts";
import {
  type Approval,
  APPROVAL_ID,
  type ApprovalStatus,
  ensureHome,
  type LoomStore,
  openStore,
  resolveHome,
} from "../store/mod.ts";
import { escapeForTerminal } from "../_util/terminal.ts";
import { type CliIo, table } from "./_io.ts";
import { cliPrincipal } from "./_os_user.ts";

/** Help text of `loom approvals`. */
export const APPROVALS_HELP = `Usage: loom approvals <command> [options]

Review tool calls held for approval. A call that an escalation rule matches
(and every write call of a tier 4 agent) does not run: it opens a pending
approval bound to the agent, the tool, the SHA-256 of its exact arguments and
the digest of the agent's config, and the client is told the approval's id.
Approve it, and the same call sent again runs once. An approval expires 15
minutes after it was asked for (pending) or decided (approved, unused); a
changed config voids the agent's pending approvals; a denied call is refused
for 15 minutes.

Commands:
  list [--agent A] [--all] [--json]
                      pending and approved approvals, newest first; --all
                      adds denied, used, expired and void ones
  show ID [--json]    one approval, with the call's arguments
  approve ID          let that exact call run once
  deny ID [--reason R]
                      refuse it (the reason is recorded and shown to the client)

Every change is recorded in the audit log (event approval), with the actor
cli:<user> (the OS user running this command, by its user id; USER or
LOGNAME only where the user database cannot be read). Each approval records
who asked (requested_by: oauth:<issuer>#<sub>, stdio, http, http-token:<n>);
that same identity may not decide it. A client that declared elicitation may
also be asked inline, recorded as inline:<who asked>.

Options:
  -a, --agent A       (list) only this agent's approvals
      --all           (list) every state, not only pending and approved
      --json          (list, show) JSON instead of a table
  -r, --reason R      (deny) why, at most 500 characters
  -h, --help          show this help

Exit status: 0 done, 64 usage, 66 no such approval, 77 not pending (already
decided, used, expired or void) or decided by the identity that asked.

Examples:
  loom approvals list
  loom approvals show 3f9c0a1b2c3d4e5f
  loom approvals approve 3f9c0a1b2c3d4e5f
  loom approvals deny 3f9c0a1b2c3d4e5f --reason "amount too large"
`;

const SUBCOMMANDS = ["list", "show", "approve", "deny"];
const LIVE: readonly ApprovalStatus[] = ["pending", "approved"];
const MAX_REASON = 500;

/** `loom approvals`. */
export async function approvalsCommand(args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === "-h" || sub === "--help" || sub === "help") {
    io.out(APPROVALS_HELP);
    return sub === undefined ? 64 : 0;
  }
  if (!SUBCOMMANDS.includes(sub)) {
    throw new UsageError(
      `Unknown approvals command "${sub.slice(0, 32)}": expected ${SUBCOMMANDS.join(", ")}`,
    );
  }
  const { values, positionals } = parseOptions({
    args: rest,
    allowPositionals: true,
    options: {
      agent: { type: "string", short: "a" },
      all: { type: "boolean" },
      json: { type: "boolean" },
      reason: { type: "string", short: "r" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return (io.out(APPROVALS_HELP), 0);
  only(sub, "agent", values.agent, ["list"]);
  only(sub, "all", values.all, ["list"]);
  only(sub, "json", values.json, ["list", "show"]);
  only(sub, "reason", values.reason, ["deny"]);

  if (sub === "list") {
    expectArgs(positionals, 0, "loom approvals list [--agent A] [--all] [--json]");
    return await withStore(io, async (store, audit) => {
      await recordExpired(store, audit);
      const rows = store.approvals.list({
        agent: values.agent,
        status: values.all ? undefined : LIVE,
      });
      if (values.json) {
        io.out(JSON.stringify(rows.map(toJson), null, 2) + "\n");
      } else if (rows.length === 0) {
        io.err(`No ${values.all ? "" : "pending or approved "}approvals\n`);
      } else {
        io.out(table([
          ["ID", "STATUS", "AGENT", "TOOL", "RULE", "CREATED-AT", "EXPIRES-AT"],
          ...rows.map((
            a,
          ) => [a.id, a.status, a.agent, a.tool, a.rule, iso(a.createdAt), iso(a.expiresAt)]),
        ]));
      }
      return 0;
    });
  }

  expectArgs(positionals, 1, `loom approvals ${sub} ID`);
  const id = positionals[0];
  if (!APPROVAL_ID.test(id)) {
    throw new UsageError("Invalid ID: an approval id is 16 lower-case hex characters");
  }
  if (values.reason !== undefined && values.reason.length > MAX_REASON) {
    throw new UsageError(`Option --reason is too long: at most ${MAX_REASON} characters`);
  }
  return await withStore(io, async (store, audit) => {
    await recordExpired(store, audit);
    if (sub === "show") {
      const a = store.approvals.get(id);
      if (a === undefined) throw new NotFoundError(`No approval "${id}"`);
      io.out(values.json ? JSON.stringify(toJson(a), null, 2) + "\n" : describe(a));
      return 0;
    }
    const approve = sub === "approve";
    const actor = cliPrincipal({ env: io.env });
    const decided = await decideApproval(store, audit, id, {
      approve,
      actor,
      reason: values.reason,
      now: Date.now(),
    });
    switch (decided.kind) {
      case "not_found":
        throw new NotFoundError(`No approval "${id}"`);
      case "expired":
        throw new PolicyError(
          `Approval ${id} expired at ${iso(decided.approval.expiresAt)}: the call must be sent ` +
            "again to ask for a new one",
        );
      case "same_principal":
        throw new PolicyError(
          `Approval ${id} was asked for by ${decided.approval.requestedBy}: the same identity ` +
            `(${actor}) may not ${sub} it; another person must decide`,
        );
      case "not_pending":
        throw new PolicyError(
          `Approval ${id} is ${decided.approval.status}, not pending` +
            (decided.approval.decidedBy ? ` (decided by ${decided.approval.decidedBy})` : ""),
        );
    }
    const a = decided.approval;
    io.out(
      approve
        ? `Approved ${id}: agent "${a.agent}" may run tool "${a.tool}" once with these exact ` +
          `arguments until ${iso(a.expiresAt)}; the client must send the call again\n`
        : `Denied ${id}: the same call of tool "${a.tool}" is refused until ${iso(a.expiresAt)}\n`,
    );
    return 0;
  });
}

async function withStore(
  io: CliIo,
  fn: (store: LoomStore, audit: AuditLog) => Promise<number>,
): Promise<number> {
  const home = await ensureHome(resolveHome(io.env));
  await using audit = await AuditLog.open(home.audit);
  await using store = await openStore(home);
  return await fn(store, audit);
}

/** Record what expired since anyone last looked, so each expiry is audited once. */
async function recordExpired(store: LoomStore, audit: AuditLog): Promise<void> {
  for (const a of store.approvals.expireDue(Date.now())) await record(audit, a, "expired");
}

async function record(
  audit: AuditLog,
  a: Approval,
  action: ApprovalChange["action"],
): Promise<void> {
  await audit.append(approvalRecord(a, action));
}

function toJson(a: Approval): Record<string, unknown> {
  let args: unknown = a.argsJson;
  try {
    args = JSON.parse(a.argsJson);
  } catch { /* shown as stored */ }
  return {
    id: a.id,
    status: a.status,
    agent: a.agent,
    tool: a.tool,
    rule: a.rule,
    reason: a.reason,
    arguments: args,
    args_sha256: a.argsSha256,
    config_digest: a.configDigest,
    requested_by: a.requestedBy,
    created_at: iso(a.createdAt),
    expires_at: iso(a.expiresAt),
    decided_at: a.decidedAt === null ? null : iso(a.decidedAt),
    decided_by: a.decidedBy,
    decision_reason: a.decisionReason,
    consumed_at: a.consumedAt === null ? null : iso(a.consumedAt),
  };
}

function describe(a: Approval): string {
  const lines: [string, string][] = [
    ["id", a.id],
    ["status", a.status],
    ["agent", a.agent],
    ["tool", a.tool],
    ["rule", `${a.rule}: ${a.reason}`],
    ["arguments", a.argsJson],
    ["args sha256", a.argsSha256],
    ["config digest", a.configDigest],
    ["requested by", a.requestedBy],
    ["created at", iso(a.createdAt)],
    ["expires at", iso(a.expiresAt)],
  ];
  if (a.decidedAt !== null) lines.push(["decided at", iso(a.decidedAt)]);
  lines.push(["decided by", a.decidedBy ?? "-"]);
  if (a.decisionReason !== null) lines.push(["reason given", a.decisionReason]);
  if (a.consumedAt !== null) lines.push(["used at", iso(a.consumedAt)]);
  return lines.map(([k, v]) => `${k.padEnd(14)} ${escapeForTerminal(v)}`).join("\n") + "\n";
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function only(sub: string, option: string, value: unknown, subs: readonly string[]): void {
  if (value !== undefined && !subs.includes(sub)) {
    throw new UsageError(
      `Option --${option} applies only to ${subs.map((s) => `"approvals ${s}"`).join(" and ")}`,
    );
  }
}

function expectArgs(positionals: string[], count: number, usage: string): void {
  if (positionals.length !== count) {
    throw new UsageError(
      `Expected ${count === 0 ? "no arguments" : `${count} argument`}: ${usage}`,
    );
  }
}
