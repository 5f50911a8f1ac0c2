/**
 * The audit page (`/audit`): the latest records of the tamper-evident log,
 * newest first, filtered like `loom audit show` (event, agent, tool; the same
 * reader, `readAuditRecords`), each linking to its full detail
 * (`/audit/record/:seq`). Records are shown as stored: the log is already
 * redacted, and nothing on this page resolves a secret.
 *
 * - `GET /api/audit/stream?event=&agent=&tool=&after=` follows the log as
 *   server-sent events, like `loom audit tail -f` (`tailAuditLog`: polls the
 *   file size, reads only new complete lines), one `record` event per new
 *   matching record (id: its seq). `after` (or the `Last-Event-ID` a
 *   reconnecting `EventSource` sends) is the newest seq the page already
 *   shows: records after it that were written between the page and the
 *   stream (within the last {@linkcode STREAM_BACKLOG}) are sent first. The
 *   stream ends when the client goes away.
 * - `POST /audit/verify` runs the check of `loom audit verify` (chain and
 *   signed checkpoints, `checkAuditLog`) and answers with a flash.
 *
 * @module
 */

import { html } from "hono/html";
import { streamSSE } from "hono/streaming";
import {
  AUDIT_EVENTS,
  type AuditCheckReport,
  type AuditEventName,
  type AuditFilter,
  type AuditRecord,
  auditRecordMatches,
  checkAuditLog,
  publicKeyFileOf,
  readAuditRecords,
  readTrustedKey,
  tailAuditLog,
} from "../../security/audit/mod.ts";
import {
  type DashboardApp,
  type DashboardContext,
  type DashboardContextOf,
  redirectWithFlash,
  render,
  type RouteModule,
} from "./app.ts";
import { actionButton, type Html } from "./_html.ts";
import { LoomError } from "../../errors.ts";

/** Records shown by default. */
export const DEFAULT_LIMIT = 100;
/** Most records one page shows. */
export const MAX_LIMIT = 1000;
/** Records re-read when a stream starts after a seq the page showed. */
export const STREAM_BACKLOG = 100;
/** How often a stream looks for new records, in ms. */
export const STREAM_POLL_MS = 250;
const MAX_TEXT = 200;
const SUMMARY_SKIP = new Set(["seq", "ts", "event", "agent", "tool", "prev", "hash", "sig"]);
const SEQ = /^[1-9][0-9]{0,15}$/;

let openStreams = 0;

/** Streams still running in this process (tests check that an aborted one ends). */
export function auditStreamsOpen(): number {
  return openStreams;
}

/** The page's filters, from the query string. */
interface PageFilter {
  event?: AuditEventName;
  agent?: string;
  tool?: string;
  limit: number;
}

