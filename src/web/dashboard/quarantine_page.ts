/**
 * The dashboard's review of one quarantined config,
 * `/security/quarantine/:name`: its details, whether it loads (the loader's
 * problems as `file:line:column`), its YAML, and a unified diff against the
 * agent of that name in the agents directory; then the two decisions, which
 * act through the same functions as `loom quarantine promote | reject`
 * (`src/security/quarantine/`), recorded with the actor
 * {@linkcode DASHBOARD_ACTOR}:
 *
 * - POST `/security/quarantine/:name/promote` (`sign` optional): refused
 *   (409) when the entry does not load, or when the agents directory already
 *   has `NAME.yaml` (the dashboard never replaces an agent: that takes
 *   `loom quarantine promote --force` after a review);
 * - POST `/security/quarantine/:name/reject` (`reason` required).
 *
 * An unknown or malformed name is 404.
 *
 * @module
 */

import { join } from "node:path";
import { html } from "hono/html";
import { ConfigError, formatConfigIssue, LoomError, NotFoundError } from "../../errors.ts";
import { unifiedDiff } from "../../_util/diff.ts";
import {
  decodeQuarantined,
  MAX_REJECT_REASON,
  parseQuarantined,
  promoteQuarantined,
  rejectQuarantined,
  rejectReasonProblem,
} from "../../security/quarantine/mod.ts";
import { Quarantine, QUARANTINE_NAME, type QuarantineEntry } from "../../store/mod.ts";
import {
  type DashboardApp,
  type DashboardContext,
  type DashboardContextOf,
  redirectWithFlash,
  render,
  type RouteModule,
  withAuditLog,
} from "./app.ts";
import { csrfField, type Html } from "./_html.ts";

/** Who the dashboard records as deciding a quarantine transition. */
export const DASHBOARD_ACTOR = "dashboard:local";

const BACK = "/security#quarantine";

/** The review page and its two forms' targets. */
export const quarantineRoutes: RouteModule = (
  app: DashboardApp,
  context: DashboardContext,
): void => {
  app.get("/security/quarantine/:name", async (c) => {
    const found = await findEntry(context, c.req.param("name"));
    if (found === null) return notFound(c);
    return render(
      c,
      `Quarantine: ${found.entry.name}`,
      "/security",
      await review(c, context, found),
    );
  });

  app.post("/security/quarantine/:name/promote", async (c) => {
    const found = await findEntry(context, c.req.param("name"));
    if (found === null) return notFound(c);
    const { entry, text } = found;
    const parsed = parseQuarantined(text, entry.file);
    if (!parsed.ok) return refused(c, entry.name, "It does not load:", parsed.problems);
    const target = join(context.agentsDir, `${entry.name}.yaml`);
    if (await exists(target)) {
      return refused(c, entry.name, "The agents directory already has this agent:", [
        `${target} exists; the dashboard does not replace an agent ` +
        `(review it, then "loom quarantine promote ${entry.name} --force")`,
      ]);
    }
    const form = await c.req.parseBody();
    try {
      const promoted = await withAuditLog(context, async (audit) =>
        await promoteQuarantined({
          home: context.home,
          quarantine: await Quarantine.open(context.home),
          audit,
          name: entry.name,
          dir: context.agentsDir,
          sign: form.sign === "on" ? "ed25519" : undefined,
          actor: DASHBOARD_ACTOR,
        }));
      const signed = promoted.key ? `, signed with key ${promoted.key.keyId}` : "";
      const stale = promoted.staleSignature
        ? `; warning: ${promoted.target}.sig is for an earlier version, sign it again`
        : "";
      return redirectWithFlash(
        c,
        BACK,
        "ok",
        `Promoted ${promoted.name} to ${promoted.target}${signed}${stale}`,
      );
    } catch (error) {
      if (error instanceof NotFoundError && !(await exists(entry.file))) return notFound(c);
      if (!(error instanceof LoomError)) throw error;
      const problems = error instanceof ConfigError
        ? error.issues.map(formatConfigIssue)
        : [error.message];
      return refused(c, entry.name, "Not promoted:", problems);
    }
  });

  app.post("/security/quarantine/:name/reject", async (c) => {
    const found = await findEntry(context, c.req.param("name"));
    if (found === null) return notFound(c);
    const form = await c.req.parseBody();
    const reason = typeof form.reason === "string" ? form.reason : undefined;
    const problem = rejectReasonProblem(reason);
    if (problem !== null || reason === undefined) {
      return redirectWithFlash(
        c,
        `/security/quarantine/${found.entry.name}`,
        "error",
        problem === "invalid"
          ? `Not rejected: the reason must be at most ${MAX_REJECT_REASON} characters, on one line`
          : "Not rejected: a rejection needs a reason",
      );
    }
    const quarantine = await Quarantine.open(context.home);
    try {
      await withAuditLog(context, (audit) =>
        rejectQuarantined({
          quarantine,
          audit,
          name: found.entry.name,
          reason,
          actor: DASHBOARD_ACTOR,
        }));
    } catch (error) {
      if (error instanceof NotFoundError) return notFound(c);
      throw error;
    }
    return redirectWithFlash(c, BACK, "ok", `Rejected ${found.entry.name}: ${reason}`);
  });
};

