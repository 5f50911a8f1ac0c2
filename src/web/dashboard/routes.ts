/**
 * The dashboard's page modules, in navigation order. Each adds its routes to
 * the app (`RouteModule` of `app.ts`); the app's guards (headers, Host and
 * Origin, session, CSRF) run before any of them.
 *
 * @module
 */

import type { RouteModule } from "./app.ts";
import { overviewRoutes } from "./overview.ts";
import { topologyRoutes } from "./topology.ts";
import { agentsRoutes } from "./agents.ts";
import { auditRoutes } from "./audit.ts";
import { approvalsRoutes } from "./approvals.ts";
import { securityRoutes } from "./security.ts";

/** Every page module. */
export const ROUTES: readonly RouteModule[] = [
  overviewRoutes,
  topologyRoutes,
  agentsRoutes,
  auditRoutes,
  approvalsRoutes,
  securityRoutes,
];
