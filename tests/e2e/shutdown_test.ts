/**
 * End to end: `loom run` stops cleanly on SIGINT and on SIGTERM, over stdio
 * and over HTTP, whether the signal reaches LOOM alone or its whole process
 * group (a terminal's Ctrl-C, a desktop client ending the group). The agent
 * has made a call, so its sandboxed agent host process is alive when the
 * signal comes; afterwards the audit log must record that host as stopped
 * for shutdown (never as crashed) and the agent's own `stop`, and the chain
 * must verify.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  INITIALIZE,
  jsonLines,
  LOOM_FLAGS,
  MAIN,
  runLoom,
  startUpstream,
  tempDir,
  toolCall,
  type Upstream,
} from "../_helpers.ts";

/** Lines of stdout or stderr read before giving up on an expected one. */
const MAX_LINES = 200;

function agentYaml(api: Upstream): string {
  return `agent:
  name: shutdown-agent
  exposes:
    - name: ping
      description: Ping the upstream
  http_bridge:
    - tool_name: ping
      url: "${api.url}/ping"
`;
}

/** The real CLI, spawned as the leader of its own process group. */
interface LoomProcess {
  child: Deno.ChildProcess;
  /** Lines of stdout, one at a time. */
  stdoutLines: AsyncIterator<string>;
  /** Everything written to stderr so far. */
  stderr(): string;
  /** Settles with stderr complete once stderr has ended. */
  stderrDone: Promise<string>;
}

function spawnLoom(args: string[], home: string): LoomProcess {
  const child = new Deno.Command(Deno.execPath(), {
    args: [...LOOM_FLAGS, MAIN, ...args],
    env: { LOOM_HOME: home, NO_COLOR: "1" },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    // Its own process group, so the test can signal the group as a terminal does.
    detached: true,
  }).spawn();
  let text = "";
  const stderrDone = (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) text += chunk;
    return text;
  })();
  const stdoutLines = lines(child.stdout)[Symbol.asyncIterator]();
  return { child, stdoutLines, stderr: () => text, stderrDone };
}

async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let buffered = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buffered += chunk;
    let nl: number;
    while ((nl = buffered.indexOf("\n")) !== -1) {
      yield buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
    }
  }
  if (buffered !== "") yield buffered;
}

/** Read stdout lines until the JSON-RPC response with `id`. */
async function responseTo(loom: LoomProcess, id: number): Promise<Record<string, unknown>> {
  for (let i = 0; i < MAX_LINES; i++) {
    const next = await loom.stdoutLines.next();
    if (next.done) break;
    const message = JSON.parse(next.value);
    if (message.id === id) return message;
  }
  throw new Error(`No response to request ${id}; stderr:\n${loom.stderr()}`);
}

/** Wait until stderr holds a match of `pattern`, bounded by the process's life. */
async function waitForStderr(loom: LoomProcess, pattern: RegExp): Promise<RegExpExecArray> {
  const ended = loom.stderrDone.then(() => null);
  for (let i = 0; i < 400; i++) {
    const found = pattern.exec(loom.stderr());
    if (found) return found;
    const tick = new Promise<"tick">((resolve) => setTimeout(() => resolve("tick"), 50));
    if (await Promise.race([tick, ended]) === null) break;
  }
  const found = pattern.exec(loom.stderr());
  if (found) return found;
  throw new Error(`LOOM did not print ${pattern}:\n${loom.stderr()}`);
}

/**
 * Send `signal` to LOOM alone or to its whole process group, and say whether
 * it reached the agent host process. LOOM is frozen (SIGSTOP) meanwhile, so
 * the answer does not depend on how fast LOOM reacts: until it runs again
 * it cannot stop its agent host, so a host that is gone, a zombie, or has a
 * signal pending got the signal itself. Linux (/proc); elsewhere, false.
 */
function signalReachesHost(
  loom: LoomProcess,
  signal: Deno.Signal,
  to: "process" | "group",
  hostPid: number,
): boolean {
  Deno.kill(loom.child.pid, "SIGSTOP");
  try {
    Deno.kill(to === "group" ? -loom.child.pid : loom.child.pid, signal);
    return Deno.build.os === "linux" && !untouched(hostPid);
  } finally {
    Deno.kill(loom.child.pid, "SIGCONT");
  }
}

/** Whether a process runs with no signal pending (Linux /proc). */
function untouched(pid: number): boolean {
  let status: string;
  try {
    status = Deno.readTextFileSync(`/proc/${pid}/status`);
  } catch {
    return false; // gone
  }
  const field = (name: string) => /^(\S+)/.exec(status.split(`\n${name}:\t`)[1] ?? "")?.[1];
  const state = field("State");
  const pending = [field("SigPnd"), field("ShdPnd")].some((mask) => /[1-9a-f]/.test(mask ?? "1"));
  return state !== undefined && state !== "Z" && !pending;
}

/** The process id of the agent host, from its `spawn` record. */
async function agentHostPid(home: string): Promise<number> {
  const shown = await runLoom(["audit", "show", "--event", "sandbox_lifecycle", "--json"], {
    home,
  });
  const spawn = shown.stdout.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l))
    .find((r) => r.action === "spawn");
  assert.ok(typeof spawn?.pid === "number", shown.stdout + shown.stderr);
  return spawn.pid;
}

/** Finish a process: status, stderr, and every stream closed. */
async function finish(loom: LoomProcess): Promise<{ status: Deno.CommandStatus; stderr: string }> {
  const status = await loom.child.status;
  await loom.child.stdin.close().catch(() => {});
  for (let i = 0; i < MAX_LINES; i++) if ((await loom.stdoutLines.next()).done) break;
  return { status, stderr: await loom.stderrDone };
}