/** The audit page, a record's detail, the live stream and the verify action. */
export const auditRoutes: RouteModule = (
  app: DashboardApp,
  context: DashboardContext,
): void => {
  const dir = context.home.audit;

  app.get("/audit", async (c) => {
    const filter = parseFilter(c);
    if (typeof filter === "string") return render(c, "Audit log", "/audit", bad(filter), 400);
    const records = (await readAuditRecords(dir, filter)).reverse();
    const newest = records[0]?.seq ?? 0;
    return render(
      c,
      "Audit log",
      "/audit",
      listBody(filter, records, newest, c.get("session").csrf),
      200,
      ["audit.js"],
    );
  });

  app.get("/audit/record/:seq", async (c) => {
    const text = c.req.param("seq");
    const seq = SEQ.test(text) ? Number(text) : NaN;
    const record = Number.isSafeInteger(seq)
      ? (await readAuditRecords(dir, { seq, limit: 1 }))[0]
      : undefined;
    if (record === undefined) {
      return render(
        c,
        "No such record",
        "/audit",
        html`<p>The audit log has no record with seq ${text.slice(0, 20)}.</p>
<p><a href="/audit">Back to the audit log</a></p>`,
        404,
      );
    }
    return render(c, `Audit record ${record.seq}`, "/audit", detailBody(record));
  });

  app.post("/audit/verify", async (c) => {
    let report: AuditCheckReport;
    try {
      const key = await readTrustedKey(publicKeyFileOf(context.home.auditSigningKey));
      report = await checkAuditLog(dir, { trustedKeys: key === null ? [] : [key] });
    } catch (error) {
      // No log yet, or one that cannot be read: said, as `loom audit verify` says it.
      if (!(error instanceof LoomError)) throw error;
      return redirectWithFlash(c, "/audit", "error", `Audit log not verified: ${error.message}`);
    }
    return redirectWithFlash(c, "/audit", report.ok ? "ok" : "error", verifyMessage(report));
  });

  app.get("/api/audit/stream", (c) => {
    const filter = parseFilter(c);
    if (typeof filter === "string") return c.json({ error: filter }, 400);
    const after = Math.max(seqParam(c.req.query("after")), seqParam(c.req.header("last-event-id")));
    return streamSSE(c, async (stream) => {
      const controller = new AbortController();
      const stop = () => controller.abort();
      stream.onAbort(stop);
      c.req.raw.signal?.addEventListener("abort", stop, { once: true });
      openStreams++;
      try {
        await stream.writeSSE({ event: "ready", data: String(after) });
        const records = tailAuditLog(dir, {
          signal: controller.signal,
          last: after > 0 ? STREAM_BACKLOG : 0,
          intervalMs: STREAM_POLL_MS,
        });
        for await (const r of records) {
          if (r.seq <= after || !auditRecordMatches(r, filter)) continue;
          await stream.writeSSE({ event: "record", id: String(r.seq), data: JSON.stringify(r) });
          if (stream.aborted) break;
        }
      } catch {
        if (!stream.aborted) {
          await stream.writeSSE({ event: "failed", data: "cannot read the log" });
        }
      } finally {
        c.req.raw.signal?.removeEventListener("abort", stop);
        openStreams--;
      }
    });
  });
};

/** The filters of the query string, or why they are wrong. */
function parseFilter(c: DashboardContextOf): PageFilter | string {
  const event = c.req.query("event") ?? "";
  if (event !== "" && !(AUDIT_EVENTS as readonly string[]).includes(event)) {
    return `Unknown event "${event.slice(0, 40)}": expected one of ${AUDIT_EVENTS.join(", ")}`;
  }
  const agent = (c.req.query("agent") ?? "").trim();
  const tool = (c.req.query("tool") ?? "").trim();
  if (agent.length > MAX_TEXT || tool.length > MAX_TEXT) return "An agent or tool name is too long";
  const limitText = c.req.query("limit") ?? "";
  const limit = limitText === "" ? DEFAULT_LIMIT : Number(limitText);
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
    return `The number of records must be a whole number from 1 to ${MAX_LIMIT}`;
  }
  return {
    ...(event === "" ? {} : { event: event as AuditEventName }),
    ...(agent === "" ? {} : { agent }),
    ...(tool === "" ? {} : { tool }),
    limit,
  };
}

function seqParam(text: string | undefined): number {
  return text !== undefined && SEQ.test(text) ? Number(text) : 0;
}

function bad(message: string): Html {
  return html`<p class="flash flash-error" role="alert">${message}</p>
<p><a href="/audit">Show the latest records</a></p>`;
}

/** The query string of a filter (no limit), for the stream's URL. */
function queryOf(filter: AuditFilter, after: number): string {
  const q = new URLSearchParams();
  if (filter.event !== undefined) q.set("event", filter.event);
  if (filter.agent !== undefined) q.set("agent", filter.agent);
  if (filter.tool !== undefined) q.set("tool", filter.tool);
  q.set("after", String(after));
  return q.toString();
}

