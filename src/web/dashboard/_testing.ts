/**
 * Test support for the dashboard's `app.request()` tests: a real
 * `$LOOM_HOME` and agents directory in a temp dir, the app with every page
 * module, and a logged-in client that sends the session cookie, the
 * `Origin` and `Host` a browser would, and the CSRF token on state changes.
 *
 * @module
 */

import { join } from "node:path";
import { ensureHome, type LoomHome, resolveHome } from "../../store/mod.ts";
import { originPolicy } from "../guard.ts";
import { createDashboardApp, type DashboardApp, type RouteModule } from "./app.ts";
import { SESSION_COOKIE } from "./_session.ts";
import { ROUTES } from "./routes.ts";

/** The dashboard's test origin. */
export const TEST_ORIGIN = "http://127.0.0.1:8300";
/** A token tests log in with. */
export const TEST_TOKEN = "dashboard-test-token-0123456789";

/** A dashboard on temp state, and a logged-in client. */
export interface TestDashboard extends AsyncDisposable {
  app: DashboardApp;
  home: LoomHome;
  agentsDir: string;
  root: string;
  /** The session cookie (`loom_dashboard=...`). */
  cookie: string;
  /** The session's CSRF token. */
  csrf: string;
  /** A GET as the logged-in browser. */
  get(path: string): Promise<Response>;
  /** A form POST as the logged-in browser, with the CSRF token. */
  post(path: string, fields?: Record<string, string>): Promise<Response>;
}

/**
 * Start a dashboard on fresh state and log in.
 *
 * @param options routes (default: every page), and whether a token is set (default yes)
 */
export async function testDashboard(
  options: { routes?: readonly RouteModule[]; token?: string | null } = {},
): Promise<TestDashboard> {
  const root = await Deno.makeTempDir({ prefix: "loom-dashboard-test-" });
  const home = await ensureHome(resolveHome(new Map([["LOOM_HOME", join(root, "home")]])));
  const agentsDir = join(root, "agents");
  await Deno.mkdir(agentsDir);
  const token = options.token === undefined ? TEST_TOKEN : options.token;
  const { app } = createDashboardApp({
    context: { home, agentsDir },
    token,
    policy: originPolicy("127.0.0.1"),
    routes: options.routes ?? ROUTES,
  });
  const login = await app.request(`${TEST_ORIGIN}/login`, {
    method: "POST",
    headers: { origin: TEST_ORIGIN, host: "127.0.0.1:8300" },
    body: new URLSearchParams({ token: token ?? "" }),
  });
  const cookie = /loom_dashboard=[0-9a-f]+/.exec(login.headers.get("set-cookie") ?? "")?.[0];
  if (cookie === undefined) throw new Error(`login failed: ${login.status}`);
  const csrf = await csrfOf(app, cookie);
  const headers = (extra: Record<string, string> = {}) => ({
    cookie,
    host: "127.0.0.1:8300",
    origin: TEST_ORIGIN,
    ...extra,
  });
  return {
    app,
    home,
    agentsDir,
    root,
    cookie,
    csrf,
    get: async (path) => await app.request(`${TEST_ORIGIN}${path}`, { headers: headers() }),
    post: async (path, fields = {}) =>
      await app.request(`${TEST_ORIGIN}${path}`, {
        method: "POST",
        headers: headers(),
        body: new URLSearchParams({ csrf, ...fields }),
      }),
    async [Symbol.asyncDispose]() {
      await Deno.remove(root, { recursive: true });
    },
  };
}

/** The session's CSRF token, from `/api/session`. */
async function csrfOf(app: DashboardApp, cookie: string): Promise<string> {
  const res = await app.request(`${TEST_ORIGIN}/api/session`, {
    headers: { cookie, host: "127.0.0.1:8300" },
  });
  const body = await res.json() as { csrf?: string };
  if (typeof body.csrf !== "string") throw new Error("no CSRF token in /api/session");
  return body.csrf;
}

export { SESSION_COOKIE };