interface Lifecycle {
  event: string;
  action: string;
  detail?: string;
}

/** The lifecycle records of the audit log, read back through `loom audit show`. */
async function lifecycleRecords(home: string): Promise<Lifecycle[]> {
  const shown = await runLoom(["audit", "show", "--json"], { home });
  assert.equal(shown.code, 0, shown.stderr);
  return shown.stdout.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l))
    .filter((r: Lifecycle) => r.event === "agent_lifecycle" || r.event === "sandbox_lifecycle")
    .map(({ event, action, detail }: Lifecycle) => ({ event, action, detail }));
}

/** The records of a run in which one call started the agent host, then a signal stopped LOOM. */
async function assertCleanStop(home: string, stderr: string): Promise<void> {
  const records = await lifecycleRecords(home);
  const what = `${JSON.stringify(records)}\n${stderr}`;
  const of = (event: string) =>
    records.filter((r) => r.event === event).map((r) => [r.action, r.detail ?? null]);
  assert.deepEqual(of("agent_lifecycle"), [["start", null], ["stop", null]], what);
  assert.deepEqual(of("sandbox_lifecycle").map(([action]) => action), [
    "spawn",
    "ready",
    "stop",
  ], what);
  assert.equal(of("sandbox_lifecycle")[2][1], "shutdown", what);
  const verify = await runLoom(["audit", "verify"], { home });
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);
}

const CASES: { signal: Deno.Signal; to: "process" | "group" }[] = [
  { signal: "SIGINT", to: "group" },
  { signal: "SIGTERM", to: "group" },
  { signal: "SIGTERM", to: "process" },
];

/** An upstream that holds each request until released, so a call is in flight at the signal. */
async function heldUpstream(): Promise<Upstream & { arrived: Promise<void>; release(): void }> {
  let arrive = () => {};
  const arrived = new Promise<void>((resolve) => (arrive = resolve));
  let release = () => {};
  const released = new Promise<void>((resolve) => (release = resolve));
  const api = await startUpstream(async () => {
    arrive();
    await released;
    return Response.json({ pong: true });
  });
  return Object.assign(api, { arrived, release });
}

for (const { signal, to } of CASES) {
  Deno.test(`loom run over stdio: ${signal} to the ${to} lets the call in flight finish, stops the agent host for shutdown and records the stop`, async () => {
    await using dir = await tempDir();
    await using api = await heldUpstream();
    const config = join(dir.path, "agent.yaml");
    const home = join(dir.path, "home");
    await Deno.writeTextFile(config, agentYaml(api));
    const loom = spawnLoom(["run", config], home);
    let reached: boolean | null = null;
    let answer: Record<string, unknown> | null = null;
    const writer = loom.child.stdin.getWriter();
    try {
      await writer.write(new TextEncoder().encode(jsonLines(
        INITIALIZE,
        { jsonrpc: "2.0", method: "notifications/initialized" },
        toolCall(2, "ping"),
      )));
      // The agent host is up and its request is at the upstream: then the
      // signal. stdin stays open, as a client's does: only the signal ends the run.
      await api.arrived;
      reached = signalReachesHost(loom, signal, to, await agentHostPid(home));
      await waitForStderr(loom, /shutting down/).catch(() => {});
      api.release();
      answer = await responseTo(loom, 2);
    } finally {
      api.release();
      writer.releaseLock();
      if (reached === null) Deno.kill(loom.child.pid, "SIGKILL");
    }
    const { status, stderr } = await finish(loom);
    assert.equal(reached, false, "the signal reached the agent host");
    assert.deepEqual(answer?.result, { content: [{ type: "text", text: '{"pong":true}' }] });
    assert.equal(status.code, 0, stderr);
    await assertCleanStop(home, stderr);
  });

  Deno.test(`loom run --transport http: ${signal} to the ${to} stops the agent host for shutdown and records the stop`, async () => {
    await using dir = await tempDir();
    await using api = await startUpstream(() => Response.json({ pong: true }));
    const config = join(dir.path, "agent.yaml");
    const home = join(dir.path, "home");
    await Deno.writeTextFile(config, agentYaml(api));
    const loom = spawnLoom(["run", config, "--transport", "http", "--port", "0"], home);
    await loom.child.stdin.close();
    let reached: boolean | null = null;
    try {
      const [, url] = await waitForStderr(loom, /listening on (http:\/\/\S+)/);
      const headers = { "content-type": "application/json", accept: "application/json" };
      const init = await fetch(url, { method: "POST", headers, body: JSON.stringify(INITIALIZE) });
      await init.body?.cancel();
      const session = init.headers.get("mcp-session-id");
      assert.ok(session, loom.stderr());
      const call = await fetch(url, {
        method: "POST",
        headers: { ...headers, "mcp-session-id": session },
        body: JSON.stringify(toolCall(2, "ping")),
      });
      const answer = await call.json();
      assert.deepEqual(answer.result, { content: [{ type: "text", text: '{"pong":true}' }] });
      reached = signalReachesHost(loom, signal, to, await agentHostPid(home));
    } finally {
      if (reached === null) Deno.kill(loom.child.pid, "SIGKILL");
    }
    const { status, stderr } = await finish(loom);
    assert.equal(reached, false, "the signal reached the agent host");
    assert.equal(status.code, 0, stderr);
    await assertCleanStop(home, stderr);
  });
}
