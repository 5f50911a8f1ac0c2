/**
 * The Topology page (`/topology`): who talks to whom, drawn on the server
 * as inline SVG from the live configs of the agents directory: the client,
 * the mesh, each agent (a box with the class `tier-N` of its trust tier and
 * its tool count), and each upstream host (`host:port` of its bridges, or
 * the MCP upstream server of a gateway agent), joined by lines. Below it,
 * the same as a table, for screen readers and tests.
 *
 * Layout: four columns; agents and hosts each take one row, so 1 agent and
 * 50 agents both stay readable (the drawing scrolls inside its frame).
 *
 * @module
 */

import { html } from "hono/html";
import { type DashboardApp, type DashboardContext, render, type RouteModule } from "./app.ts";
import { type Html, table, tierBadge } from "./_html.ts";
import { type AgentFile, loadAgentFiles, toolCountOf, upstreamHostsOf } from "./_agents_data.ts";

/** The Topology page's routes. */
export const topologyRoutes: RouteModule = (
  app: DashboardApp,
  context: DashboardContext,
): void => {
  app.get("/topology", async (c) => render(c, "Topology", "/topology", await body(context)));
};

/** One agent as drawn. */
interface AgentNode {
  name: string;
  tier: number;
  tools: number;
  hosts: string[];
}

const ROW = 48;
const TOP = 24;
const BOX_H = 36;
const COLUMNS = { client: 16, mesh: 176, agent: 356, host: 636 };
const WIDTH = 900;
const BOX_W = { client: 120, mesh: 120, agent: 220, host: 248 };

async function body(context: DashboardContext): Promise<Html> {
  const files = await loadAgentFiles(context.agentsDir);
  const agents = nodesOf(files);
  const hosts = [...new Set(agents.flatMap((a) => a.hosts))].sort();
  const broken = files.filter((f) => f.config === null);
  return html`
    <section aria-labelledby="map-h">
      <h2 id="map-h">Map</h2>
      <div class="topology-frame">${drawing(agents, hosts)}</div>
    </section>
    <section aria-labelledby="table-h">
    <h2 id="table-h">Agents and their upstream hosts</h2>
    ${table(
      "Topology: client, mesh, agents and the upstream hosts each reaches",
      ["Agent", "Tier", "Tools", "Upstream hosts"],
      agents.map((a) => [
        html`<a href="/agents/${encodeURIComponent(a.name)}">${a.name}</a>`,
        tierBadge(a.tier),
        a.tools,
        a.hosts.length === 0
          ? html`<span class="muted">none</span>`
          : html`${
            a.hosts.map((h, i) => html`${i > 0 ? ", " : ""}<span class="mono">${h}</span>`)
          }`,
      ]),
      "no agent config loads from the agents directory.",
    )}
    ${broken.length === 0 ? "" : html`
      <p
        class="status-bad">Not drawn: ${broken.length} config${broken.length === 1
          ? " that fails"
          : "s that fail"} to load (see <a href="/agents">Agents</a>).</p>
    `}
    </section>
  `;
}

function nodesOf(files: AgentFile[]): AgentNode[] {
  return files.flatMap((f) =>
    f.config === null ? [] : [{
      name: f.config.name,
      tier: f.config.runtime.trustTier,
      tools: toolCountOf(f.config),
      hosts: upstreamHostsOf(f.config),
    }]
  );
}

/** The drawing: columns client, mesh, agents, hosts; one row per agent and per host. */
function drawing(agents: AgentNode[], hosts: string[]): Html {
  const rows = Math.max(1, agents.length, hosts.length);
  const height = TOP * 2 + rows * ROW;
  const middle = TOP + (rows * ROW) / 2;
  const agentY = (i: number) => rowY(i, agents.length, rows);
  const hostY = new Map(hosts.map((h, i) => [h, rowY(i, hosts.length, rows)]));
  const edges: Html[] = [
    line(COLUMNS.client + BOX_W.client, middle, COLUMNS.mesh, middle),
  ];
  agents.forEach((a, i) => {
    edges.push(line(COLUMNS.mesh + BOX_W.mesh, middle, COLUMNS.agent, agentY(i)));
    for (const h of a.hosts) {
      edges.push(line(COLUMNS.agent + BOX_W.agent, agentY(i), COLUMNS.host, hostY.get(h)!));
    }
  });
  const summary = `The client connects to the mesh, which serves ${agents.length} agent${
    agents.length === 1 ? "" : "s"
  } reaching ${hosts.length} upstream host${
    hosts.length === 1 ? "" : "s"
  }; the table below lists them.`;
  return html`
    <svg role="img" aria-labelledby="topo-title topo-desc" class="topology"
      viewBox="0 0 ${WIDTH} ${height}" width="${WIDTH}" height="${height}">
    <title id="topo-title">Topology of the mesh</title>
    <desc id="topo-desc">${summary}</desc>
    ${edges}
    ${box("client", COLUMNS.client, middle - BOX_H / 2, BOX_W.client, "client", "MCP client")}
    ${box("mesh", COLUMNS.mesh, middle - BOX_H / 2, BOX_W.mesh, "mesh", "loom mesh")}
    ${agents.map((a, i) =>
      box(
        `agent tier-${a.tier}`,
        COLUMNS.agent,
        agentY(i) - BOX_H / 2,
        BOX_W.agent,
        a.name,
        `tier ${a.tier} · ${a.tools} tool${a.tools === 1 ? "" : "s"}`,
      )
    )}
    ${hosts.map((h) =>
      box("host", COLUMNS.host, hostY.get(h)! - BOX_H / 2, BOX_W.host, h, "upstream")
    )}
    </svg>
  `;
}

/** The centre (y) of item `i` of `count`, spread over `rows` rows. */
function rowY(i: number, count: number, rows: number): number {
  const offset = ((rows - count) * ROW) / 2;
  return TOP + offset + i * ROW + ROW / 2;
}

function line(x1: number, y1: number, x2: number, y2: number): Html {
  return html`<line class="edge" x1="${x1}" y1="${y1}" x2="${x2}" y2="${y2}"></line>`;
}

function box(kind: string, x: number, y: number, w: number, label: string, sub: string): Html {
  const shown = label.length > 30 ? `${label.slice(0, 29)}…` : label;
  return html`
    <g class="node ${kind}">
      <title>${label} (${sub})</title>
      <rect x="${x}" y="${y}" width="${w}" height="${BOX_H}" rx="4"></rect>
      <text x="${x + 8}" y="${y + 15}">${shown}</text>
      <text class="sub" x="${x + 8}" y="${y + 30}">${sub}</text>
    </g>
  `;
}
