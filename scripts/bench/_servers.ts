/**
 * Processes the bench runs: the upstream, LOOM (`loom run` over HTTP or
 * stdio, with the same flags as `tests/_helpers.ts`, and `loom mesh DIR`
 * over HTTP), the SDK baseline, the
 * MCP handshake used before each session load run, and the body and headers
 * of a stateless (2026-07-28) call. CPU and memory are read for a
 * server's whole process tree, so a bridge moved into a sandbox child process
 * is still counted against LOOM.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { join } from "node:path";
import {
  DEV_CONFIG_FLAGS,
  HTTP_ON_FREE_PORT,
  LOOM_FLAGS,
  loomRunCommand,
  type LoomRunOptions,
  MAIN,
  stopOnce,
} from "../../tests/_helpers.ts";
import { childCpuMs, cpuMs, rssKiB } from "./_proc.ts";

/** The MCP protocol version the bench's raw clients announce. */
export const PROTOCOL_VERSION = "2025-06-18";

/** The stateless MCP protocol version (no session; per-request `_meta`). */
export const STATELESS_PROTOCOL_VERSION = "2026-07-28";

const HERE = fileURLToPath(new URL(".", import.meta.url));

/** A server process the bench started. */
export interface ServerProcess extends AsyncDisposable {
  /** What it is, for messages. */
  name: string;
  /** Its URL (`/mcp` endpoint, or the upstream's base URL). */
  url: string;
  /** The process id. */
  pid: number;
  child: Deno.ChildProcess;
  /** Everything written to stderr so far (bounded to the last 64 KiB). */
  log(): string;
  /** Send a signal and wait for exit. */
  stop(signal?: Deno.Signal): Promise<Deno.CommandStatus>;
}

/** Descendants of `pid` (children, grandchildren, ...), from /proc. */
export function descendants(pid: number): number[] {
  const parent = new Map<number, number[]>();
  try {
    for (const e of Deno.readDirSync("/proc")) {
      if (!/^\d+$/.test(e.name)) continue;
      let stat: string;
      try {
        stat = Deno.readTextFileSync(`/proc/${e.name}/stat`);
      } catch {
        continue;
      }
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const list = parent.get(ppid) ?? [];
      list.push(Number(e.name));
      parent.set(ppid, list);
    }
  } catch {
    return [];
  }
  const out: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    for (const c of parent.get(queue.shift()!) ?? []) {
      out.push(c);
      queue.push(c);
    }
  }
  return out;
}

/** CPU ms of a process tree: the root (with reaped children) plus live descendants. */
export function treeCpuMs(pid: number): number | null {
  const root = cpuMs(pid);
  if (root === null) return null;
  let total = root + (childCpuMs(pid) ?? 0);
  for (const d of descendants(pid)) total += cpuMs(d) ?? 0;
  return total;
}

/** Resident KiB of a process tree. */
export function treeRssKiB(pid: number): number | null {
  const root = rssKiB(pid);
  if (root === null) return null;
  let total = root;
  for (const d of descendants(pid)) total += rssKiB(d) ?? 0;
  return total;
}

/**
 * Spawn a process and wait until a line matching `ready` appears on its
 * stdout or stderr.
 */
async function spawnUntil(
  name: string,
  cmd: Deno.Command,
  ready: RegExp,
  timeoutMs = 60_000,
): Promise<{ child: Deno.ChildProcess; match: RegExpExecArray; log: () => string }> {
  const child = cmd.spawn();
  let text = "";
  const dec = new TextDecoder();
  let found: (m: RegExpExecArray) => void;
  let failed: (e: Error) => void;
  const matched = new Promise<RegExpExecArray>((resolve, reject) => {
    found = resolve;
    failed = reject;
  });
  let done = false;
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) {
      text += dec.decode(chunk, { stream: true });
      if (text.length > 65536) text = text.slice(-65536);
      if (!done) {
        const m = ready.exec(text);
        if (m) {
          done = true;
          found(m);
        }
      }
    }
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]).then(() => {
    if (!done) failed(new Error(`${name} exited before it was ready:\n${text.slice(-4000)}`));
  });
  const timer = setTimeout(
    () => failed(new Error(`${name} was not ready within ${timeoutMs} ms:\n${text}`)),
    timeoutMs,
  );
  try {
    const match = await matched;
    return { child, match, log: () => text };
  } catch (e) {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
    await child.status;
    await pumps.catch(() => {});
    throw e;
  } finally {
    clearTimeout(timer);
    // Keep draining in the background so the child never blocks on a full pipe.
    pumps.catch(() => {});
  }
}

