/**
 * The dashboard: a local web page to see and steer LOOM (`loom dashboard`,
 * `loom mesh --dashboard`). Server-rendered HTML on Hono, a few small
 * scripts for the live parts, every asset inside the program.
 *
 * - `app.ts`: the guards (headers, Host and Origin, session, CSRF) and the
 *   page helpers (`render`, `redirectWithFlash`);
 * - `routes.ts`: the page modules;
 * - `serve.ts`: the listener (loopback by default, a token elsewhere, TLS).
 *
 * @module
 */

export {
  CONTENT_SECURITY_POLICY,
  createDashboardApp,
  type DashboardApp,
  type DashboardAppOptions,
  type DashboardContext,
  type DashboardEnv,
  redirectWithFlash,
  render,
  type RouteModule,
} from "./app.ts";
export { ROUTES } from "./routes.ts";
export {
  DASHBOARD_PORT,
  type DashboardHandle,
  serveDashboard,
  type ServeDashboardOptions,
} from "./serve.ts";
export { MIN_TOKEN_LENGTH, SESSION_COOKIE } from "./_session.ts";
