/**
 * End to end: `loom dashboard` as a real process. It refuses a non-loopback
 * address without a token and a lone TLS file; on loopback it serves until
 * SIGTERM and then exits 0; with a token file it needs the token; a taken
 * port is a clear error.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { LOOM_FLAGS, MAIN, runLoom, tempDir } from "../_helpers.ts";

/** Start `loom dashboard ARGS`; resolves with its URL once it listens. */
async function startDashboard(args: string[], home: string) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [...LOOM_FLAGS, MAIN, "dashboard", ...args],
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
  const drained = (async () => {
    while (!(await reader.read()).done) { /* keep the pipe empty */ }
  })();
  return {
    url: /dashboard at (\S+)/.exec(text)![1],
    async stop(): Promise<number> {
      child.kill("SIGTERM");
      const status = await child.status;
      await drained;
      return status.code;
    },
  };
}

Deno.test("loom dashboard: refuses a public address without a token, and a lone TLS file", async () => {
  await using dir = await tempDir();
  const home = join(dir.path, "home");
  const open = await runLoom(["dashboard", "--host", "0.0.0.0", "--port", "0"], { home });
  assert.equal(open.code, 64);
  assert.match(open.stderr, /without a token: pass --token-file FILE/);
  const tls = await runLoom(["dashboard", "--tls-cert", "cert.pem"], { home });
  assert.equal(tls.code, 64);
  assert.match(tls.stderr, /--tls-cert and --tls-key go together/);
  const short = join(dir.path, "short.token");
  await Deno.writeTextFile(short, "too-short\n");
  const weak = await runLoom(["dashboard", "--port", "0", "--token-file", short], { home });
  assert.equal(weak.code, 64);
  assert.match(weak.stderr, /at least 16 characters/);
});

Deno.test("loom dashboard: serves on loopback until SIGTERM; with a token file the token is needed", async () => {
  await using dir = await tempDir();
  const home = join(dir.path, "home");
  const open = await startDashboard(["--port", "0"], home);
  const login = await fetch(`${open.url}login`);
  assert.match(await login.text(), /No token is needed here/);
  const taken = await runLoom(["dashboard", "--port", new URL(open.url).port], { home });
  assert.equal(taken.code, 69, taken.stderr);
  assert.match(taken.stderr, /is in use/);
  assert.equal(await open.stop(), 0);

  const tokenFile = join(dir.path, "dashboard.token");
  await Deno.writeTextFile(tokenFile, "cli-test-token-3b8e1f0a9d\n");
  const locked = await startDashboard(["--port", "0", "--token-file", tokenFile], home);
  try {
    const page = await fetch(locked.url, { redirect: "manual" });
    await page.body?.cancel();
    assert.equal(page.status, 303);
    assert.equal(page.headers.get("location"), "/login");
    const origin = new URL(locked.url).origin;
    const wrong = await fetch(`${locked.url}login`, {
      method: "POST",
      headers: { origin },
      body: new URLSearchParams({ token: "wrong-token-000000000" }),
      redirect: "manual",
    });
    await wrong.body?.cancel();
    assert.equal(wrong.status, 401);
    const right = await fetch(`${locked.url}login`, {
      method: "POST",
      headers: { origin },
      body: new URLSearchParams({ token: "cli-test-token-3b8e1f0a9d" }),
      redirect: "manual",
    });
    await right.body?.cancel();
    assert.equal(right.status, 303);
    assert.match(right.headers.get("set-cookie") ?? "", /loom_dashboard=[0-9a-f]{64}; .*HttpOnly/);
  } finally {
    assert.equal(await locked.stop(), 0);
  }
});
