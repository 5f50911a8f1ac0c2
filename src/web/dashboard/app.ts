/**
 * The dashboard's Hono app: the guards every request passes, then the pages.
 *
 * In order, for every request:
 * 1. security headers on every answer: a strict Content-Security-Policy
 *    (only the program's own `/assets/`, no inline script or style, no
 *    framing), `X-Frame-Options: DENY`, `nosniff`, a referrer only to the
 *    dashboard itself, no caching;
 * 2. `Host` must be one the bind address allows (DNS rebinding), and a
 *    request that changes state must carry an `Origin` equal to the
 *    dashboard's own;
 * 3. a session: from the `HttpOnly`, `SameSite=Strict` cookie; without one,
 *    a page redirects to `/login` (an API path answers 401) when a token is
 *    required, and a new session starts when none is (loopback, no token);
 * 4. a state-changing request must send the session's CSRF token (form
 *    field `csrf` or header `X-CSRF-Token`).
 *
 * Then each page module's routes (`ROUTES`); they read LOOM's state through
 * the same modules as the CLI and act through the same functions.
 *
 * @module
 */

import { Hono } from "hono";
import type { Context } from "hono";
import { getCookie, setCookie } from "hono/cookie";
import { html } from "hono/html";
import type { LoomHome } from "../../store/mod.ts";
import { AuditLog } from "../../security/audit/mod.ts";
import { checkOrigin, hostName, type OriginPolicy } from "../guard.ts";
import { ASSETS } from "./_assets.ts";
import { type Html, page } from "./_html.ts";
import { sameSecret, type Session, SESSION_COOKIE, Sessions } from "./_session.ts";

/** Where the dashboard reads and writes LOOM's state. */
export interface DashboardContext {
  home: LoomHome;
  /** The agents directory the mesh serves (promotions go there). */
  agentsDir: string;
  /** The clock, in milliseconds (tests). */
  now?: () => number;
  /**
   * The audit log's writer when this process already has it open (`loom mesh
   * --dashboard`: one writer per process); otherwise a page that records
   * something opens the log for that change and closes it.
   */
  audit?: AuditLog;
}

/** Hono's environment of the dashboard. */
export type DashboardEnv = {
  Bindings: Partial<Pick<Deno.ServeHandlerInfo, "remoteAddr">> | undefined;
  Variables: { session: Session };
};

/** The app type page modules add routes to. */
export type DashboardApp = Hono<DashboardEnv>;
/** A request's context in a page module. */
export type DashboardContextOf = Context<DashboardEnv>;

/** A page module: adds its routes. */
export type RouteModule = (app: DashboardApp, context: DashboardContext) => void;

/** Options of {@linkcode createDashboardApp}. */
export interface DashboardAppOptions {
  context: DashboardContext;
  /** The login token; null when none is needed (only on loopback). */
  token: string | null;
  /** Hosts and origins allowed (`originPolicy()` of the bind address). */
  policy: OriginPolicy;
  /** The page modules, in order. */
  routes: readonly RouteModule[];
}

/** The Content-Security-Policy of every answer. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join("; ");

const SAFE_METHODS = new Set(["GET", "HEAD"]);

/**
 * The dashboard app.
 *
 * @returns the app and its session table
 */
