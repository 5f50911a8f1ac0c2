/**
 * One agent's page (`/agents/:name`): what `loom info` shows of it, read
 * from its config file as it is now: description, each tool with its
 * parameters (type, required, limits) and access, its bridges (method and
 * URL template; of headers only their names and the secret names they use,
 * never a value), tier, the sandbox's Deno flags (`denoFlagsFor()`, as
 * `loom sandbox` and `loom info` derive them), the signature verdict (as
 * `loom sign verify`), the pinned tool definitions (`loom pin list`), the
 * registry's row (`loom list`) and the config's path.
 *
 * @module
 */

import { basename } from "node:path";
import { html } from "hono/html";
import {
  type AgentConfig,
  type BridgeSpec,
  type ParamSpec,
  TIER_NAMES,
  type ToolSpec,
  type TrustTier,
} from "../../config/mod.ts";
import { denoFlagsFor } from "../../security/sandbox/mod.ts";
import { checkConfigSignature, type SignatureCheck } from "../../security/signing/mod.ts";
import { changedFields, type LoomHome, openStore, type PinRow } from "../../store/mod.ts";
import { type Html, table, tierBadge } from "./_html.ts";
import { type AgentFile, type RegistryView, statusClass, upstreamHostsOf } from "./_agents_data.ts";

const SECRET_REF = /\{\{\s*secret:([A-Za-z0-9_.-]+)\s*\}\}/g;

/**
 * The page of a config that loads.
 *
 * @param home the LOOM home (tool pins)
 * @param config the loaded config
 * @param signature its signature verdict
 * @param registered its registry row, when it has one
 */
export async function agentDetail(
  home: LoomHome,
  config: AgentConfig,
  signature: SignatureCheck,
  registered: RegistryView | undefined,
): Promise<Html> {
  let pins: PinRow[];
  {
    await using store = await openStore(home);
    pins = store.toolPins.list({ agent: config.name });
  }
  const sig = signatureText(signature);
  const tier = config.runtime.trustTier;
  const facts: [string, Html | string][] = [
    ["Description", config.description],
    ["Version", config.version],
    ["Tier", html`${tierBadge(tier)} ${TIER_NAMES[tier as TrustTier] ?? "unknown"}`],
    ["Signature", html`<span class="${statusClass(sig)}">${sig}</span>`],
    ["Provenance", provenanceText(config)],
    ["Status", registryText(registered, config)],
    ["Config file", html`<span class="mono">${config.source.path}</span>`],
    ["Digest", html`<span class="mono">sha256:${config.source.digest}</span>`],
    ["Upstream hosts", upstreamHostsOf(config).join(", ") || "none"],
  ];
  return html`
    <section aria-labelledby="about-h">
      <h2 id="about-h">About</h2>
      <dl class="facts">${facts.map(([k, v]) =>
        html`
          <dt>${k}</dt>
          <dd>${v}</dd>
        `
      )}</dl>
    </section>
    <section aria-labelledby="tools-h">
    <h2 id="tools-h">Tools (${config.tools.length})</h2>
    ${config.tools.map((t) => toolSection(t))}
    ${upstreamSection(config)}
    </section>
    <section aria-labelledby="bridges-h">
    <h2 id="bridges-h">Bridges</h2>
    ${table(
      "HTTP bridges: method, URL template, header names (values are never shown)",
      ["Tool", "Method", "URL template", "Headers"],
      config.bridges.map((
        b,
      ) => [b.toolName, b.method, html`<code>${b.url}</code>`, headerNames(b)]),
      "none.",
    )}
    </section>
    <section aria-labelledby="sandbox-h">
    <h2 id="sandbox-h">Sandbox</h2>
    ${sandboxSection(config)}
    </section>
    <section aria-labelledby="pins-h">
    <h2 id="pins-h">Pinned tool definitions</h2>
    ${table(
      "Pinned tool definitions (loom pin list)",
      ["Tool", "Pinned digest", "Pinned at", "By", "Status"],
      pins.map((p) => [
        p.tool,
        html`<span class="mono">${p.pinnedDigest.slice(0, 19)}</span>`,
        new Date(p.pinnedAt).toISOString(),
        p.pinnedBy,
        p.pending === null
          ? html`<span class="status-ok">ok</span>`
          : html`<span class="status-warn">changed: ${
            changedFields(p.pinned, p.pending.definition).join(", ")
          }</span>`,
      ]),
      "none pinned yet.",
    )}
    </section>
  `;
}

/** The page of a config that fails to load: its errors. */
export function brokenDetail(file: AgentFile): Html {
  return html`
    <section aria-labelledby="errors-h">
    <h2 id="errors-h">This config does not load</h2>
    <p>File <span class="mono">${file.file}</span> (${basename(file.file)}):</p>
    ${errorList(file.errors ?? [])}
    </section>
  `;
}

function registryText(r: RegistryView | undefined, config: AgentConfig): Html | string {
  if (r === undefined) return "not registered (not served yet)";
  const changed = r.agent.configDigest !== config.source.digest
    ? html`
      <span class="status-warn">(the file changed since it was registered)</span>
    `
    : "";
  return html`<span class="${statusClass(r.status)}">${r.status}</span>${
    r.agent.pid === null ? "" : ` (pid ${r.agent.pid}, ${r.agent.transport})`
  }; last seen ${r.agent.lastSeen}${changed}`;
}

