/**
 * Helpers for cross-module and end-to-end tests: real upstream servers on
 * 127.0.0.1 port 0, throwaway LOOM homes, and the real CLI as a subprocess.
 *
 * @module
 */

import { fileURLToPath } from "node:url";

/** Absolute path of main.ts. */
export const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));

/**
 * `deno run` flags for a test subprocess that imports a test package (the
 * conformance suite, the SDK): LOOM's own `deno.json` holds only what running
 * LOOM needs, and `deno.dev.json` adds the rest with its own lock file.
 */
export const DEV_CONFIG_FLAGS = [
  "--config",
  fileURLToPath(new URL("../deno.dev.json", import.meta.url)),
];

/** The flags `deno task loom` runs LOOM with. */
export const LOOM_FLAGS = [
  "run",
  "--allow-read",
  "--allow-write",
  "--allow-net",
  "--allow-env",
  "--allow-run",
];

/** How {@linkcode loomRunCommand} starts LOOM. */
export interface LoomRunOptions {
  /** `LOOM_HOME`. */
  home: string;
  /** Arguments after `loom run CONFIG`. */
  args?: string[];
  /** Extra `deno run` flags placed before main.ts (e.g. `--cpu-prof`). */
  denoFlags?: string[];
  /** Extra environment. */
  env?: Record<string, string>;
  /** `piped` to talk MCP over stdio; default `null`. */
  stdin?: "piped" | "null";
}

/** The arguments after the config that make `loom run` serve HTTP on a free port. */
export const HTTP_ON_FREE_PORT: readonly string[] = ["--transport", "http", "--port", "0"];

/** `loom run CONFIG` from source with the flags of `deno task loom`; stdout and stderr piped. */
export function loomRunCommand(config: string, options: LoomRunOptions): Deno.Command {
  const [run, ...perms] = LOOM_FLAGS;
  const { home, args = [], denoFlags = [], env, stdin = "null" } = options;
  return new Deno.Command(Deno.execPath(), {
    args: [run, ...perms, ...denoFlags, MAIN, "run", config, ...args],
    env: { LOOM_HOME: home, NO_COLOR: "1", ...env },
    stdin,
    stdout: "piped",
    stderr: "piped",
  });
}

/**
 * A child's `stop(signal)`: the first call sends the signal (default
 * SIGTERM), and every call resolves to the exit status once the child has
 * exited and `drained` has resolved.
 */
export function stopOnce(
  child: Deno.ChildProcess,
  drained: () => Promise<void> = () => Promise.resolve(),
): (signal?: Deno.Signal) => Promise<Deno.CommandStatus> {
  let stopped: Promise<Deno.CommandStatus> | null = null;
  return (signal = "SIGTERM") => {
    if (stopped === null) {
      try {
        child.kill(signal);
      } catch { /* already gone */ }
      stopped = child.status.then(async (status) => {
        await drained();
        return status;
      });
    }
    return stopped;
  };
}

/** A real HTTP server on loopback that counts requests. */
export interface Upstream extends AsyncDisposable {
  url: string;
  port: number;
  /** Requests received, in order. */
  requests: Request[];
  close(): Promise<void>;
}

/**
 * Start an upstream on 127.0.0.1 with a free port.
 *
 * @param handler answers each request; `info` names the client's address
 *   (to count connections by their port)
 */
export function startUpstream(
  handler: (
    req: Request,
    info: Deno.ServeHandlerInfo<Deno.NetAddr>,
  ) => Response | Promise<Response>,
): Promise<Upstream> {
  const requests: Request[] = [];
  return new Promise((resolve) => {
    const server = Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      onListen: ({ port }) => {
        const up: Upstream = {
          url: `http://127.0.0.1:${port}`,
          port,
          requests,
          close: () => server.shutdown(),
          [Symbol.asyncDispose]: () => server.shutdown(),
        };
        resolve(up);
      },
    }, (req, info) => {
      requests.push(req);
      return handler(req, info);
    });
  });
}

/** A temporary directory removed on dispose. */
export interface TempDir extends AsyncDisposable {
  path: string;
}

/** Make a temporary directory (mode 0700). */
export async function tempDir(prefix = "loom-test-"): Promise<TempDir> {
  const path = await Deno.makeTempDir({ prefix });
  return {
    path,
    [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }).catch(() => {}),
  };
}

