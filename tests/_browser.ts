/**
 * A real headless Chromium for the dashboard's end-to-end tests, driven by
 * `playwright-core` (the Debian `chromium` package, which `.ci/run`
 * installs). Kept off the network three ways: its resolver maps every name
 * to nothing but loopback, its background services are switched off, and
 * every request the pages make is checked, so a request to anything but
 * 127.0.0.1 fails the test. A Content-Security-Policy violation reported on
 * the console fails it too. axe-core checks accessibility in the page as
 * served (its source is evaluated over the DevTools protocol, which the
 * page's CSP does not govern).
 *
 * @module
 */

import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import axe from "axe-core";

/** Where the Debian package puts Chromium. */
export const CHROMIUM = "/usr/bin/chromium";

/** Flags that keep Chromium to loopback and quiet. */
const OFFLINE_FLAGS = [
  "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-default-apps",
  "--disable-domain-reliability",
  "--disable-sync",
  "--no-first-run",
  "--no-pings",
  "--metrics-recording-only",
  "--no-sandbox", // CI runs as root, where Chromium's own sandbox cannot start
];

/** A browser, one context, and what the pages did wrong. */
export interface TestBrowser extends AsyncDisposable {
  browser: Browser;
  context: BrowserContext;
  page: Page;
  /** Requests to anything but 127.0.0.1, and CSP violations, as they happened. */
  problems: string[];
}

/**
 * Start Chromium with one page.
 *
 * @param options `ignoreHttpsErrors` for a server with the test CA's certificate
 * @throws {Error} when the Chromium binary is missing (the test fails; CI installs it)
 */
export async function startBrowser(
  options: { ignoreHttpsErrors?: boolean } = {},
): Promise<TestBrowser> {
  try {
    await Deno.stat(CHROMIUM);
  } catch {
    throw new Error(`${CHROMIUM} is missing: install the Debian package "chromium"`);
  }
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: OFFLINE_FLAGS,
  });
  const context = await browser.newContext({
    viewport: { width: 1280, height: 860 },
    // The test CA of tests/fixtures/tls is not in Chromium's store.
    ignoreHTTPSErrors: options.ignoreHttpsErrors ?? false,
  });
  const problems: string[] = [];
  await context.route("**/*", (route) => {
    const url = new URL(route.request().url());
    if (url.hostname === "127.0.0.1") return route.continue();
    problems.push(`request to ${url.origin}`);
    return route.abort("blockedbyclient");
  });
  const page = await context.newPage();
  page.on("console", (message) => {
    const text = message.text();
    if (/Content Security Policy|Refused to (load|execute|apply|connect)/i.test(text)) {
      problems.push(`CSP: ${text}`);
    }
  });
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  return {
    browser,
    context,
    page,
    problems,
    async [Symbol.asyncDispose]() {
      await context.close();
      await browser.close();
    },
  };
}

/** One accessibility violation axe reported. */
export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: number;
}

/**
 * Run axe-core on the page (WCAG 2.1 A and AA rules).
 *
 * @returns the serious and critical violations
 */
export async function seriousA11yViolations(page: Page): Promise<AxeViolation[]> {
  await page.evaluate(axe.source);
  const violations = await page.evaluate(async () => {
    // deno-lint-ignore no-explicit-any
    const page = globalThis as any;
    const result = await page.axe.run(page.document, {
      runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] },
    });
    // deno-lint-ignore no-explicit-any
    return result.violations.map((v: any) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.length,
    }));
  });
  return (violations as AxeViolation[]).filter((v) =>
    v.impact === "serious" || v.impact === "critical"
  );
}

/**
 * Save a screenshot when `LOOM_SCREENSHOTS_DIR` names a directory (the
 * README's pictures are made so: `LOOM_SCREENSHOTS_DIR=docs/screenshots`).
 */
export async function screenshot(page: Page, name: string): Promise<void> {
  const dir = Deno.env.get("LOOM_SCREENSHOTS_DIR");
  if (!dir) return;
  await Deno.mkdir(dir, { recursive: true });
  await page.screenshot({ path: `${dir}/${name}.png`, fullPage: true });
}