interface Found {
  entry: QuarantineEntry;
  text: string;
}

/** The entry of that name and its text, or null when the name is malformed or unknown. */
async function findEntry(context: DashboardContext, name: string): Promise<Found | null> {
  if (!QUARANTINE_NAME.test(name)) return null;
  const quarantine = await Quarantine.open(context.home);
  try {
    const { entry, bytes } = await quarantine.get(name);
    return { entry, text: decodeQuarantined(bytes, entry.file) };
  } catch (error) {
    if (error instanceof NotFoundError) return null;
    throw error;
  }
}

async function review(
  c: DashboardContextOf,
  context: DashboardContext,
  found: Found,
): Promise<Html> {
  const { entry, text } = found;
  const parsed = parseQuarantined(text, entry.file);
  const loads = parsed.ok
    ? html`<p><span class="verdict-ok">Loads</span>: agent <code>${parsed.config.name}</code>,
        provenance ${parsed.config.provenance.source}.</p>`
    : html`
      <p><span class="verdict-bad">Does not load</span>: it cannot be promoted.</p>
      <ul>${parsed.problems.map((p) => html`<li><code>${p}</code></li>`)}</ul>
    `;
  const current = join(context.agentsDir, `${entry.name}.yaml`);
  const csrf = c.get("session").csrf;
  return html`
    <p><a href="${BACK}">Back to the security page</a></p>
    <h2>Entry</h2>
    <dl>
      <dt>Name</dt>
      <dd><code>${entry.name}</code></dd>
      <dt>SHA-256</dt>
      <dd><code>${entry.digest}</code></dd>
      <dt>Size</dt>
      <dd>${entry.size} bytes</dd>
      <dt>Source</dt>
      <dd>${entry.source}</dd>
      <dt>Submitted by</dt>
      <dd>${entry.submittedBy ?? "(not recorded)"}</dd>
      <dt>Added</dt>
      <dd>${entry.addedAt}</dd>
    </dl>
    ${loads}
    <h2>Changes against the current agent</h2>
    ${await diffView(current, entry.name, text)}
    <h2>Content</h2>
    <pre><code>${text}</code></pre>
    <h2>Decide</h2>
    <form method="post" action="/security/quarantine/${entry.name}/promote">
      ${csrfField(csrf)}
      <p>Promote writes it to the agents directory as <code>${entry.name}.yaml</code>
        (an existing agent is never replaced from here).</p>
      <p><input type="checkbox" id="sign" name="sign">
        <label for="sign">Sign it with this home's Ed25519 key</label></p>
      <button type="submit" class="primary">Promote</button>
    </form>
    <form method="post" action="/security/quarantine/${entry.name}/reject">
      ${csrfField(csrf)}
      <p><label for="reason">Reason for rejecting (recorded in the audit log)</label><br>
        <input type="text" id="reason" name="reason" required maxlength="${MAX_REJECT_REASON}"
          size="60"></p>
      <button type="submit" class="danger">Reject</button>
    </form>
  `;
}

async function diffView(current: string, name: string, text: string): Promise<Html> {
  const before = await readTextOrNull(current);
  if (before === null) {
    return html`<p class="muted">No current agent of that name: a new agent.</p>`;
  }
  const diff = unifiedDiff(before, text, {
    before: `agents/${name}.yaml`,
    after: `quarantine/${name}`,
  });
  if (diff === null) return html`<p class="muted">Too large to compare.</p>`;
  if (diff === "") return html`<p class="muted">Identical to the current agent.</p>`;
  const lines = diff.replace(/\n$/, "").split("\n").map((line) => {
    const kind = line.startsWith("+") && !line.startsWith("+++")
      ? "diff-add"
      : line.startsWith("-") && !line.startsWith("---")
      ? "diff-del"
      : "";
    return kind === "" ? html`${line}\n` : html`<span class="${kind}">${line}</span>\n`;
  });
  return html`<pre class="diff"><code>${lines}</code></pre>`;
}

function notFound(c: DashboardContextOf): Response | Promise<Response> {
  return render(
    c,
    "No such quarantine entry",
    "/security",
    html`<p>There is no pending entry of that name. <a href="${BACK}">See the quarantine</a>.</p>`,
    404,
  );
}

function refused(
  c: DashboardContextOf,
  name: string,
  lead: string,
  problems: readonly string[],
): Response | Promise<Response> {
  return render(
    c,
    `Not promoted: ${name}`,
    "/security",
    html`
      <p class="status-bad" role="alert">${lead}</p>
      <ul>${problems.map((p) => html`<li><code>${p}</code></li>`)}</ul>
      <p><a href="/security/quarantine/${name}">Back to the entry</a></p>
    `,
    409,
  );
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

async function readTextOrNull(path: string): Promise<string | null> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}