export function createDashboardApp(
  options: DashboardAppOptions,
): { app: DashboardApp; sessions: Sessions } {
  const sessions = new Sessions(options.token, options.context.now);
  const app: DashboardApp = new Hono<DashboardEnv>();

  app.use("*", async (c, next) => {
    await next();
    const h = c.res.headers;
    h.set("content-security-policy", CONTENT_SECURITY_POLICY);
    h.set("x-frame-options", "DENY");
    h.set("x-content-type-options", "nosniff");
    // Not "no-referrer": with it a browser sends "Origin: null" on a form's POST.
    h.set("referrer-policy", "same-origin");
    h.set("cross-origin-opener-policy", "same-origin");
    h.set("cross-origin-resource-policy", "same-origin");
    if (!h.has("cache-control")) h.set("cache-control", "no-store");
  });

  app.use("*", async (c, next) => {
    const refused = checkOrigin(withHost(c), options.policy);
    if (refused !== null) return c.text(`Forbidden: ${refused}`, 403);
    if (!SAFE_METHODS.has(c.req.method) && !sameOrigin(c)) {
      return c.text("Forbidden: a request that changes state must come from this dashboard", 403);
    }
    await next();
    return undefined;
  });

  app.get("/assets/:name", (c) => {
    const asset = ASSETS[c.req.param("name")];
    if (asset === undefined) return c.text("Not found", 404);
    return c.body(asset.body, 200, {
      "content-type": asset.type,
      "cache-control": "no-cache",
    });
  });

  app.get("/login", (c) => c.html(loginPage(sessions.tokenRequired, undefined)));
  app.post("/login", async (c) => {
    const form = await c.req.parseBody();
    const token = typeof form.token === "string" ? form.token : "";
    const verdict = sessions.checkToken(token, clientOf(c));
    if (verdict === "throttled") {
      return c.html(loginPage(true, "Too many failed logins: wait a minute."), 429);
    }
    if (verdict === "wrong") return c.html(loginPage(true, "That token is not right."), 401);
    startSession(c, sessions);
    return c.redirect("/", 303);
  });

  app.use("*", async (c, next) => {
    let session = sessions.get(getCookie(c, SESSION_COOKIE));
    if (session === undefined) {
      if (sessions.tokenRequired) {
        if (c.req.path.startsWith("/api/")) return c.json({ error: "Log in first" }, 401);
        if (!SAFE_METHODS.has(c.req.method)) return c.text("Log in first", 401);
        return c.redirect("/login", 303);
      }
      if (!SAFE_METHODS.has(c.req.method)) return c.text("Forbidden: no session", 403);
      session = startSession(c, sessions);
    }
    c.set("session", session);
    if (!SAFE_METHODS.has(c.req.method) && !(await csrfOk(c, session))) {
      return c.text("Forbidden: missing or wrong CSRF token; reload the page", 403);
    }
    await next();
    return undefined;
  });

  app.post("/logout", (c) => {
    sessions.end(c.get("session").id);
    setCookie(c, SESSION_COOKIE, "", cookieOptions(c, 0));
    return c.redirect("/login", 303);
  });

  // The session's CSRF token, for scripts and tests (a cross-origin page cannot read it).
  app.get(
    "/api/session",
    (c) => c.json({ csrf: c.get("session").csrf, tokenRequired: sessions.tokenRequired }),
  );

  for (const routes of options.routes) routes(app, options.context);
  app.notFound((c) => c.text("Not found", 404));
  // A fault in a page is LOOM's bug: logged for the operator, a plain 500 for the browser.
  app.onError((error, c) => {
    console.error("loom: dashboard error:", error);
    return c.text("Internal error: see the log of the process serving the dashboard", 500);
  });
  return { app, sessions };
}

const auditQueues = new WeakMap<DashboardContext, Promise<unknown>>();

/**
 * Run a change that writes audit records with the audit log's writer: the
 * process's own (`context.audit`, under `loom mesh --dashboard`), else the
 * log opened for this change and closed after it, one change at a time (a
 * process has one writer).
 *
 * @param context the dashboard's context
 * @param fn the change
 */
export function withAuditLog<T>(
  context: DashboardContext,
  fn: (audit: AuditLog) => Promise<T>,
): Promise<T> {
  const own = context.audit;
  if (own !== undefined) return fn(own);
  const run = async (): Promise<T> => {
    await using audit = await AuditLog.open(context.home.audit);
    return await fn(audit);
  };
  const previous = auditQueues.get(context) ?? Promise.resolve();
  const result = previous.then(run, run);
  auditQueues.set(context, result.catch(() => undefined));
  return result;
}

/**
 * Answer a page in the shell, with the session's CSRF token and its flash.
 *
 * @param c the request
 * @param title the page's heading
 * @param active the navigation entry to mark
 * @param body the page's content
 * @param status the HTTP status (200)
 * @param scripts page scripts from `/assets/` (besides `dashboard.js`)
 */
