/**
 * The Agents pages: `/agents` lists every config of the agents directory
 * (name, tier, tools, status from the agent registry as `loom list` shows
 * it, signature as `loom sign verify` checks it, provenance, file), and
 * each config that fails to load with its errors (`file:line:column`);
 * `/agents/:name` shows one agent (`_agent_detail.ts`). An unknown name is a
 * 404 page.
 *
 * Reading only: the signature check does not record anything or accept a
 * version (as `loom sign verify`), and no secret is resolved.
 *
 * @module
 */

import { basename } from "node:path";
import { html } from "hono/html";
import type { AgentConfig } from "../../config/mod.ts";
import type { LoomHome } from "../../store/mod.ts";
import { type DashboardApp, type DashboardContext, render, type RouteModule } from "./app.ts";
import { type Html, table, tierBadge } from "./_html.ts";
import {
  type AgentFile,
  loadAgentFiles,
  registryRows,
  type RegistryView,
  statusClass,
  toolCountOf,
} from "./_agents_data.ts";
import {
  agentDetail,
  brokenDetail,
  errorList,
  provenanceText,
  signatureOf,
  signatureText,
} from "./_agent_detail.ts";

/** The Agents pages' routes. */
export const agentsRoutes: RouteModule = (
  app: DashboardApp,
  context: DashboardContext,
): void => {
  app.get("/agents", async (c) => render(c, "Agents", "/agents", await listBody(context)));
  app.get("/agents/:name", async (c) => {
    const name = c.req.param("name");
    const files = await loadAgentFiles(context.agentsDir);
    const found = files.find((f) => f.config?.name === name);
    if (found?.config) {
      const [registry, signature] = await Promise.all([
        registryRows(context.home),
        signatureOf(context.home, found.config),
      ]);
      const body = await agentDetail(context.home, found.config, signature, registry.get(name));
      return render(c, `Agent ${name}`, "/agents", body);
    }
    const broken = files.find((f) => f.config === null && stemOf(f.file) === name);
    if (broken?.errors) {
      return render(c, `Config ${basename(broken.file)}`, "/agents", brokenDetail(broken));
    }
    const shown = name.length > 64 ? `${name.slice(0, 64)}…` : name;
    return render(
      c,
      "Agent not found",
      "/agents",
      html`<p>No agent named <code>${shown}</code> in the agents directory.
 <a href="/agents">See every agent</a>.</p>`,
      404,
    );
  });
};

async function listBody(context: DashboardContext): Promise<Html> {
  const files = await loadAgentFiles(context.agentsDir);
  const registry = await registryRows(context.home);
  const loaded = files.filter((f): f is AgentFile & { config: AgentConfig } => f.config !== null);
  const rows: (Html | string | number)[][] = [];
  // One at a time: each check reads this home's keys and its state database.
  for (const f of loaded) rows.push(await agentRow(context.home, f.config, registry));
  const broken = files.filter((f) => f.config === null);
  return html`
    <section aria-labelledby="agents-h">
    <h2 id="agents-h">Agents</h2>
    ${table(
      `Agents of the agents directory (${loaded.length})`,
      ["Name", "Tier", "Tools", "Status", "Signature", "Provenance", "File"],
      rows,
      "no config loads from the agents directory.",
    )}
    </section>
    <section aria-labelledby="broken-h">
    <h2 id="broken-h">Configs that fail to load</h2>
    ${table(
      `Configs that fail to load (${broken.length})`,
      ["File", "Errors"],
      broken.map((f) => [
        html`<a href="/agents/${encodeURIComponent(stemOf(f.file))}" class="mono">${
          basename(f.file)
        }</a>`,
        errorList(f.errors ?? []),
      ]),
      "every config loads.",
    )}
    </section>
  `;
}

async function agentRow(
  home: LoomHome,
  config: AgentConfig,
  registry: Map<string, RegistryView>,
): Promise<(Html | string | number)[]> {
  const seen = registry.get(config.name);
  const status = seen?.status ?? "not registered";
  const signature = signatureText(await signatureOf(home, config));
  return [
    html`<a href="/agents/${encodeURIComponent(config.name)}">${config.name}</a>`,
    tierBadge(config.runtime.trustTier),
    toolCountOf(config),
    html`<span class="${statusClass(status)}">${status}</span>`,
    html`<span class="${statusClass(signature)}">${signature}</span>`,
    provenanceText(config),
    html`<span class="mono">${config.source.path}</span>`,
  ];
}

function stemOf(file: string): string {
  return basename(file).replace(/\.ya?ml$/, "");
}
