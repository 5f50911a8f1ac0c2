/**
 * The dashboard in a real headless Chromium against a real `loom mesh
 * --dashboard` (stdio, spoken to with the MCP SDK client), a real upstream
 * on loopback and the real CLI: log in with the token; watch a call appear
 * in the live audit stream; approve a held call and see its retry run;
 * promote a quarantined config and see the mesh serve its tool; every page
 * passes axe-core with no serious violation, makes no request off loopback
 * and breaks no CSP rule. With `LOOM_SCREENSHOTS_DIR` set, each page is
 * photographed (the README's pictures).
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Page } from "playwright-core";
import { Client, StdioClientTransport } from "../../src/mcp/client.ts";
import { screenshot, seriousA11yViolations, startBrowser } from "../_browser.ts";
import { LOOM_FLAGS, MAIN, runLoom, startUpstream, tempDir } from "../_helpers.ts";

const TOKEN = "browser-test-token-7f3a9c2e51d8";

function shopYaml(url: string): string {
  return `agent:
  name: shop
  description: The shop's items
  exposes:
    - name: create_item
      description: Create an item in the shop
      access: write
      parameters:
        title: { type: string, max_length: 100 }
        amount: { type: integer }
  http_bridge:
    - tool_name: create_item
      method: POST
      url: "${url}/items"
      body_template: { title: "{{title}}", amount: "{{amount}}" }
  escalation_rules:
    - { name: big-amount, reason: "Large amounts need a look", param_gt: { amount: 500 } }
  runtime:
    trust_tier: 2
    sandbox: none
`;
}

function inventoryYaml(url: string): string {
  return `agent:
  name: inventory
  description: Stock levels
  exposes:
    - name: stock_level
      description: Show the stock level of every item
  http_bridge:
    - tool_name: stock_level
      url: "${url}/stock"
  runtime:
    sandbox: none
`;
}

/** `loom mesh DIR --dashboard` over stdio; resolves with the dashboard's URL. */
async function startMesh(agents: string, home: string, tokenFile: string) {
  const transport = new StdioClientTransport({
    command: Deno.execPath(),
    args: [
      ...LOOM_FLAGS,
      MAIN,
      "mesh",
      agents,
      "--dashboard",
      "--dashboard-port",
      "0",
      "--dashboard-token-file",
      tokenFile,
    ],
    env: { LOOM_HOME: home, NO_COLOR: "1" },
    stderr: "pipe",
  });
  let stderr = "";
  const url = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no dashboard URL:\n${stderr}`)), 30_000);
    transport.stderr?.on("data", (chunk: Uint8Array) => {
      stderr += new TextDecoder().decode(chunk);
      const m = /dashboard at (http:\/\/\S+)/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
  });
  const client = new Client({ name: "dashboard-e2e", version: "1.0.0" });
  await client.connect(transport);
  return { client, url: await url, stderr: () => stderr };
}

/** Open a page, check it with axe, and photograph it when it shows no temp-dir path. */
async function checkPage(page: Page, path: string, base: string, shot?: string): Promise<void> {
  await page.goto(new URL(path, base).href);
  const violations = await seriousA11yViolations(page);
  assert.deepEqual(violations, [], `${path}: ${JSON.stringify(violations)}`);
  if (shot !== undefined) await screenshot(page, shot);
}

type Result = { content?: unknown; isError?: boolean };
const textOf = (r: Result) => (r.content as { text: string }[]).map((c) => c.text).join("");

Deno.test("dashboard in Chromium: live audit, approving a held call, promoting a quarantined config", async () => {
  await using dir = await tempDir("loom-dashboard-e2e-");
  const home = join(dir.path, "home");
  const agents = join(dir.path, "agents");
  await Deno.mkdir(agents);
  const posted: string[] = [];
  await using api = await startUpstream(async (req) => {
    if (req.method === "POST") posted.push(await req.text());
    return Response.json(new URL(req.url).pathname === "/stock" ? { apples: 3 } : { ok: true });
  });
  await Deno.writeTextFile(join(agents, "shop.yaml"), shopYaml(api.url));
  const tokenFile = join(dir.path, "dashboard.token");
  await Deno.writeTextFile(tokenFile, `${TOKEN}\n`);
  const mesh = await startMesh(agents, home, tokenFile);
  await using browser = await startBrowser();
  const { page } = browser;
  try {
    // Log in: a wrong token first.
    await page.goto(mesh.url);
    assert.match(page.url(), /\/login$/);
    await page.getByLabel("Token").fill("not-the-token-at-all");
    await page.getByRole("button", { name: "Log in" }).click();
    await page.getByText("That token is not right.").waitFor();
    await page.getByLabel("Token").fill(TOKEN);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.getByRole("heading", { level: 1, name: "Overview" }).waitFor();
    await checkPage(page, "/", mesh.url);

    // A call appears in the live audit stream, without a reload.
    await page.goto(new URL("/audit", mesh.url).href);
    await page.getByText(/Live/).first().waitFor();
    const small = await mesh.client.callTool({
      name: "create_item",
      arguments: { title: "pen", amount: 5 },
    }) as Result;
    assert.equal(small.isError ?? false, false, textOf(small));
    await page.locator("table tbody tr", { hasText: "create_item" }).first().waitFor();
    await checkPage(page, "/audit", mesh.url);

    // A held call: approved in the dashboard, its retry runs.
    const held = await mesh.client.callTool({
      name: "create_item",
      arguments: { title: "car", amount: 900 },
    }) as Result;
    const id = /Approval ([0-9a-f]{16}) is pending/.exec(textOf(held))?.[1];
    assert.ok(id, textOf(held));
    assert.equal(posted.length, 1, "the held call went through");
    await page.goto(new URL("/approvals", mesh.url).href);
    const row = page.locator("tr", { hasText: id });
    await row.waitFor();
    await screenshot(page, "approvals");
    await row.getByRole("button", { name: "Approve" }).click();
    await page.locator(".flash-ok").waitFor();
    const retried = await mesh.client.callTool({
      name: "create_item",
      arguments: { title: "car", amount: 900 },
    }) as Result;
    assert.equal(retried.isError ?? false, false, textOf(retried));
    assert.equal(posted.length, 2);
    assert.match(posted[1], /"car"/);

    // A quarantined config, promoted in the dashboard, served by the mesh.
    const draft = join(dir.path, "inventory.yaml");
    await Deno.writeTextFile(draft, inventoryYaml(api.url));
    const added = await runLoom(["quarantine", "add", "inventory.yaml"], { home, cwd: dir.path });
    assert.equal(added.code, 0, added.stderr);
    await page.goto(new URL("/security", mesh.url).href);
    await page.getByRole("link", { name: "inventory" }).first().click();
    await page.getByText("stock_level").first().waitFor();
    await screenshot(page, "quarantine");
    await page.getByRole("button", { name: "Promote" }).click();
    await page.locator(".flash-ok").waitFor();
    let tools: string[] = [];
    for (let i = 0; i < 40 && !tools.includes("stock_level"); i++) {
      await new Promise((r) => setTimeout(r, 250));
      tools = (await mesh.client.listTools()).tools.map((t) => t.name);
    }
    assert.ok(tools.includes("stock_level"), `${tools.join(", ")}\n${mesh.stderr()}`);
    const stock = await mesh.client.callTool({ name: "stock_level", arguments: {} }) as Result;
    assert.match(textOf(stock), /apples/);

    const pages: [string, string?][] = [
      ["/", "overview"],
      ["/topology", "topology"],
      ["/agents"],
      ["/agents/shop"],
      ["/audit"],
      ["/approvals"],
      ["/security"],
      ["/login"],
    ];
    for (const [path, shot] of pages) await checkPage(page, path, mesh.url, shot);
    assert.deepEqual(browser.problems, []);
  } finally {
    await mesh.client.close();
  }
});

Deno.test("dashboard in Chromium over TLS: log in, the Secure session cookie, a page and a form work", async () => {
  await using dir = await tempDir("loom-dashboard-tls-e2e-");
  const home = join(dir.path, "home");
  const agents = join(dir.path, "agents");
  await Deno.mkdir(agents);
  const tls = new URL("../fixtures/tls/", import.meta.url);
  const tokenFile = join(dir.path, "dashboard.token");
  await Deno.writeTextFile(tokenFile, `${TOKEN}\n`);
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      ...LOOM_FLAGS,
      MAIN,
      "dashboard",
      "--port",
      "0",
      "--agents",
      agents,
      "--token-file",
      tokenFile,
      "--tls-cert",
      fileURLToPath(new URL("leaf.pem", tls)),
      "--tls-key",
      fileURLToPath(new URL("leaf.key", tls)),
    ],
    env: { LOOM_HOME: home, NO_COLOR: "1" },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!/dashboard at (\S+)/.test(text)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`loom dashboard ended:\n${text}`);
    text += value;
  }
  const url = /dashboard at (\S+)/.exec(text)![1];
  try {
    assert.match(url, /^https:\/\/127\.0\.0\.1:\d+\/$/);
    await using browser = await startBrowser({ ignoreHttpsErrors: true });
    const { page, context } = browser;
    await page.goto(url);
    await page.getByLabel("Token").fill(TOKEN);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.getByRole("heading", { level: 1, name: "Overview" }).waitFor();
    const [cookie] = await context.cookies();
    assert.equal(cookie.name, "loom_dashboard");
    assert.equal(cookie.secure, true);
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, "Strict");
    await page.goto(new URL("/audit", url).href);
    await page.getByRole("button", { name: "Verify now" }).click();
    // The form's POST passed the Origin and CSRF checks over TLS: Verify now answered.
    const flash = await page.locator(".flash").textContent();
    assert.match(flash ?? "", /Audit log/, flash ?? "");
    assert.deepEqual(browser.problems, []);
  } finally {
    child.kill("SIGTERM");
    await child.status;
    await reader.cancel();
  }
});
