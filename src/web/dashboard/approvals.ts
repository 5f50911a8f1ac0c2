/**
 * The approvals page (`/approvals`): calls held for a person (an escalation
 * rule, or a tier 4 agent's write), each with Approve and Deny, one
 * approval's detail (`/approvals/:id`), and the last decisions.
 *
 * A decision goes through the same code as `loom approvals approve|deny`:
 * `decideApproval` of the escalation module, which changes the state
 * database and writes the same `approval` audit record. The decision's
 * principal is {@linkcode DASHBOARD_APPROVER}, `dashboard:local`: whoever can
 * use this dashboard (its token, or loopback without one). Its identity,
 * `local`, is never a caller's principal, so a decision here is never
 * refused as the requester's own. Arguments are shown as stored: the gate
 * stores them redacted, and nothing here resolves a secret.
 *
 * Reading the page changes nothing: an approval whose time passed is shown
 * as expired and recorded as such when someone tries to decide it (as the
 * gate and `loom approvals list` record them).
 *
 * @module
 */

import { html } from "hono/html";
import type { AuditLog } from "../../security/audit/mod.ts";
import { decideApproval } from "../../security/escalation/mod.ts";
import { type Approval, APPROVAL_ID, type LoomStore, openStore } from "../../store/mod.ts";
import {
  type DashboardApp,
  type DashboardContext,
  type DashboardContextOf,
  redirectWithFlash,
  render,
  type RouteModule,
  withAuditLog,
} from "./app.ts";
import { actionButton, csrfField, type Html, table } from "./_html.ts";

/** Who decides from the dashboard (`decided_by`, the audit record's `actor`). */
export const DASHBOARD_APPROVER = "dashboard:local";
/** Longest reason a denial may give (as `loom approvals deny --reason`). */
export const MAX_REASON = 500;
/** Decisions listed. */
export const RECENT_DECISIONS = 20;

/** The approvals page, one approval, and the approve and deny actions. */
export const approvalsRoutes: RouteModule = (
  app: DashboardApp,
  context: DashboardContext,
): void => {
  const now = () => context.now?.() ?? Date.now();
  const write = writer(context);

  app.get("/approvals", async (c) => {
    await using store = await openStore(context.home);
    const at = now();
    const pending = store.approvals.list({ status: ["pending"] }).filter((a) => a.expiresAt > at);
    const recent = store.approvals.list()
      .filter((a) => a.status !== "pending" || a.expiresAt <= at)
      .sort((a, b) => (b.decidedAt ?? b.expiresAt) - (a.decidedAt ?? a.expiresAt))
      .slice(0, RECENT_DECISIONS);
    const csrf = c.get("session").csrf;
    return render(c, "Approvals", "/approvals", listBody(pending, recent, at, csrf));
  });

  app.get("/approvals/:id", async (c) => {
    const id = c.req.param("id");
    await using store = await openStore(context.home);
    const a = APPROVAL_ID.test(id) ? store.approvals.get(id) : undefined;
    if (a === undefined) return notFound(c, id);
    return render(
      c,
      `Approval ${a.id}`,
      "/approvals",
      detailBody(a, now(), c.get("session").csrf),
    );
  });

  for (const approve of [true, false]) {
    app.post(`/approvals/:id/${approve ? "approve" : "deny"}`, async (c) => {
      const id = c.req.param("id");
      if (!APPROVAL_ID.test(id)) return notFound(c, id);
      const form = await c.req.parseBody();
      const given = typeof form.reason === "string" ? form.reason.trim() : "";
      if (given.length > MAX_REASON) {
        return problem(c, 400, `The reason is too long: at most ${MAX_REASON} characters.`, id);
      }
      const reason = approve || given === "" ? undefined : given;
      const decided = await write((store, audit) =>
        decideApproval(store, audit, id, { approve, actor: DASHBOARD_APPROVER, reason, now: now() })
      );
      switch (decided.kind) {
        case "not_found":
          return notFound(c, id);
        case "expired":
          return problem(
            c,
            409,
            `Approval ${id} expired at ${iso(decided.approval.expiresAt)}: the call must be ` +
              "sent again to ask for a new one.",
            id,
          );
        case "same_principal":
          return problem(
            c,
            409,
            `Approval ${id} was asked for by ${decided.approval.requestedBy}: the same identity ` +
              "may not decide it; another person must.",
            id,
          );
        case "not_pending":
          return problem(
            c,
            409,
            `Approval ${id} is already ${decided.approval.status}, not pending` +
              (decided.approval.decidedBy ? ` (decided by ${decided.approval.decidedBy}).` : "."),
            id,
          );
      }
      const a = decided.approval;
      return redirectWithFlash(
        c,
        "/approvals",
        "ok",
        approve
          ? `Approved ${id}: agent "${a.agent}" may run tool "${a.tool}" once with these exact ` +
            `arguments until ${iso(a.expiresAt)}; the client must send the call again.`
          : `Denied ${id}: the same call of tool "${a.tool}" is refused until ` +
            `${iso(a.expiresAt)}.` + (a.decisionReason ? ` Reason: ${a.decisionReason}` : ""),
      );
    });
  }
};

type Write = <T>(fn: (store: LoomStore, audit: AuditLog) => Promise<T>) => Promise<T>;