function wrap(
  name: string,
  url: string,
  child: Deno.ChildProcess,
  log: () => string,
): ServerProcess {
  const stop = stopOnce(child);
  return {
    name,
    url,
    pid: child.pid,
    child,
    log,
    stop,
    [Symbol.asyncDispose]: async () => {
      await stop();
    },
  };
}

/** Start the fixed-JSON upstream (`upstream.ts`) in its own process. */
export async function startUpstreamProcess(): Promise<ServerProcess> {
  const cmd = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", join(HERE, "upstream.ts")],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
  const { child, match, log } = await spawnUntil("upstream", cmd, /listening on (\S+)/);
  return wrap("upstream", match[1], child, log);
}

/**
 * Start the SDK baseline server (`sdk_server.ts`).
 *
 * @param upstream the upstream base URL
 * @param denoFlags extra `deno run` flags (e.g. `--cpu-prof`)
 */
export async function startSdkServer(
  upstream: string,
  denoFlags: string[] = [],
): Promise<ServerProcess> {
  const cmd = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      ...DEV_CONFIG_FLAGS,
      ...denoFlags,
      join(HERE, "sdk_server.ts"),
      `--upstream=${upstream}`,
      "--port=0",
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
  const { child, match, log } = await spawnUntil("SDK server", cmd, /listening on (\S+)/);
  return wrap("sdk", match[1], child, log);
}

/** Options of {@linkcode startLoom}. */
export type StartLoomOptions = Pick<LoomRunOptions, "home" | "denoFlags" | "env">;

/** `loom run CONFIG --transport http --port 0`, ready once it prints its URL. */
export async function startLoom(config: string, options: StartLoomOptions): Promise<ServerProcess> {
  const cmd = loomRunCommand(config, { ...options, args: [...HTTP_ON_FREE_PORT] });
  const { child, match, log } = await spawnUntil("loom run", cmd, /listening on (http:\/\/\S+)/);
  return wrap("loom", match[1], child, log);
}

/**
 * `loom mesh DIR --namespace --transport http --port 0` with the flags of
 * `deno task loom`, ready once it prints its URL.
 */