function toolSection(t: ToolSpec): Html {
  const params = Object.entries(t.parameters).map(([name, p]) => [
    html`<code>${name}</code>`,
    p.type,
    p.required ? "required" : "optional",
    limitsOf(p),
    p.description ?? "",
  ]);
  return html`<h3><code>${t.name}</code> <span class="muted">${t.access}</span></h3>
<p>${
    t.title === undefined ? "" : html`
      <strong>${t.title}</strong>:
    `
  }${t.description}</p>
${
    table(
      `Parameters of ${t.name}`,
      ["Name", "Type", "Required", "Limits", "Description"],
      params,
      "none.",
    )
  }`;
}

/** A parameter's limits in words: enum, pattern, lengths, bounds. */
function limitsOf(p: ParamSpec): string {
  const parts: string[] = [];
  if (p.enum !== undefined) {
    const shown = p.enum.slice(0, 8).map((v) => JSON.stringify(v) ?? String(v)).join(", ");
    parts.push(`one of ${shown}${p.enum.length > 8 ? `, … ${p.enum.length - 8} more` : ""}`);
  }
  if (p.pattern !== undefined) {
    parts.push(`pattern ${p.pattern.length > 80 ? `${p.pattern.slice(0, 80)}…` : p.pattern}`);
  }
  if (p.minLength !== undefined) parts.push(`length ≥ ${p.minLength}`);
  if (p.maxLength !== undefined) parts.push(`length ≤ ${p.maxLength}`);
  if (p.minimum !== undefined) parts.push(`≥ ${p.minimum}`);
  if (p.maximum !== undefined) parts.push(`≤ ${p.maximum}`);
  if (p.items !== undefined) parts.push(`items: ${p.items.type}`);
  return parts.join("; ");
}

/** Header names, each with the secret names its value uses; never the value. */
function headerNames(b: BridgeSpec): Html | string {
  const names = Object.keys(b.headers).sort();
  if (names.length === 0) return "none";
  return html`${
    names.map((name, i) => {
      const secrets = [...b.headers[name].matchAll(SECRET_REF)].map((m) => m[1]);
      return html`${i > 0 ? ", " : ""}<code>${name}</code>${
        secrets.length === 0 ? "" : html`
          (secret ${secrets.join(", ")})
        `
      }`;
    })
  }`;
}

function upstreamSection(config: AgentConfig): Html | string {
  const up = config.mcpUpstream;
  if (up === null) return "";
  const where = up.url !== null
    ? html`<code>${up.url}</code>`
    : html`stdio: <code>${up.command?.[0] ?? ""}</code>`;
  const tools = up.tools === null ? "every tool it lists" : up.tools.map((t) => t.as).join(", ");
  return html`
    <h3>MCP upstream</h3>
    <p>Gateway to ${where}; serves ${tools}. Header names: ${Object.keys(up.headers).sort().join(
      ", ",
    ) || "none"}.</p>
  `;
}

function sandboxSection(config: AgentConfig): Html {
  const mode = config.runtime.sandbox;
  if (mode === "none") {
    return html`<p>Sandbox <code>none</code>: the agent runs in LOOM's own process (no Deno flags).</p>`;
  }
  let flags: string[];
  try {
    flags = denoFlagsFor(config);
  } catch (error) {
    return html`<p class="status-bad">Sandbox flags unknown: ${
      error instanceof Error ? error.message : String(error)
    }</p>`;
  }
  return html`<p>Sandbox <code>${mode}</code>; the agent host runs with these Deno flags (as
 <code>loom sandbox</code> derives them):</p>
<ul class="flags">${flags.map((f) => html`<li><code>${f}</code></li>`)}</ul>`;
}

/**
 * The config's signature verdict, as `loom sign verify` judges it (read-only).
 *
 * @param home the LOOM home (trusted keys, accepted versions)
 * @param config the loaded config
 */
export async function signatureOf(home: LoomHome, config: AgentConfig): Promise<SignatureCheck> {
  try {
    return await checkConfigSignature(home, {
      name: config.name,
      path: config.source.path,
      digest: config.source.digest,
    });
  } catch (error) {
    const detail = error instanceof Error ? error.message.split("\n")[0] : String(error);
    return { verdict: "malformed", detail: `cannot check: ${detail.slice(0, 300)}` };
  }
}

/** A verdict in words: `ok vN`, `unsigned`, or the verdict and why. */
export function signatureText(check: SignatureCheck): string {
  if (check.verdict === "valid") return `ok v${check.version}`;
  if (check.verdict === "unsigned") return "unsigned";
  return `failed: ${check.verdict}: ${check.detail}`;
}

/** Where a config came from: `human`, `imported`, `ai-generated (generator)`. */
export function provenanceText(config: AgentConfig): string {
  const { source, generator } = config.provenance;
  return generator === null ? source : `${source} (${generator})`;
}

/** Load errors as a list, one `file:line:column` line each. */
export function errorList(errors: readonly string[]): Html {
  return html`<ul class="errors">${errors.map((e) => html`<li><code>${e}</code></li>`)}</ul>`;
}