function listBody(
  filter: PageFilter,
  records: readonly AuditRecord[],
  newest: number,
  csrf: string,
): Html {
  const options = AUDIT_EVENTS.map((e) =>
    e === filter.event
      ? html`<option value="${e}" selected>${e}</option>`
      : html`<option value="${e}">${e}</option>`
  );
  const what = filter.event || filter.agent || filter.tool ? "matching records" : "records";
  return html`
    <h2>Filter</h2>
    <form method="get" action="/audit" class="filters">
      <label for="f-event">Event
        <select id="f-event" name="event"><option value="">Any event</option>${options}</select></label>
      <label for="f-agent">Agent <input id="f-agent" name="agent" value="${filter.agent ??
        ""}"></label>
      <label for="f-tool">Tool <input id="f-tool" name="tool" value="${filter.tool ?? ""}"></label>
      <label for="f-limit">Records <input id="f-limit" name="limit" type="number" min="1"
        max="${MAX_LIMIT}" value="${filter.limit}"></label>
      <button type="submit" class="primary">Filter</button>
      <a href="/audit">Clear filters</a>
    </form>
    <h2>Integrity</h2>
    <p>Check the hash chain of the whole log and its signed checkpoints (as <code>loom audit verify</code>).</p>
    ${actionButton("/audit/verify", "Verify now", csrf)}
    <h2>Records</h2>
    <p id="audit-live" class="muted" role="status" aria-live="polite"
      data-stream="/api/audit/stream?${queryOf(filter, newest)}"></p>
    <div id="audit-records">
    <table>
      <caption>The latest ${what}, newest first (at most ${filter.limit})</caption>
      <thead><tr>${["Seq", "Time", "Event", "Agent", "Tool", "Details"].map((h) =>
        html`<th scope="col">${h}</th>`
      )}</tr></thead>
      <tbody>${records.map(recordRow)}</tbody>
    </table>
    ${records.length === 0 ? html`<p class="empty" id="audit-empty">No ${what}.</p>` : ""}
    </div>
  `;
}

function recordRow(r: AuditRecord): Html {
  return html`
    <tr>
      <td><a href="/audit/record/${String(r.seq)}">${String(r.seq)}</a></td>
      <td>${String(r.ts)}</td>
      <td>${String(r.event)}</td>
      <td>${String(r.agent)}</td>
      <td>${r.tool === null || r.tool === undefined ? "—" : String(r.tool)}</td>
      <td class="mono">${summary(r)}</td>
    </tr>
  `;
}

/** The record's other fields as `key=value`, cut to a line's worth. */
export function summary(r: AuditRecord): string {
  const text = Object.entries(r)
    .filter(([k]) => !SUMMARY_SKIP.has(k))
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join(" ");
  return text.length > 240 ? `${text.slice(0, 239)}…` : text;
}

function detailBody(r: AuditRecord): Html {
  const rows = Object.entries(r).map(([k, v]) =>
    html`
      <dt>${k}</dt>
      <dd>${typeof v === "object" && v !== null
        ? html`<pre>${JSON.stringify(v, null, 2)}</pre>`
        : html`<code>${String(v)}</code>`}</dd>
    `
  );
  return html`<p><a href="/audit">Back to the audit log</a></p>
<h2>Fields</h2>
<dl class="facts">${rows}</dl>
<h2>As stored</h2>
<pre>${JSON.stringify(r, null, 2)}</pre>`;
}

/** The flash of a verification: verified or failed, with counts or the reason. */
export function verifyMessage(report: AuditCheckReport): string {
  const { chain, checkpoints } = report;
  const marks = checkpoints.total > 0
    ? `; checkpoints: ${checkpoints.verified} of ${checkpoints.total} verified`
    : "";
  const bad = chain.firstBad;
  if (report.ok) {
    return `Audit log verified: ${chain.records} records intact, last seq ${chain.lastSeq}${marks}`;
  }
  const problems = report.verdicts.filter((v) => v.severity !== "warning");
  const first = bad ?? problems[0];
  const where = first === undefined
    ? ""
    : `: ${first.kind} at ${first.seq === null ? "?" : `seq ${first.seq}`} (line ${first.line}): ` +
      first.detail;
  return `Audit log verification FAILED${where}; ${chain.records} records verified before it, ` +
    `last good seq ${chain.lastSeq}${marks}; ${problems.length} problem(s) in all`;
}