/**
 * Work for `withinDeadline()`: test one regular expression against inputs, or
 * call an exported function of a module once per argument list. Inputs,
 * arguments and results cross into a Worker, so they must be cloneable.
 */
export type DeadlineJob =
  | { kind: "match"; source: string; flags: string; inputs: string[] }
  | { kind: "call"; module: string; name: string; calls: unknown[][] };

/** What the worker of `withinDeadline()` posts back. */
export type DeadlineMessage =
  | { kind: "progress"; done: number }
  | { kind: "done"; results: unknown[] }
  | { kind: "error"; message: string };

/**
 * Run `job` in a Worker and fail if it has not finished by `deadlineMs`: a
 * regular expression that backtracks catastrophically, or a detector that
 * does, then fails the test with a message naming the job that hung instead
 * of hanging the whole suite (a regex cannot be interrupted on the thread
 * running it). The worker is terminated on every path.
 *
 * @param label what runs, for the failure message
 * @param job the regex or the function calls
 * @param deadlineMs generous: the point is "finishes", not "is fast"
 * @returns one result per input or call, in order
 */
export async function withinDeadline(
  label: string,
  job: DeadlineJob,
  deadlineMs = 20_000,
): Promise<unknown[]> {
  const total = job.kind === "match" ? job.inputs.length : job.calls.length;
  const worker = new Worker(new URL("./_deadline_worker.ts", import.meta.url), { type: "module" });
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await new Promise<unknown[]>((resolve, reject) => {
      let done = 0;
      timer = setTimeout(() => {
        reject(
          new Error(
            `${label} did not finish within ${deadlineMs} ms: stuck on input ${done + 1} of ` +
              `${total} (catastrophic backtracking?); the worker was terminated`,
          ),
        );
      }, deadlineMs);
      worker.onmessage = ({ data }: MessageEvent<DeadlineMessage>) => {
        if (data.kind === "progress") done = data.done;
        else if (data.kind === "done") resolve(data.results);
        else reject(new Error(`${label} failed in its worker: ${data.message}`));
      };
      worker.onerror = (event) => {
        event.preventDefault();
        reject(new Error(`${label} failed in its worker: ${event.message}`));
      };
      worker.postMessage(job);
    });
  } finally {
    clearTimeout(timer);
    worker.terminate();
  }
}

/** Result of a finished CLI run. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run the real CLI to completion. */
export async function runLoom(
  args: string[],
  options: {
    home: string;
    env?: Record<string, string>;
    stdin?: string;
    cwd?: string;
    /** The program to run instead of main.ts: a bundle, say. */
    entry?: string;
  },
): Promise<CliResult> {
  const cmd = new Deno.Command(Deno.execPath(), {
    args: [...LOOM_FLAGS, options.entry ?? MAIN, ...args],
    env: { LOOM_HOME: options.home, NO_COLOR: "1", ...options.env },
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    cwd: options.cwd,
  });
  const child = cmd.spawn();
  if (options.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(options.stdin));
    await w.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** `loom list --json` of a home, parsed; throws with its stderr unless it exits 0. */
export async function loomListJson(home: string): Promise<Record<string, unknown>[]> {
  const res = await runLoom(["list", "--json"], { home });
  if (res.code !== 0) throw new Error(`loom list --json exited ${res.code}:\n${res.stderr}`);
  return JSON.parse(res.stdout);
}

/** GET `/metrics` next to an MCP endpoint, with these headers: status, content type and body. */
export async function scrapeMetrics(
  mcpUrl: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; type: string | null; body: string }> {
  const res = await fetch(new URL("/metrics", mcpUrl), { headers });
  return { status: res.status, type: res.headers.get("content-type"), body: await res.text() };
}

/**
 * Build the single-file bundle of main.ts at `output` as `deno task bundle`
 * does (`deno bundle`, run from the checkout); throws with deno's stderr if
 * the build fails (the first build fetches esbuild into Deno's cache).
 */
export async function buildBundle(output: string): Promise<void> {
  const built = await new Deno.Command(Deno.execPath(), {
    args: ["bundle", "--quiet", "--output", output, MAIN],
    cwd: fileURLToPath(new URL("../", import.meta.url)),
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  if (built.code !== 0) {
    throw new Error(
      `deno bundle failed (${built.code}):\n${new TextDecoder().decode(built.stderr)}`,
    );
  }
}

/** A running `loom run --transport http`. */
export interface LoomServer extends AsyncDisposable {
  url: string;
  child: Deno.ChildProcess;
  /** Everything written to stderr so far. */
  stderr(): string;
  stop(signal?: Deno.Signal): Promise<Deno.CommandStatus>;
}

/** Start `loom run CONFIG --transport http --port 0` and wait until it listens. */
export async function startLoomHttp(
  config: string,
  options: { home: string; extraArgs?: string[]; env?: Record<string, string> },
): Promise<LoomServer> {
  const cmd = loomRunCommand(config, {
    home: options.home,
    args: [...HTTP_ON_FREE_PORT, ...(options.extraArgs ?? [])],
    env: options.env,
  });
  const child = cmd.spawn();
  let text = "";
  const dec = new TextDecoder();
  const reader = child.stderr.getReader();
  let drainErr: Promise<void> = Promise.resolve();
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`LOOM did not start:\n${text}`)), 20_000);
    drainErr = (async () => {
      while (true) {
        const { value, done } = await reader.read();
        if (done) {
          clearTimeout(timer);
          reject(new Error(`LOOM exited before listening:\n${text}`));
          return;
        }
        text += dec.decode(value, { stream: true });
        const m = /listening on (http:\/\/\S+)/.exec(text);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
          break;
        }
      }
      // Keep draining stderr so the child never blocks on a full pipe.
      while (true) {
        const { value, done } = await reader.read();
        if (done) break;
        text += dec.decode(value, { stream: true });
      }
    })();
    drainErr.catch(reject);
  });
  const drainOut = child.stdout.pipeTo(new WritableStream());
  const stop = stopOnce(child, async () => {
    await drainOut.catch(() => {});
    await drainErr.catch(() => {});
  });
  return {
    url,
    child,
    stderr: () => text,
    stop,
    [Symbol.asyncDispose]: async () => {
      await stop();
    },
  };
}