/**
 * Run a change with the state database and the audit log's writer: the
 * process's own writer when the context has one, else the log opened for
 * this change, one change at a time (one writer per process).
 */
function writer(context: DashboardContext): Write {
  return <T>(fn: (store: LoomStore, audit: AuditLog) => Promise<T>): Promise<T> =>
    withAuditLog(context, async (audit) => {
      await using store = await openStore(context.home);
      return await fn(store, audit);
    });
}

function notFound(c: DashboardContextOf, id: string): Response | Promise<Response> {
  return problem(c, 404, `No approval "${id.slice(0, 32)}".`, undefined);
}

function problem(
  c: DashboardContextOf,
  status: 400 | 404 | 409,
  message: string,
  id: string | undefined,
): Response | Promise<Response> {
  const title = status === 404 ? "No such approval" : "Cannot decide this approval";
  return render(
    c,
    title,
    "/approvals",
    html`<p class="flash flash-error" role="alert">${message}</p>
<p>${
      id === undefined ? "" : html`
        <a href="/approvals/${id}">See approval ${id}</a> ·
      `
    }
<a href="/approvals">Back to approvals</a></p>`,
    status,
  );
}

function listBody(
  pending: readonly Approval[],
  recent: readonly Approval[],
  at: number,
  csrf: string,
): Html {
  const rows = pending.map((a) => [
    html`<a href="/approvals/${a.id}">${a.id}</a>`,
    a.agent,
    a.tool,
    iso(a.createdAt),
    html`${a.rule}: ${a.reason}`,
    iso(a.expiresAt),
    html`<code>${cut(a.argsJson)}</code>`,
    html`${actionButton(`/approvals/${a.id}/approve`, "Approve", csrf)}${
      actionButton(`/approvals/${a.id}/deny`, "Deny", csrf, { kind: "danger" })
    }`,
  ]);
  const done = recent.map((a) => [
    html`<a href="/approvals/${a.id}">${a.id}</a>`,
    statusOf(a, at),
    a.agent,
    a.tool,
    a.decidedBy ?? "—",
    a.decidedAt === null ? "—" : iso(a.decidedAt),
    a.decisionReason ?? "",
  ]);
  return html`
    <p>A held call runs once, when its client sends it again, after someone approves it here or with
    <code>loom approvals approve</code>. Decisions here are recorded as <code>${DASHBOARD_APPROVER}</code>.</p>
    <h2>Pending</h2>
    ${table(
      "Calls waiting for a decision, newest first",
      ["ID", "Agent", "Tool", "Asked at", "Why held", "Expires at", "Arguments", "Decide"],
      rows,
      "no call is waiting.",
    )}
    <h2>Recent decisions</h2>
    ${table(
      `The last ${RECENT_DECISIONS} decided, used, expired or void approvals`,
      ["ID", "Status", "Agent", "Tool", "Decided by", "Decided at", "Reason given"],
      done,
      "none yet.",
    )}
  `;
}

function detailBody(a: Approval, at: number, csrf: string): Html {
  const fields: [string, string][] = [
    ["Status", statusOf(a, at)],
    ["Agent", a.agent],
    ["Tool", a.tool],
    ["Why held", `${a.rule}: ${a.reason}`],
    ["Asked by", a.requestedBy],
    ["Asked at", iso(a.createdAt)],
    ["Expires at", iso(a.expiresAt)],
    ["Arguments SHA-256", a.argsSha256],
    ["Config digest", a.configDigest],
    ["Decided by", a.decidedBy ?? "—"],
  ];
  if (a.decidedAt !== null) fields.push(["Decided at", iso(a.decidedAt)]);
  if (a.decisionReason !== null) fields.push(["Reason given", a.decisionReason]);
  if (a.consumedAt !== null) fields.push(["Used at", iso(a.consumedAt)]);
  const open = a.status === "pending" && a.expiresAt > at;
  const decide = open
    ? html`<h2>Decide</h2>
${actionButton(`/approvals/${a.id}/approve`, "Approve", csrf)}
<form method="post" action="/approvals/${a.id}/deny" class="filters">${csrfField(csrf)}
  <label for="deny-reason">Reason (optional, shown to the client)
    <input id="deny-reason" name="reason" maxlength="${MAX_REASON}"></label>
  <button type="submit" class="danger">Deny</button>
</form>`
    : "";
  return html`<p><a href="/approvals">Back to approvals</a></p>
<h2>The held call</h2>
<dl class="facts">${
    fields.map(([k, v]) =>
      html`
        <dt>${k}</dt>
        <dd>${v}</dd>
      `
    )
  }</dl>
<h2>Arguments (as stored, redacted)</h2>
<pre>${pretty(a.argsJson)}</pre>
${decide}`;
}

function statusOf(a: Approval, at: number): string {
  return (a.status === "pending" || a.status === "approved") && a.expiresAt <= at
    ? "expired"
    : a.status;
}

function pretty(argsJson: string): string {
  try {
    return JSON.stringify(JSON.parse(argsJson), null, 2);
  } catch {
    return argsJson;
  }
}

function cut(text: string): string {
  return text.length > 160 ? `${text.slice(0, 159)}…` : text;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