export async function startLoomMesh(
  dir: string,
  options: StartLoomOptions,
): Promise<ServerProcess> {
  const [run, ...perms] = LOOM_FLAGS;
  const cmd = new Deno.Command(Deno.execPath(), {
    args: [
      run,
      ...perms,
      ...(options.denoFlags ?? []),
      MAIN,
      "mesh",
      dir,
      "--namespace",
      ...HTTP_ON_FREE_PORT,
    ],
    env: { LOOM_HOME: options.home, NO_COLOR: "1", ...options.env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
  const { child, match, log } = await spawnUntil("loom mesh", cmd, /listening on (http:\/\/\S+)/);
  return wrap("loom mesh", match[1], child, log);
}

/** `loom run CONFIG` over stdio: the child with piped stdin/stdout. */
export function spawnLoomStdio(config: string, options: StartLoomOptions): Deno.ChildProcess {
  return loomRunCommand(config, { ...options, stdin: "piped" }).spawn();
}

/** The `initialize` request body the bench's raw clients send. */
export function initializeBody(id: number | string = 0): string {
  return JSON.stringify({
    jsonrpc: "2.0",
    id,
    method: "initialize",
    params: {
      protocolVersion: PROTOCOL_VERSION,
      capabilities: {},
      clientInfo: { name: "loom-bench", version: "1.0.0" },
    },
  });
}

/**
 * Open an MCP session over streamable HTTP: initialize, then the
 * `notifications/initialized` notification.
 *
 * @returns the session id
 */
export async function openSession(url: string): Promise<string> {
  const headers = {
    "content-type": "application/json",
    accept: "application/json, text/event-stream",
  };
  const res = await fetch(url, { method: "POST", headers, body: initializeBody() });
  const text = await res.text();
  const sid = res.headers.get("mcp-session-id");
  if (res.status !== 200 || !sid) {
    throw new Error(`Cannot initialize ${url}: HTTP ${res.status} ${text.slice(0, 200)}`);
  }
  const note = await fetch(url, {
    method: "POST",
    headers: { ...headers, "mcp-session-id": sid, "mcp-protocol-version": PROTOCOL_VERSION },
    body: JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }),
  });
  await note.body?.cancel();
  return sid;
}

/** A `tools/call` body with `@ID@` where the request id goes. */
export function callTemplate(tool: string, args: Record<string, unknown>): string {
  return JSON.stringify({
    jsonrpc: "2.0",
    id: 0,
    method: "tools/call",
    params: { name: tool, arguments: args },
  }).replace('"id":0', '"id":@ID@');
}

/**
 * Make one `tools/call` and return its result text, throwing unless the
 * call succeeded (HTTP 200 and no `isError`). A sanity check around each run.
 */
export async function callOnce(
  url: string,
  session: string,
  tool: string,
  args: Record<string, unknown>,
): Promise<string> {
  const res = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-session-id": session,
      "mcp-protocol-version": PROTOCOL_VERSION,
    },
    body: callTemplate(tool, args).replace("@ID@", '"check"'),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`tools/call answered HTTP ${res.status}: ${text}`);
  const json = JSON.parse(text.startsWith("event:") ? text.slice(text.indexOf("{")) : text);
  if (!json.result || json.result.isError) {
    throw new Error(`tools/call failed: ${text.slice(0, 300)}`);
  }
  return json.result.content[0].text;
}

/**
 * A stateless (2026-07-28) `tools/call` body with `@ID@` where the request id
 * goes: no session, the protocol version, client info and capabilities in the
 * params' `_meta`.
 */
export function statelessCallTemplate(tool: string, args: Record<string, unknown>): string {
  return JSON.stringify({
    jsonrpc: "2.0",
    id: 0,
    method: "tools/call",
    params: {
      name: tool,
      arguments: args,
      _meta: {
        "io.modelcontextprotocol/protocolVersion": STATELESS_PROTOCOL_VERSION,
        "io.modelcontextprotocol/clientInfo": { name: "loom-bench", version: "1.0.0" },
        "io.modelcontextprotocol/clientCapabilities": {},
      },
    },
  }).replace('"id":0', '"id":@ID@');
}

/**
 * The headers a stateless `tools/call` repeats from its body (besides
 * `MCP-Protocol-Version`, which the load generators set from
 * `BENCH_PROTOCOL`); a mismatch is answered 400 / -32020.
 */
export function statelessCallHeaders(tool: string): Record<string, string> {
  return { "Mcp-Method": "tools/call", "Mcp-Name": tool };
}

/**
 * Make one stateless `tools/call` and return its result text, throwing with
 * the server's answer unless the call succeeded (HTTP 200, a JSON body and no
 * `isError`): the check before a stateless load run.
 */
export async function callStatelessOnce(
  url: string,
  tool: string,
  args: Record<string, unknown>,
): Promise<string> {
  const res = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": STATELESS_PROTOCOL_VERSION,
      ...statelessCallHeaders(tool),
    },
    body: statelessCallTemplate(tool, args).replace("@ID@", '"check"'),
  });
  const text = await res.text();
  if (res.status !== 200) {
    throw new Error(`stateless tools/call answered HTTP ${res.status}: ${text.slice(0, 300)}`);
  }
  if (!/^application\/json\b/i.test(res.headers.get("content-type") ?? "")) {
    throw new Error(
      `stateless tools/call answered ${res.headers.get("content-type")}, not JSON: ` +
        text.slice(0, 300),
    );
  }
  const json = JSON.parse(text);
  if (!json.result || json.result.isError) {
    throw new Error(`stateless tools/call failed: ${text.slice(0, 300)}`);
  }
  return json.result.content[0].text;
}