/** The initialize request a raw stdio session starts with. */
export const INITIALIZE = {
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: {
    protocolVersion: "2025-11-25",
    capabilities: {},
    clientInfo: { name: "raw", version: "1" },
  },
} as const;

/** What {@linkcode initializeRequest} may change in {@linkcode INITIALIZE}. */
export interface InitializeOptions {
  id?: number | string;
  protocolVersion?: string;
  capabilities?: Record<string, unknown>;
  clientName?: string;
  clientVersion?: string;
}

/**
 * {@linkcode INITIALIZE} with some fields changed: one initialize message
 * shape for every test that opens a session by hand.
 */
export function initializeRequest(options: InitializeOptions = {}): {
  jsonrpc: "2.0";
  id: number | string;
  method: "initialize";
  params: {
    protocolVersion: string;
    capabilities: Record<string, unknown>;
    clientInfo: { name: string; version: string };
  };
} {
  return {
    jsonrpc: "2.0",
    id: options.id ?? INITIALIZE.id,
    method: "initialize",
    params: {
      protocolVersion: options.protocolVersion ?? INITIALIZE.params.protocolVersion,
      capabilities: options.capabilities ?? {},
      clientInfo: {
        name: options.clientName ?? INITIALIZE.params.clientInfo.name,
        version: options.clientVersion ?? INITIALIZE.params.clientInfo.version,
      },
    },
  };
}

/** Newline-delimited JSON-RPC text for a stdio session. */
export function jsonLines(...messages: unknown[]): string {
  return messages.map((m) => JSON.stringify(m)).join("\n") + "\n";
}

/** A `tools/call` request. */
export function toolCall(id: number, name: string, args: Record<string, unknown> = {}): unknown {
  return { jsonrpc: "2.0", id, method: "tools/call", params: { name, arguments: args } };
}

/**
 * Write the config of agent `keyed-agent`: one tool, `whoami`, calling
 * `${url}/whoami` with one header that names a secret.
 *
 * @param path where to write the config
 * @param url the upstream's base URL
 * @param header the header line, e.g. `X-Api-Key: "{{secret:api-key}}"`
 */
export async function writeKeyedConfig(path: string, url: string, header: string): Promise<void> {
  await Deno.writeTextFile(
    path,
    `agent:
  name: keyed-agent
  exposes:
    - name: whoami
      description: Ask the API who we are
  http_bridge:
    - tool_name: whoami
      url: "${url}/whoami"
      headers: { ${header} }
`,
  );
}
