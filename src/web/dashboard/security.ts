/**
 * The dashboard's security page, `/security`, read through the same modules
 * as the CLI:
 *
 * - credential policy: the secrets' names (never values: listing reads no
 *   key) and their grants, each pinned to a config digest or a signing key,
 *   as `loom secrets list -l` and `loom secrets policy` show them;
 * - config signatures: every config of the agents directory and its
 *   signature's verdict, as `loom sign verify DIR` computes it (read-only:
 *   no version is accepted, and a page view records nothing);
 * - quarantine: the pending entries, each linking to its review page
 *   (`quarantine_page.ts`, where it is promoted or rejected);
 * - anomalies: the latest `anomaly` audit records, newest first, from a
 *   bounded read of the log (`loom audit show`'s reader).
 *
 * @module
 */

import { join } from "node:path";
import { html } from "hono/html";
import { loadConfig } from "../../config/mod.ts";
import { ConfigError, formatConfigIssue, LoomError } from "../../errors.ts";
import { type AuditRecord, readAuditRecords } from "../../security/audit/mod.ts";
import { CredentialBroker, SIGNER_PIN_PREFIX } from "../../security/secrets/mod.ts";
import { checkConfigSignature, type SignatureCheck } from "../../security/signing/mod.ts";
import { type LoomHome, Quarantine } from "../../store/mod.ts";
import {
  type DashboardApp,
  type DashboardContext,
  render,
  type RouteModule,
  withAuditLog,
} from "./app.ts";
import { type Html, table } from "./_html.ts";
import { quarantineRoutes } from "./quarantine_page.ts";

/** How many anomaly records the page shows, at most. */
export const ANOMALY_LIMIT = 50;

/** The `/security` page and the quarantine review pages. */
export const securityRoutes: RouteModule = (
  app: DashboardApp,
  context: DashboardContext,
): void => {
  app.get("/security", async (c) => {
    const body = html`
      <h2 id="credentials">Credential policy</h2>
      ${await section(() => credentialPolicy(context))}
      <h2 id="signatures">Config signatures</h2>
      ${await section(() => configSignatures(context))}
      <h2 id="quarantine">Quarantine</h2>
      ${await section(() => quarantineList(context.home))}
      <h2 id="anomalies">Anomalies</h2>
      ${await section(() => anomalies(context.home))}
    `;
    return render(c, "Security", "/security", body);
  });
  quarantineRoutes(app, context);
};

/** One section; a LOOM error (a file not private, say) is shown in its place. */
async function section(build: () => Promise<Html>): Promise<Html> {
  try {
    return await build();
  } catch (error) {
    if (!(error instanceof LoomError)) throw error;
    return html`<p class="status-bad" role="alert">Cannot read this: ${error.message}</p>`;
  }
}

/** Secret names and grants: the broker's `list` and `policy`, which decrypt nothing. */
async function credentialPolicy(context: DashboardContext): Promise<Html> {
  // No environment: listing names and grants needs no master key. The broker
  // takes the audit writer (the mesh's own under "loom mesh --dashboard").
  const { secrets, grants } = await withAuditLog(context, async (audit) => {
    await using broker = await CredentialBroker.open({ home: context.home, env: new Map(), audit });
    return { secrets: await broker.list(), grants: broker.policy() };
  });
  return html`
    ${table(
      "Stored secrets (names only)",
      ["Name", "Version", "Updated"],
      secrets.map((s) => [html`<code>${s.name}</code>`, s.version, s.updatedAt]),
      'none stored (add one with "loom secrets set KEY")',
    )}
    ${table(
      "Grants",
      ["Agent", "Secret", "Pinned to", "Granted"],
      grants.map((g) => [g.agent, html`<code>${g.key}</code>`, pin(g.configDigest), g.grantedAt]),
      'none (add one with "loom secrets grant AGENT KEY --config PATH")',
    )}
  `;
}

function pin(configDigest: string): Html {
  return configDigest.startsWith(SIGNER_PIN_PREFIX)
    ? html`signing key <code>${configDigest.slice(SIGNER_PIN_PREFIX.length)}</code>`
    : html`config <code>sha256:${configDigest}</code>…`;
}

/** One config of the agents directory and its verdict. */
export interface ConfigVerdict {
  file: string;
  /** The agent's name, when the config loads. */
  agent?: string;
  /** The signature check, when it loads. */
  check?: SignatureCheck;
  /** The loader's problems, when it does not. */
  problems?: string[];
}

