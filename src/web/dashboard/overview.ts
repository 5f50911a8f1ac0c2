/**
 * The Overview page (`/`): counts (agents that load and that fail, tools,
 * calls and denials in the last 24 hours, pending approvals, quarantine
 * entries waiting), the audit chain's status (the check of
 * `loom audit verify`, reused for 30 seconds) and its last signed
 * checkpoint, a chart of calls and denials per hour, the health of the
 * registered agents (`loom list`) and of the upstream hosts (calls and
 * errors in the last hour from the audit outcomes; nothing is probed).
 *
 * The counts sit in an element the shared script refreshes every 10 seconds
 * (`data-refresh`); the page works without it.
 *
 * @module
 */

import { html } from "hono/html";
import { type DashboardApp, type DashboardContext, render, type RouteModule } from "./app.ts";
import { type Html, table, tierBadge } from "./_html.ts";
import { loadAgentFiles, registryRows, type RegistryView, statusClass } from "./_agents_data.ts";
import { callsChart } from "./_chart.ts";
import {
  type AuditStatus,
  auditStatus,
  type HostHealth,
  type OverviewData,
  overviewData,
  TAIL_RECORDS,
} from "./_overview_data.ts";

/** The Overview's routes. */
export const overviewRoutes: RouteModule = (
  app: DashboardApp,
  context: DashboardContext,
): void => {
  app.get("/", async (c) => render(c, "Overview", "/", await overviewBody(context)));
};

async function overviewBody(context: DashboardContext): Promise<Html> {
  const now = context.now?.() ?? Date.now();
  const files = await loadAgentFiles(context.agentsDir);
  const [data, audit, registry] = await Promise.all([
    overviewData(context.home, files, now),
    auditStatus(context.home, now),
    registryRows(context.home),
  ]);
  return html`
    <section id="overview-counts" data-refresh="/" data-every="10" aria-labelledby="counts-h">
    <h2 id="counts-h">Counts</h2>
    ${cards(data)}
    ${data.recordsRead >= TAIL_RECORDS
      ? html`<p class="muted">Counted from the newest ${TAIL_RECORDS} audit records only.</p>`
      : ""}
    </section>
    <section aria-labelledby="audit-h">
    <h2 id="audit-h">Audit log</h2>
    ${auditSection(audit, now)}
    </section>
    <section aria-labelledby="chart-h">
    <h2 id="chart-h">Calls per hour</h2>
    ${callsChart(data.buckets, "calls-chart")}
    </section>
    <section aria-labelledby="agents-h">
    <h2 id="agents-h">Agent health</h2>
    ${agentHealth(registry)}
    </section>
    <section aria-labelledby="hosts-h">
    <h2 id="hosts-h">Upstream hosts</h2>
    ${hostTable(data.hosts)}
    </section>
  `;
}

function cards(d: OverviewData): Html {
  const card = (id: string, value: number, label: string, href: string) =>
    html`<a class="card" id="card-${id}" href="${href}"><span class="value">${value}</span>
<span class="label">${label}</span></a>`;
  return html`<div class="cards">
${card("agents", d.agentsLoaded, "agents", "/agents")}
${card("agents-failed", d.agentsFailed, "configs failing to load", "/agents")}
${card("tools", d.tools, "tools", "/agents")}
${card("calls", d.calls24h, "calls, last 24 h", "/audit")}
${card("denials", d.denials24h, "denials, last 24 h", "/audit")}
${card("approvals", d.pendingApprovals, "pending approvals", "/approvals")}
${card("quarantine", d.quarantineWaiting, "quarantine entries waiting", "/security")}
</div>`;
}

function auditSection(status: AuditStatus, now: number): Html {
  const checked = new Date(status.checkedAt).toISOString().replace(/\.[0-9]+Z$/, "Z");
  const age = Math.max(0, Math.round((now - status.checkedAt) / 1000));
  const when = html`<p class="muted">Checked at ${checked} (${age} s ago; checked again when
 the log grows, at most every 5 s, else every 30 s).</p>`;
  if (status.report === null) {
    return html`<p class="status-bad">The audit log could not be checked: ${status.error}</p>${when}`;
  }
  const { chain, checkpoints, ok } = status.report;
  const bad = chain.firstBad;
  const verdict = ok
    ? html`<p class="status-ok" id="audit-verdict">Intact: ${chain.records} records, last seq ${chain.lastSeq}.</p>`
    : html`
      <p class="status-bad"
        id="audit-verdict">Damaged${bad === undefined
          ? ""
          : html`: ${bad.kind} at ${
            bad.seq === null ? "?" : `seq ${bad.seq}`
          } (line ${bad.line}): ${bad.detail}`}. ${chain.records} records verified before it.</p>
    `;
  const problems = status.report.verdicts.filter((v) =>
    !(bad !== undefined && v.kind === bad.kind && v.line === bad.line && v.seq === bad.seq)
  );
  const last = checkpoints.last;
  const checkpoint = last === null
    ? html`<p>No signed checkpoint yet.</p>`
    : html`<p>Signed checkpoints: ${checkpoints.verified} of ${checkpoints.total} verified; the last
 covers ${last.size} records (${last.time}).</p>`;
  return html`${verdict}${checkpoint}${
    problems.length === 0
      ? ""
      : html`<ul>${
        problems.map((v) =>
          html`<li class="${v.severity === "warning" ? "status-warn" : "status-bad"}">${v.kind}${
            v.seq === null ? "" : ` at seq ${v.seq}`
          }: ${v.detail}</li>`
        )
      }</ul>`
  }${when}`;
}

function agentHealth(registry: Map<string, RegistryView>): Html {
  const rows = [...registry.values()].map((r) => [
    html`<a href="/agents/${encodeURIComponent(r.agent.name)}">${r.agent.name}</a>`,
    tierBadge(r.agent.tier),
    html`<span class="${statusClass(r.status)}">${r.status}</span>`,
    r.agent.pid === null ? "" : String(r.agent.pid),
    r.agent.lastSeen.replace(/\.[0-9]+Z$/, "Z"),
  ]);
  return table(
    "Registered agents (as loom list shows them)",
    ["Agent", "Tier", "Status", "Process", "Last seen"],
    rows,
    'none registered yet ("loom run" and "loom mesh" register the agents they serve).',
  );
}

function hostTable(hosts: HostHealth[]): Html {
  const rows = hosts.map((h) => [
    html`<span class="mono">${h.host}</span>`,
    h.agents.join(", "),
    h.calls,
    html`<span class="${h.errors > 0 ? "status-bad" : "status-ok"}">${h.errors}</span>`,
  ]);
  return table(
    "Upstream hosts: calls and errors in the last hour (from audit outcomes, no probing)",
    ["Host", "Agents", "Calls", "Errors"],
    rows,
    "no agent config names an upstream host.",
  );
}
