/**
 * The dashboard's guards, as an attacker meets them: no session, a wrong
 * token, too many tries, a foreign or missing Origin, a rebinding Host, a
 * missing or wrong CSRF token; and the headers and cookie flags every
 * answer carries. A test page module gives the guards something to guard.
 *
 * @module
 */

import assert from "node:assert/strict";
import { html } from "hono/html";
import { render, type RouteModule } from "./app.ts";
import { LOGIN_FAILURES_PER_MINUTE } from "./_session.ts";
import { TEST_ORIGIN, TEST_TOKEN, testDashboard } from "./_testing.ts";
import { serveDashboard } from "./serve.ts";
import { ensureHome, resolveHome } from "../../store/mod.ts";

/** A page and a state change, counted. */
function probePage(): { routes: RouteModule; changes: string[] } {
  const changes: string[] = [];
  const routes: RouteModule = (app) => {
    app.get("/probe", (c) => render(c, "Probe", "/", html`<p>probe page</p>`));
    app.get("/probe/broken", () => {
      throw new Error("secret-internal-detail");
    });
    app.post("/probe/change", async (c) => {
      const form = await c.req.parseBody();
      changes.push(String(form.what ?? ""));
      return c.text("changed");
    });
  };
  return { routes, changes };
}

const HOST = "127.0.0.1:8300";

Deno.test("dashboard: without a session a page redirects to /login and an API path answers 401", async () => {
  const probe = probePage();
  await using dash = await testDashboard({ routes: [probe.routes] });
  const page = await dash.app.request(`${TEST_ORIGIN}/probe`, { headers: { host: HOST } });
  assert.equal(page.status, 303);
  assert.equal(page.headers.get("location"), "/login");
  const api = await dash.app.request(`${TEST_ORIGIN}/api/session`, { headers: { host: HOST } });
  assert.equal(api.status, 401);
  const forged = await dash.app.request(`${TEST_ORIGIN}/probe`, {
    headers: { host: HOST, cookie: "loom_dashboard=" + "0".repeat(64) },
  });
  assert.equal(forged.status, 303);
  const post = await dash.app.request(`${TEST_ORIGIN}/probe/change`, {
    method: "POST",
    headers: { host: HOST, origin: TEST_ORIGIN },
    body: new URLSearchParams({ what: "x" }),
  });
  assert.equal(post.status, 401);
  assert.deepEqual(probe.changes, []);
});

Deno.test("dashboard: a wrong token is refused, and too many tries are throttled", async () => {
  await using dash = await testDashboard({ routes: [] });
  const login = (token: string) =>
    dash.app.request(`${TEST_ORIGIN}/login`, {
      method: "POST",
      headers: { host: HOST, origin: TEST_ORIGIN },
      body: new URLSearchParams({ token }),
    });
  for (let i = 0; i < LOGIN_FAILURES_PER_MINUTE; i++) {
    const wrong = await login(`wrong-token-${i}-0123456789`);
    assert.equal(wrong.status, 401);
    assert.equal(wrong.headers.get("set-cookie"), null);
    assert.doesNotMatch(await wrong.text(), new RegExp(TEST_TOKEN));
  }
  const throttled = await login(TEST_TOKEN);
  assert.equal(throttled.status, 429, "the right token after five failures");
});

Deno.test("dashboard: a state change needs this dashboard's Origin and the session's CSRF token", async () => {
  const probe = probePage();
  await using dash = await testDashboard({ routes: [probe.routes] });
  const send = (headers: Record<string, string>, fields: Record<string, string>) =>
    dash.app.request(`${TEST_ORIGIN}/probe/change`, {
      method: "POST",
      headers: { host: HOST, cookie: dash.cookie, ...headers },
      body: new URLSearchParams(fields),
    });
  const noOrigin = await send({}, { csrf: dash.csrf, what: "no-origin" });
  assert.equal(noOrigin.status, 403);
  const foreign = await send({ origin: "http://evil.example" }, {
    csrf: dash.csrf,
    what: "foreign",
  });
  assert.equal(foreign.status, 403);
  const otherPort = await send({ origin: "http://127.0.0.1:9999" }, {
    csrf: dash.csrf,
    what: "other-port",
  });
  assert.equal(otherPort.status, 403);
  const noCsrf = await send({ origin: TEST_ORIGIN }, { what: "no-csrf" });
  assert.equal(noCsrf.status, 403);
  const wrongCsrf = await send({ origin: TEST_ORIGIN }, { csrf: "0".repeat(64), what: "wrong" });
  assert.equal(wrongCsrf.status, 403);
  assert.deepEqual(probe.changes, []);
  const ok = await dash.post("/probe/change", { what: "ok" });
  assert.equal(ok.status, 200);
  const header = await dash.app.request(`${TEST_ORIGIN}/probe/change`, {
    method: "POST",
    headers: { host: HOST, cookie: dash.cookie, origin: TEST_ORIGIN, "x-csrf-token": dash.csrf },
  });
  assert.equal(header.status, 200);
  assert.deepEqual(probe.changes, ["ok", ""]);
});

