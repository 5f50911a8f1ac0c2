/**
 * The dashboard's static files, kept in the program as text (no CDN, no
 * build step, nothing read from disk at run time, so a bundle or a compiled
 * binary carries them): the stylesheet, the shared script, and each page's
 * script. The shared script only adds behaviour to server-rendered pages
 * (every page works without it): it sends the CSRF token with the requests
 * it makes and refreshes elements marked `data-refresh`.
 *
 * @module
 */

import { AUDIT_JS } from "./_asset_audit.ts";

/** One static file. */
export interface Asset {
  type: string;
  body: string;
}

const CSS = `:root {
  color-scheme: light;
  --fg: #1d232b; --muted: #56606b; --bg: #f6f7f9; --card: #ffffff; --line: #d6dbe1;
  --accent: #1f5fbf; --ok: #1c6b38; --warn: #8a5a00; --bad: #a32020;
  --t1: #1c6b38; --t2: #1f5fbf; --t3: #8a5a00; --t4: #a32020;
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
}
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: var(--bg); }
a { color: var(--accent); }
code, pre, .mono { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 13px; }
pre { background: #eef1f4; padding: .75rem; overflow: auto; border-radius: 4px; max-height: 32rem; }
.skip { position: absolute; left: -999px; }
.skip:focus { left: 1rem; top: .5rem; background: var(--card); padding: .25rem .5rem; }
header.top { display: flex; align-items: center; gap: 1.5rem; padding: .6rem 1.5rem; background: #17202b; color: #fff; flex-wrap: wrap; }
header.top .brand { color: #fff; font-weight: 700; letter-spacing: .08em; text-decoration: none; }
header.top nav { display: flex; gap: 1rem; flex-wrap: wrap; }
header.top nav a { color: #d7e3f4; text-decoration: none; padding: .2rem 0; }
header.top nav a[aria-current="page"] { color: #fff; border-bottom: 2px solid #8fb8ff; }
header.top .logout { margin-left: auto; }
main { padding: 1rem 1.5rem 3rem; max-width: 82rem; }
main.login { max-width: 26rem; margin: 4rem auto; background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: 1.5rem; }
main.login input { display: block; width: 100%; margin: .35rem 0 1rem; padding: .45rem; }
h1 { font-size: 1.5rem; margin: .5rem 0 1rem; }
h2 { font-size: 1.15rem; margin: 1.75rem 0 .6rem; }
table { border-collapse: collapse; width: 100%; background: var(--card); margin-bottom: 1rem; }
caption { text-align: left; font-weight: 600; padding: .4rem 0; }
th, td { text-align: left; padding: .4rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: #eef1f4; font-weight: 600; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(11rem, 1fr)); gap: .75rem; margin-bottom: 1rem; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: .75rem 1rem; }
.card .value { font-size: 1.6rem; font-weight: 700; }
.card .label { color: var(--muted); }
.tier { display: inline-block; padding: 0 .45rem; border-radius: 3px; color: #fff; font-size: 12px; font-weight: 600; }
.tier-1 { background: var(--t1); } .tier-2 { background: var(--t2); } .tier-3 { background: var(--t3); } .tier-4 { background: var(--t4); }
.status-ok, .verdict-ok { color: var(--ok); font-weight: 600; }
.status-warn { color: var(--warn); font-weight: 600; }
.status-bad, .verdict-bad { color: var(--bad); font-weight: 600; }
.flash { padding: .5rem .75rem; border-radius: 4px; border: 1px solid; }
.flash-ok { background: #e7f4ea; border-color: #a9d3b5; color: var(--ok); }
.flash-error { background: #fbeaea; border-color: #e2b0b0; color: var(--bad); }
.empty { color: var(--muted); }
form.inline { display: inline; margin: 0 .25rem 0 0; }
button { font: inherit; padding: .3rem .8rem; border-radius: 4px; border: 1px solid var(--line); background: var(--card); color: var(--fg); cursor: pointer; }
button.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
button.danger { background: var(--bad); border-color: var(--bad); color: #fff; }
button:focus-visible, a:focus-visible, input:focus-visible, select:focus-visible { outline: 3px solid #8fb8ff; outline-offset: 1px; }
.filters { display: flex; gap: .75rem; flex-wrap: wrap; align-items: end; margin-bottom: 1rem; }
.filters label { display: flex; flex-direction: column; font-size: 13px; color: var(--muted); }
.filters input, .filters select { padding: .3rem; font: inherit; }
svg text { font: 12px system-ui, sans-serif; fill: var(--fg); }
svg .node rect { fill: var(--card); stroke: var(--line); }
svg .edge { stroke: #8a96a3; fill: none; }
svg .bar-calls { fill: var(--accent); } svg .bar-denials { fill: var(--bad); }
.diff-add { color: var(--ok); } .diff-del { color: var(--bad); }
.muted { color: var(--muted); }
.topology-frame { overflow: auto; max-height: 40rem; border: 1px solid var(--line); background: var(--card); margin-bottom: 1rem; }
svg .node.tier-1 rect { stroke: var(--t1); stroke-width: 3; } svg .node.tier-2 rect { stroke: var(--t2); stroke-width: 3; }
svg .node.tier-3 rect { stroke: var(--t3); stroke-width: 3; } svg .node.tier-4 rect { stroke: var(--t4); stroke-width: 3; }
svg text.sub { fill: var(--muted); font-size: 11px; }
a.card { display: block; color: inherit; text-decoration: none; }
.chart { margin: 0 0 1rem; background: var(--card); border: 1px solid var(--line); padding: .5rem; }
.legend::before { content: ""; display: inline-block; width: .8em; height: .8em; margin-right: .25em; }
.legend-calls::before { background: var(--accent); } .legend-denials::before { background: var(--bad); }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .3rem 1rem; background: var(--card); padding: .75rem 1rem; border: 1px solid var(--line); }
dl.facts dt { font-weight: 600; } dl.facts dd { margin: 0; }
ul.errors, ul.flags { margin: 0; padding-left: 1.2rem; }
`;

const DASHBOARD_JS = `// LOOM dashboard: behaviour added to server-rendered pages.
const csrf = document.querySelector('meta[name="csrf-token"]')?.getAttribute("content") ?? "";

/** fetch() with the session's CSRF token, same origin only. */
export async function send(path, options = {}) {
  const headers = new Headers(options.headers ?? {});
  headers.set("x-csrf-token", csrf);
  return await fetch(path, { ...options, headers, credentials: "same-origin" });
}

// An element with data-refresh="URL" and data-every="SECONDS" is replaced by the
// same element of URL's page every so often (counts on the overview).
for (const el of document.querySelectorAll("[data-refresh]")) {
  const every = Math.max(2, Number(el.dataset.every ?? "10")) * 1000;
  setInterval(async () => {
    const res = await fetch(el.dataset.refresh, { credentials: "same-origin" });
    if (!res.ok) return;
    const doc = new DOMParser().parseFromString(await res.text(), "text/html");
    const fresh = el.id ? doc.getElementById(el.id) : null;
    if (fresh) el.replaceChildren(...fresh.childNodes);
  }, every);
}
`;

/** The static files by name (`/assets/NAME`). */
export const ASSETS: Readonly<Record<string, Asset>> = {
  "dashboard.css": { type: "text/css; charset=utf-8", body: CSS },
  "dashboard.js": { type: "text/javascript; charset=utf-8", body: DASHBOARD_JS },
  "audit.js": { type: "text/javascript; charset=utf-8", body: AUDIT_JS },
};