export function render(
  c: DashboardContextOf,
  title: string,
  active: string,
  body: Html,
  status: 200 | 400 | 404 | 409 = 200,
  scripts: readonly string[] = [],
): Response | Promise<Response> {
  const session = c.get("session");
  const flash = session.flash;
  session.flash = undefined;
  return c.html(
    page({ title, active, csrf: session.csrf, flash, canLogout: true, body, scripts }),
    status,
  );
}

/**
 * Redirect after a form (POST, redirect, GET) with a message for the next page.
 *
 * @param c the request
 * @param path where to go (a dashboard path)
 * @param kind ok or error
 * @param text the message (escaped when shown)
 */
export function redirectWithFlash(
  c: DashboardContextOf,
  path: string,
  kind: "ok" | "error",
  text: string,
): Response {
  c.get("session").flash = { kind, text: text.slice(0, 500) };
  return c.redirect(path.startsWith("/") && !path.startsWith("//") ? path : "/", 303);
}

function startSession(c: Context<DashboardEnv>, sessions: Sessions): Session {
  const session = sessions.create();
  setCookie(c, SESSION_COOKIE, session.id, cookieOptions(c, undefined));
  return session;
}

function cookieOptions(c: Context<DashboardEnv>, maxAge: number | undefined) {
  return {
    path: "/",
    httpOnly: true,
    sameSite: "Strict" as const,
    secure: new URL(c.req.url).protocol === "https:",
    ...(maxAge === undefined ? {} : { maxAge }),
  };
}

/**
 * The request's host: `Host` over HTTP/1.1; HTTP/2 (what a browser speaks
 * over TLS) has none, and Deno puts its `:authority` in the request URL.
 */
function hostOf(c: Context<DashboardEnv>): string | undefined {
  const header = c.req.header("host");
  if (header !== undefined) return header;
  const authority = new URL(c.req.url).host;
  return authority === "" ? undefined : authority;
}

/** The request's headers, with `Host` from the authority when it has none (HTTP/2). */
function withHost(c: Context<DashboardEnv>): Headers {
  if (c.req.header("host") !== undefined) return c.req.raw.headers;
  const headers = new Headers(c.req.raw.headers);
  const host = hostOf(c);
  if (host !== undefined) headers.set("host", host);
  return headers;
}

/** The request's `Origin` is the dashboard's own (scheme and `Host`). */
function sameOrigin(c: Context<DashboardEnv>): boolean {
  const origin = c.req.header("origin");
  const host = hostOf(c);
  if (origin === undefined || host === undefined) return false;
  const scheme = new URL(c.req.url).protocol;
  return origin.toLowerCase() === `${scheme}//${host.toLowerCase()}` &&
    hostName(host) !== "";
}

async function csrfOk(c: Context<DashboardEnv>, session: Session): Promise<boolean> {
  let presented = c.req.header("x-csrf-token");
  if (presented === undefined) {
    const type = c.req.header("content-type") ?? "";
    if (/^(application\/x-www-form-urlencoded|multipart\/form-data)/i.test(type)) {
      const form = await c.req.parseBody();
      if (typeof form.csrf === "string") presented = form.csrf;
    }
  }
  return presented !== undefined && sameSecret(presented, session.csrf);
}

function clientOf(c: Context<DashboardEnv>): string {
  const remote = c.env?.remoteAddr;
  return remote && "hostname" in remote ? remote.hostname : "local";
}

function loginPage(tokenRequired: boolean, error: string | undefined): Html {
  const message = error === undefined
    ? ""
    : html`<p class="flash flash-error" role="alert">${error}</p>`;
  const hint = tokenRequired
    ? html`<p>Enter the dashboard token (the file given to <code>--token-file</code>).</p>`
    : html`<p>No token is needed here: <a href="/">open the dashboard</a>.</p>`;
  return html`
    <!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Log in · LOOM</title>
        <link rel="stylesheet" href="/assets/dashboard.css">
      </head>
      <body>
        <main id="main" class="login">
    <h1>LOOM dashboard</h1>
    ${message}${hint}
    <form method="post" action="/login">
    <label for="token">Token</label>
    <input id="token" name="token" type="password" autocomplete="current-password" required>
    <button type="submit" class="primary">Log in</button>
    </form>
        </main>
      </body>
    </html>
  `;
}