Deno.test("dashboard: a Host that is not the dashboard's (DNS rebinding) is refused", async () => {
  const probe = probePage();
  await using dash = await testDashboard({ routes: [probe.routes] });
  const res = await dash.app.request(`${TEST_ORIGIN}/probe`, {
    headers: { host: "attacker.example:8300", cookie: dash.cookie },
  });
  assert.equal(res.status, 403);
  assert.doesNotMatch(await res.text(), /probe page/);
});

Deno.test("dashboard: every answer carries the strict headers; the cookie is HttpOnly and SameSite=Strict", async () => {
  const probe = probePage();
  await using dash = await testDashboard({ routes: [probe.routes], token: null });
  const first = await dash.app.request(`${TEST_ORIGIN}/probe`, { headers: { host: HOST } });
  const cookie = first.headers.get("set-cookie") ?? "";
  assert.match(cookie, /HttpOnly/);
  assert.match(cookie, /SameSite=Strict/);
  assert.doesNotMatch(cookie, /Secure/, "plain http");
  for (const path of ["/probe", "/login", "/assets/dashboard.css", "/nope"]) {
    const res = await dash.get(path);
    await res.body?.cancel();
    const csp = res.headers.get("content-security-policy") ?? "";
    assert.match(csp, /default-src 'none'/, path);
    assert.match(csp, /script-src 'self'(;|$)/, path);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/, path);
    assert.equal(res.headers.get("x-frame-options"), "DENY", path);
    assert.equal(res.headers.get("x-content-type-options"), "nosniff", path);
  }
  const secure = await dash.app.request("https://127.0.0.1:8300/probe", {
    headers: { host: HOST },
  });
  assert.match(secure.headers.get("set-cookie") ?? "", /Secure/);
  const page = await (await dash.get("/probe")).text();
  assert.doesNotMatch(page, /<script(?![^>]*\bsrc=)/, "an inline script");
  assert.doesNotMatch(page, /\sstyle=|\son[a-z]+=/i, "an inline style or handler");
});

Deno.test("dashboard: logging out ends the session", async () => {
  const probe = probePage();
  await using dash = await testDashboard({ routes: [probe.routes] });
  assert.equal((await dash.get("/probe")).status, 200);
  const out = await dash.post("/logout");
  assert.equal(out.status, 303);
  const after = await dash.get("/probe");
  assert.equal(after.status, 303);
  assert.equal(after.headers.get("location"), "/login");
});

Deno.test("dashboard: off loopback it will not start without a token, nor with a short one", async () => {
  const root = await Deno.makeTempDir();
  try {
    const home = await ensureHome(resolveHome(new Map([["LOOM_HOME", root]])));
    const context = { home, agentsDir: root };
    assert.throws(() => serveDashboard({ context, host: "0.0.0.0", port: 0 }), /without a token/);
    assert.throws(
      () => serveDashboard({ context, host: "127.0.0.1", port: 0, token: "short" }),
      /at least 16/,
    );
    const served = serveDashboard({ context, port: 0 });
    try {
      const res = await fetch(`${served.url}login`);
      assert.equal(res.status, 200);
      assert.match(await res.text(), /No token is needed here/);
    } finally {
      await served.shutdown();
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("dashboard: served over TLS, the session cookie carries Secure", async () => {
  const tls = new URL("../../../tests/fixtures/tls/", import.meta.url);
  const [cert, key, ca] = await Promise.all(
    ["leaf.pem", "leaf.key", "ca.pem"].map((f) => Deno.readTextFile(new URL(f, tls))),
  );
  const root = await Deno.makeTempDir();
  const client = Deno.createHttpClient({ caCerts: [ca] });
  try {
    const home = await ensureHome(resolveHome(new Map([["LOOM_HOME", root]])));
    const served = serveDashboard({
      context: { home, agentsDir: root },
      host: "127.0.0.1",
      port: 0,
      token: TEST_TOKEN,
      tls: { cert, key },
    });
    try {
      assert.match(served.url, /^https:\/\//);
      const origin = `https://localhost:${served.port}`;
      const login = await fetch(`${origin}/login`, {
        method: "POST",
        headers: { origin },
        body: new URLSearchParams({ token: TEST_TOKEN }),
        redirect: "manual",
        client,
      });
      assert.equal(login.status, 303, await login.text());
      const cookie = login.headers.get("set-cookie") ?? "";
      assert.match(cookie, /HttpOnly/);
      assert.match(cookie, /SameSite=Strict/);
      assert.match(cookie, /Secure/);
    } finally {
      await served.shutdown();
    }
  } finally {
    client.close();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("dashboard: a fault in a page is a plain 500 with the strict headers, without its detail", async () => {
  const probe = probePage();
  await using dash = await testDashboard({ routes: [probe.routes] });
  const logged: unknown[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => logged.push(args);
  try {
    const res = await dash.get("/probe/broken");
    assert.equal(res.status, 500);
    assert.doesNotMatch(await res.text(), /secret-internal-detail/);
    assert.match(res.headers.get("content-security-policy") ?? "", /default-src 'none'/);
    assert.equal(res.headers.get("x-frame-options"), "DENY");
  } finally {
    console.error = original;
  }
  assert.equal(logged.length, 1, "the fault is logged for the operator");
});
