/**
 * The stdio upstream against a real child (`testdata/fixture_server.ts`):
 * handshake, pagination, the cleared environment, progress, cancellation,
 * crashes and restarts, close, the message cap and the server's requests.
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { LoomError } from "../../errors.ts";
import { McpUpstream, type McpUpstreamOptions, type UpstreamLifecycleEvent } from "./mod.ts";

const FIXTURE = fileURLToPath(new URL("./testdata/fixture_server.ts", import.meta.url));
const FLAGS = ["--no-prompt", "--no-config", "--allow-env"];

function fixture(
  options: Partial<McpUpstreamOptions> = {},
  extra: { args?: string[]; flags?: string[]; secret?: string } = {},
): McpUpstream {
  return new McpUpstream({
    kind: "stdio",
    command: [FIXTURE, ...(extra.args ?? [])],
    denoFlags: [...FLAGS, ...(extra.flags ?? [])],
    env: { LOOM_CANARY: "literal" },
    resolveEnv: extra.secret === undefined
      ? undefined
      : () => Promise.resolve({ LOOM_SECRET: extra.secret! }),
  }, { name: "fx", restart: { initialDelayMs: 20 }, ...options });
}

const timeout = () => AbortSignal.timeout(20_000);

async function text(upstream: McpUpstream, tool: string, args: Record<string, unknown> = {}) {
  const result = await upstream.callTool(tool, args, { signal: timeout() });
  return (result.content[0] as { text: string }).text;
}

function isGone(pid: number): boolean {
  try {
    Deno.kill(pid, "SIGCONT");
    return false;
  } catch (error) {
    return error instanceof Deno.errors.NotFound;
  }
}

Deno.test("McpUpstream stdio: handshake, every page of tools, a call", async () => {
  const upstream = fixture();
  try {
    const info = await upstream.start(timeout());
    assert.deepEqual(info, {
      protocolVersion: "2025-06-18",
      serverName: "fixture",
      serverVersion: "1.0.0",
      instructions: "Fixture",
    });
    const tools = await upstream.listTools(timeout());
    assert.equal(tools.length, 12); // four pages of three
    assert.equal(new Set(tools.map((t) => t.name)).size, 12);
    assert.equal(await text(upstream, "echo", { text: "hi" }), "hi");
    assert.equal(typeof upstream.pid, "number");
  } finally {
    await upstream.close();
  }
});

Deno.test("McpUpstream stdio: the child's environment is cleared (only what LOOM gives)", async () => {
  const upstream = fixture({}, { secret: "s3cret-value" });
  try {
    const env = JSON.parse(await text(upstream, "env")) as Record<string, string>;
    assert.equal(env.LOOM_CANARY, "literal");
    assert.equal(env.LOOM_SECRET, "s3cret-value");
    assert.equal(env.NO_COLOR, "1");
    assert.equal(env.DENO_NO_UPDATE_CHECK, "1");
    assert.equal(env.HOME, undefined);
    // Deno's launcher sets PATH to its own npm shim folder, nothing of LOOM's.
    assert.ok(env.PATH === undefined || env.PATH === `${env.DENO_DIR}/node_compat_bin`);
    // DENO_NODE_SHIM_ACTIVE and PATH are set by Deno itself in the child.
    const launcher = new Set([
      "DENO_DIR",
      "NPM_CONFIG_REGISTRY",
      "NO_COLOR",
      "DENO_NO_UPDATE_CHECK",
      "DENO_NODE_SHIM_ACTIVE",
    ]);
    const others = Object.keys(env).filter((k) =>
      !k.startsWith("LOOM_") && !launcher.has(k) && k !== "PATH"
    );
    assert.deepEqual(others, []);
  } finally {
    await upstream.close();
  }
});

Deno.test("McpUpstream stdio: a tool's description is read from a file at start", async () => {
  const dir = await Deno.makeTempDir();
  const file = `${dir}/desc.txt`;
  await Deno.writeTextFile(file, "Version one");
  const upstream = fixture({}, { args: ["--desc-file", file], flags: [`--allow-read=${file}`] });
  try {
    const tools = await upstream.listTools(timeout());
    assert.equal(tools.find((t) => t.name === "echo")?.description, "Version one");
  } finally {
    await upstream.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("McpUpstream stdio: progress reaches the call's onProgress", async () => {
  const upstream = fixture();
  try {
    const seen: unknown[] = [];
    const result = await upstream.callTool("progress", {}, {
      signal: timeout(),
      onProgress: (progress, total, message) => seen.push([progress, total, message]),
    });
    assert.deepEqual(seen, [[1, 2, "half"], [2, 2, undefined]]);
    assert.equal(result.isError, false);
  } finally {
    await upstream.close();
  }
});

Deno.test("McpUpstream stdio: an aborted call rejects with the abort's error and the next works", async () => {
  const upstream = fixture();
  try {
    await upstream.start(timeout());
    const controller = new AbortController();
    const slow = upstream.callTool("slow", {}, { signal: controller.signal });
    assert.equal(await text(upstream, "echo", { text: "a" }), "a");
    controller.abort();
    await assert.rejects(
      slow,
      (e: LoomError) => e.code === "UPSTREAM_FAILED" && /cancelled/.test(e.message),
    );
    const deadline = upstream.callTool("slow", {}, { signal: AbortSignal.timeout(50) });
    await assert.rejects(deadline, (e: LoomError) => e.code === "UPSTREAM_TIMEOUT");
    assert.equal(await text(upstream, "echo", { text: "b" }), "b");
  } finally {
    await upstream.close();
  }
});

Deno.test("McpUpstream stdio: a crash fails calls in flight; the next call restarts it", async () => {
  const events: UpstreamLifecycleEvent[] = [];
  let changed = 0;
  const upstream = fixture({ onLifecycle: (e) => events.push(e), onToolsChanged: () => changed++ });
  try {
    const first = Number(await text(upstream, "pid"));
    assert.equal(first, upstream.pid);
    const inFlight = upstream.callTool("slow", {}, { signal: timeout() });
    const crash = upstream.callTool("crash", {}, { signal: timeout() });
    for (const call of [inFlight, crash]) {
      await assert.rejects(
        call,
        (e: LoomError) =>
          e.code === "UPSTREAM_FAILED" && e.message === 'Agent "fx": upstream exited (code 3)',
      );
    }
    const second = Number(await text(upstream, "pid"));
    assert.notEqual(second, first);
    assert.equal(upstream.pid, second);
    assert.equal(changed, 1);
    assert.deepEqual(events.map((e) => e.kind), ["start", "exit", "restart"]);
    assert.equal(events[1].code, 3);
    assert.equal(events[1].pid, first);
    assert.match(events[1].stderrTail ?? "", /^fixture: starting \?\[31m junk on stderr\n$/);
  } finally {
    await upstream.close();
  }
});

Deno.test("McpUpstream stdio: after maxAttempts consecutive crashes calls fail fast", async () => {
  const events: string[] = [];
  const upstream = fixture({
    restart: { initialDelayMs: 10, maxAttempts: 2 },
    onLifecycle: (e) => events.push(e.kind),
  });
  try {
    for (let i = 0; i < 2; i++) {
      await assert.rejects(upstream.callTool("crash", {}, { signal: timeout() }), /exited/);
    }
    await assert.rejects(
      upstream.callTool("echo", {}, { signal: timeout() }),
      /stopped restarting/,
    );
    assert.deepEqual(events, ["start", "exit", "restart", "exit", "give_up"]);
  } finally {
    await upstream.close();
  }
});

Deno.test("McpUpstream stdio: close kills the child and ends calls in flight", async () => {
  const upstream = fixture();
  await upstream.start(timeout());
  const pid = upstream.pid!;
  const slow = upstream.callTool("slow", {}, { signal: timeout() });
  const ended = assert.rejects(slow, /closed/);
  await text(upstream, "echo", { text: "x" });
  await upstream.close();
  await ended;
  assert.equal(upstream.pid, undefined);
  assert.ok(isGone(pid));
  await upstream.close(); // idempotent
  await assert.rejects(upstream.callTool("echo", {}, { signal: timeout() }), /closed/);
});

Deno.test("McpUpstream stdio: a message over the cap fails the call and resets the connection", async () => {
  const upstream = fixture({ maxMessageBytes: 64 * 1024 });
  try {
    const first = Number(await text(upstream, "pid"));
    await assert.rejects(
      upstream.callTool("big", { size: 200_000 }, { signal: timeout() }),
      (e: LoomError) => e.code === "RESPONSE_TOO_LARGE",
    );
    assert.notEqual(Number(await text(upstream, "pid")), first);
  } finally {
    await upstream.close();
  }
});

Deno.test("McpUpstream stdio: junk lines are dropped; log and list_changed reach the owner", async () => {
  const logs: unknown[] = [];
  let changed = 0;
  const upstream = fixture({
    onLog: (level, data, logger) => logs.push([level, data, logger]),
    onToolsChanged: () => changed++,
  });
  try {
    assert.equal(await text(upstream, "junk"), "after junk");
    assert.equal(await text(upstream, "notify"), "sent");
    assert.deepEqual(logs, [["warning", { note: "hello", token: null }, "fx"]]);
    assert.equal(changed, 1);
  } finally {
    await upstream.close();
  }
});

Deno.test("McpUpstream stdio: sampling is refused by default; ping answered; roots refused", async () => {
  const upstream = fixture();
  try {
    const sample = JSON.parse(await text(upstream, "sample"));
    assert.equal(sample.error.code, -32601);
    assert.deepEqual(JSON.parse(await text(upstream, "ping_client")).result, {});
    assert.equal(JSON.parse(await text(upstream, "roots")).error.code, -32601);
  } finally {
    await upstream.close();
  }
});

Deno.test("McpUpstream stdio: onServerRequest answers sampling when set", async () => {
  const asked: string[] = [];
  const upstream = fixture({
    onServerRequest: (method) => {
      asked.push(method);
      return Promise.resolve({ role: "assistant", content: { type: "text", text: "ok" } });
    },
  });
  try {
    const sample = JSON.parse(await text(upstream, "sample"));
    assert.equal(sample.result.content.text, "ok");
    assert.deepEqual(asked, ["sampling/createMessage"]);
  } finally {
    await upstream.close();
  }
});

Deno.test("McpUpstream stdio: a program that cannot start is an UpstreamError naming the agent", async () => {
  const upstream = new McpUpstream(
    { kind: "stdio", command: ["/nonexistent/loom-upstream"], env: {} },
    { name: "ghost", restart: { initialDelayMs: 1 } },
  );
  try {
    await assert.rejects(
      upstream.start(timeout()),
      (e: LoomError) =>
        e.code === "UPSTREAM_FAILED" && /Agent "ghost"/.test(e.message) &&
        /not found/.test(e.message),
    );
  } finally {
    await upstream.close();
  }
});