/**
 * The verdict of every regular `*.yaml`/`*.yml` file of a directory (symlinks
 * skipped), as `loom sign verify DIR`: the config loader, then the signature
 * check without accepting its version.
 */
export async function verifyConfigDir(home: LoomHome, dir: string): Promise<ConfigVerdict[]> {
  const files: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (/\.ya?ml$/.test(entry.name) && entry.isFile) files.push(join(dir, entry.name));
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
  const verdicts: ConfigVerdict[] = [];
  for (const file of files.sort()) {
    try {
      const config = await loadConfig(file);
      const subject = { name: config.name, path: file, digest: config.source.digest };
      verdicts.push({ file, agent: config.name, check: await checkConfigSignature(home, subject) });
    } catch (error) {
      if (error instanceof ConfigError) {
        verdicts.push({ file, problems: error.issues.map(formatConfigIssue) });
      } else if (error instanceof LoomError) {
        verdicts.push({ file, problems: [error.message] });
      } else throw error;
    }
  }
  return verdicts;
}

async function configSignatures(context: DashboardContext): Promise<Html> {
  const verdicts = await verifyConfigDir(context.home, context.agentsDir);
  return table(
    "Signature of each config in the agents directory",
    ["File", "Agent", "Verdict", "Details"],
    verdicts.map((v) => [
      html`<code>${baseName(v.file)}</code>`,
      v.agent ?? "",
      verdictBadge(v),
      verdictDetail(v),
    ]),
    "no configs in the agents directory",
  );
}

function verdictBadge(v: ConfigVerdict): Html {
  if (v.check === undefined) return html`<span class="verdict-bad">does not load</span>`;
  const verdict = v.check.verdict;
  if (verdict === "valid") return html`<span class="verdict-ok">valid</span>`;
  if (verdict === "unsigned") return html`<span class="status-warn">unsigned</span>`;
  return html`<span class="verdict-bad">${verdict}</span>`;
}

function verdictDetail(v: ConfigVerdict): Html | string {
  const check = v.check;
  if (check === undefined) {
    return html`<ul>${(v.problems ?? []).map((p) => html`<li><code>${p}</code></li>`)}</ul>`;
  }
  if (check.verdict === "valid") {
    return html`${check.algorithm} key <code>${check.keyId}</code>, version ${check.version},
      signed ${check.signedAt}, expires ${check.expires}`;
  }
  if (check.verdict === "unsigned") return "no .sig file beside it";
  const key = check.keyId === undefined ? "" : html`
    (key <code>${check.keyId}</code>)
  `;
  return html`${check.detail}${key}`;
}

async function quarantineList(home: LoomHome): Promise<Html> {
  const quarantine = await Quarantine.open(home);
  const entries = await quarantine.list();
  return table(
    "Configs waiting for review",
    ["Name", "Digest", "Size (bytes)", "Source", "Submitted by", "Added"],
    entries.map((e) => [
      html`<a href="/security/quarantine/${e.name}">${e.name}</a>`,
      html`<code>${e.digest.slice(0, 12)}</code>`,
      e.size,
      e.source,
      e.submittedBy ?? "(not recorded)",
      e.addedAt,
    ]),
    'none pending (add a config with "loom quarantine add PATH")',
  );
}

async function anomalies(home: LoomHome): Promise<Html> {
  const records = await readAuditRecords(home.audit, { event: "anomaly", limit: ANOMALY_LIMIT });
  return table(
    `Latest anomalies (at most ${ANOMALY_LIMIT}, newest first)`,
    ["Time", "Agent", "Kind", "Detail"],
    records.reverse().map((r) => [r.ts, r.agent, String(r.kind ?? ""), anomalyDetail(r)]),
    "none recorded",
  );
}

/** What an anomaly record says besides its kind: names and counts only. */
function anomalyDetail(r: AuditRecord): string {
  const parts: string[] = [String(r.action ?? "")];
  if (r.tool !== null) parts.push(`tool ${r.tool}`);
  if (typeof r.count === "number") {
    parts.push(
      typeof r.threshold === "number"
        ? `${r.count} (threshold ${r.threshold})`
        : `count ${r.count}`,
    );
  }
  if (typeof r.window_ms === "number" && r.window_ms > 0) {
    parts.push(`within ${r.window_ms / 1000} s`);
  }
  if (typeof r.suppressed === "number" && r.suppressed > 0) {
    parts.push(`${r.suppressed} suppressed`);
  }
  if (typeof r.result === "string") parts.push(`webhook ${r.result}`);
  if (typeof r.reason === "string") parts.push(r.reason);
  return parts.join(", ");
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}
