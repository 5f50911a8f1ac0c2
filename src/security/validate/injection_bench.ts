/**
 * Cost of {@linkcode detectInjection} on the short strings a tool call
 * usually carries, and on a longer prose paragraph. The detector runs on every
 * string argument of every call, so this is on the hot path.
 *
 * Run: `deno bench src/security/validate/injection_bench.ts`
 *
 * @module
 */

import { detectInjection } from "./injection.ts";

const SHORT = [
  "42",
  "octocat",
  "hello-world",
  "open",
  "2024-01-01T00:00:00Z",
  "sum by (job) (up)",
  'rate(http_requests_total{job="api"}[5m])',
  "Fix the login page",
  "user@example.com",
  "https://example.com/api/v1/query?query=up&time=1700000000",
] as const;

const NON_ASCII = ["naïve café résumé", "Привет, мир", "数据库连接失败", "Grüße aus Köln"] as const;

const PROSE = "The login page shows a blank screen after the 2.3 update; users on Safari " +
  "report it most often. Steps: open /login, enter a valid email and password, press " +
  "Sign in. Expected: the dashboard. Actual: a white page, and the console logs " +
  "`TypeError: cannot read properties of undefined (reading 'id')`. Rolling back to 2.2 " +
  "fixes it. See the release notes and the linked pull request for the change that " +
  "touched the session cookie & the redirect handler.";

Deno.bench("detectInjection() on 10 short ASCII arguments", { group: "short" }, () => {
  for (const s of SHORT) detectInjection(s, []);
});

Deno.bench("detectInjection() on 4 short non-ASCII arguments", { group: "non-ascii" }, () => {
  for (const s of NON_ASCII) detectInjection(s, []);
});

Deno.bench("detectInjection() on a 470-character prose paragraph", { group: "prose" }, () => {
  detectInjection(PROSE, []);
});
