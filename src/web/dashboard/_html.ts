/**
 * The dashboard's page shell and small HTML pieces, written with Hono's
 * `html` template tag, which escapes every interpolated value (text from
 * configs and audit records is data, never markup). No inline script and no
 * inline style anywhere: the Content-Security-Policy allows only the
 * program's own `/assets/` files.
 *
 * @module
 */

import { html } from "hono/html";
import type { HtmlEscapedString } from "hono/utils/html";

/** What a page body is: escaped HTML, possibly still resolving. */
export type Html = HtmlEscapedString | Promise<HtmlEscapedString>;

/** The pages in the navigation, in order: path, label. */
export const PAGES: readonly { path: string; label: string }[] = [
  { path: "/", label: "Overview" },
  { path: "/topology", label: "Topology" },
  { path: "/agents", label: "Agents" },
  { path: "/audit", label: "Audit" },
  { path: "/approvals", label: "Approvals" },
  { path: "/security", label: "Security" },
];

/** What the shell of a page needs. */
export interface PageShell {
  /** The page's `<h1>` and `<title>`. */
  title: string;
  /** The navigation entry to mark current (its path). */
  active: string;
  /** The session's CSRF token, for forms and for the script's requests. */
  csrf: string;
  /** A one-time message from the previous request. */
  flash?: { kind: "ok" | "error"; text: string };
  /** Whether a logout button is shown (a token is in use). */
  canLogout: boolean;
  body: Html;
  /** Page scripts, names of `/assets/` files (besides `dashboard.js`). */
  scripts?: readonly string[];
}

/** A whole page. */
export function page(shell: PageShell): Html {
  const nav = PAGES.map((p) =>
    p.path === shell.active
      ? html`<a href="${p.path}" aria-current="page">${p.label}</a>`
      : html`<a href="${p.path}">${p.label}</a>`
  );
  const flash = shell.flash === undefined
    ? ""
    : html`<p class="flash flash-${shell.flash.kind}" role="status">${shell.flash.text}</p>`;
  const logout = shell.canLogout
    ? html`<form method="post" action="/logout" class="logout">${csrfField(shell.csrf)}
        <button type="submit">Log out</button></form>`
    : "";
  return html`
    <!doctype html>
    <html lang="en">
      <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <meta name="csrf-token" content="${shell.csrf}">
    <title>${shell.title} · LOOM</title>
    <link rel="stylesheet" href="/assets/dashboard.css">
    <script type="module" src="/assets/dashboard.js"></script>
    ${(shell.scripts ?? []).map((name) =>
      html`<script type="module" src="/assets/${name}"></script>`
    )}
      </head>
      <body>
        <a class="skip" href="#main">Skip to content</a>
        <header class="top">
    <a class="brand" href="/">LOOM</a>
    <nav aria-label="Main">${nav}</nav>
    ${logout}
        </header>
        <main id="main">
    <h1>${shell.title}</h1>
    ${flash}
    ${shell.body}
        </main>
      </body>
    </html>
  `;
}

/** The hidden CSRF field every form carries. */
export function csrfField(csrf: string): Html {
  return html`<input type="hidden" name="csrf" value="${csrf}">`;
}

/** A POST form of one button (approve, deny, promote, ...). */
export function actionButton(
  action: string,
  label: string,
  csrf: string,
  options: { fields?: Record<string, string>; kind?: "primary" | "danger" } = {},
): Html {
  const fields = Object.entries(options.fields ?? {}).map(([name, value]) =>
    html`<input type="hidden" name="${name}" value="${value}">`
  );
  return html`<form method="post" action="${action}" class="inline">${csrfField(csrf)}${fields}
<button type="submit" class="${options.kind ?? "primary"}">${label}</button></form>`;
}

/** A table: a caption, column heads, and rows of cells (already HTML or text). */
export function table(
  caption: string,
  heads: readonly string[],
  rows: readonly (readonly (Html | string | number)[])[],
  empty = "None.",
): Html {
  if (rows.length === 0) return html`<p class="empty">${caption}: ${empty}</p>`;
  return html`
    <table>
      <caption>${caption}</caption>
      <thead>
        <tr>${heads.map((h) => html`<th scope="col">${h}</th>`)}</tr>
      </thead>
      <tbody>${rows.map((r) => html`<tr>${r.map((cell) => html`<td>${cell}</td>`)}</tr>`)}</tbody>
    </table>
  `;
}

/** A tier badge, coloured by tier in the stylesheet. */
export function tierBadge(tier: number): Html {
  return html`<span class="tier tier-${String(tier)}">tier ${String(tier)}</span>`;
}
