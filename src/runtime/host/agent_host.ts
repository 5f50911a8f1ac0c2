/**
 * The parent side of an agent host (`sandbox: deno`): one sandboxed process
 * per agent, started on first use, spoken to over a persistent pipe, stopped
 * when idle, killed when stuck, restarted with backoff after a crash.
 *
 * @module
 */

import { lookup as dnsLookup } from "node:dns/promises";
import { fileURLToPath } from "node:url";
import type { AgentConfig, BridgeSpec } from "../../config/mod.ts";
import { type BridgeRunResult, UpstreamStatusError } from "../../upstream/mod.ts";
import { InputError, LoomError, PolicyError, UpstreamError } from "../../errors.ts";
import { Deadlines } from "../../_util/deadlines.ts";
import { formatDuration } from "../../_util/units.ts";
import {
  bridgeTargets,
  DEFAULT_AGENT_MEMORY_MB,
  denoFlagsFor,
  netAllowList,
} from "../../security/sandbox/mod.ts";
import type { BridgeExecutor, ExecuteOptions } from "../executor.ts";
import { hostEntry } from "./host_entry.ts";
import {
  type ChildMessage,
  type ErrorResponse,
  forEachLine,
  type InitRequest,
  LineWriter,
  type LookupRequest,
  type ParentMessage,
  parseChildMessage,
  type PingRequest,
} from "./_protocol.ts";

/** What happened to an agent host; the caller records it as `sandbox_lifecycle`. */
export type SandboxAction = "spawn" | "ready" | "stop" | "crash" | "kill" | "restart";

/** One lifecycle event. */
export interface SandboxEvent {
  action: SandboxAction;
  /**
   * `spawn`: the mode; `ready`: start-up time; `stop`: `idle` or `shutdown`;
   * `crash`: exit code or signal; `kill`: `timeout`, `memory`, `protocol` or
   * `startup` (not ready in time, or the start-up self-test failed);
   * `restart`: the backoff waited.
   */
  detail: string;
  /** The process id, when there is one. */
  pid?: number;
}

/**
 * How the agent host runs:
 * - `process`: `deno run <denoFlagsFor(config)> agent_main.ts` from source, or
 *   the bundle itself with `__agent-process` from a bundle (`host_entry.ts`);
 * - `compiled`: the LOOM executable itself with the hidden `__agent-host`
 *   argument, which runs the agent code in a Worker with explicit
 *   permissions (see `worker_host.ts`), because a compiled binary cannot
 *   start `deno run` with new flags;
 * - `worker`: the compiled path run from source through `deno run`, so the
 *   same tests cover it.
 */
export type AgentHostMode = "process" | "worker" | "compiled";

/** Options of {@linkcode AgentHost}. */
export interface AgentHostOptions {
  /** Default `compiled` in a `deno compile` executable, else `process`. */
  mode?: AgentHostMode;
  /**
   * The entry module: `agent_main.ts` for `process`, `agent_worker.ts` for
   * `worker`/`compiled`. Tests pass hostile fixtures.
   */
  entry?: string | URL;
  /** Stop the process after this long without calls. Default 10 minutes. */
  idleMs?: number;
  /** V8 heap cap of the process, MiB. Default 96. */
  memoryMb?: number;
  /**
   * How long past the call deadline an answer is awaited before the call
   * ends as `UPSTREAM_TIMEOUT`, and then how long a liveness ping is awaited
   * before the process is killed. Default 500 ms.
   */
  graceMs?: number;
  /** A process not ready this long after spawning is killed (`kill`/`startup`). Default 10 s. */
  startTimeoutMs?: number;
  /** Backoff before restarting after a crash or kill. */
  backoff?: {
    /** First delay. Default 100 ms. */
    initialMs?: number;
    /** Largest delay. Default 30 s. */
    maxMs?: number;
    /** A process that was ready this long resets the delay. Default 60 s. */
    resetAfterMs?: number;
  };
  /** Lifecycle events, for `sandbox_lifecycle` audit records. */
  onEvent?: (event: SandboxEvent) => void;
  /** Each line the process writes to stderr (cut to 4 KiB). Default: dropped. */
  onLog?: (line: string) => void;
  /** Resolver used for the child's destination checks. Default: the system resolver. */
  lookup?: (host: string) => Promise<string[]>;
  /**
   * `DENO_DIR` for the child. Default: the parent's `DENO_DIR` when set, so
   * both share one module cache; otherwise unset (Deno then finds the
   * default cache through the user's home directory, without `HOME`).
   */
  denoDir?: string | null;
}

/** How to start an agent host process. */
export interface AgentHostCommand {
  command: string;
  args: string[];
  /** The complete environment (spawn with `clearEnv: true`). */
  env: Record<string, string>;
  cwd: string;
}

const DEFAULT_IDLE_MS = 10 * 60_000;
const DEFAULT_GRACE_MS = 500;
const DEFAULT_START_TIMEOUT_MS = 10_000;
const STOP_WAIT_MS = 2000;
const LOG_LINE_CHARS = 4096;
const OUT_OF_MEMORY = /out of memory|heap limit/i;

/** Flags of the outer process in `worker` mode: what a compiled LOOM binary has. */
const WORKER_OUTER_FLAGS = [
  "--no-prompt",
  "--no-config",
  "--no-remote",
  "--no-npm",
  "--unstable-worker-options",
  "--allow-read",
  "--allow-write",
  "--allow-net",
  "--allow-env",
];

function defaultMode(): AgentHostMode {
  return Deno.build.standalone ? "compiled" : "process";
}

function modulePath(entry: string | URL): string {
  const url = entry instanceof URL ? entry : new URL(entry, "file:///");
  return url.protocol === "file:" ? fileURLToPath(url) : url.href;
}

function parentDenoDir(): string | null {
  try {
    return Deno.env.get("DENO_DIR") ?? null;
  } catch {
    return null; // no env permission: nothing to share
  }
}

/**
 * The command that starts an agent host for a config: the program, its
 * arguments (the Deno flags of {@linkcode denoFlagsFor}), the complete
 * environment and the working directory. Spawn it with `clearEnv: true`:
 * nothing of the parent's environment may reach the child (a
 * `DENO_PERMISSION_BROKER_PATH` would void every flag, see
 * `docs/security-requirements.md` SBX-3; proxies and secrets must not leak).
 *
 * @param config the agent config
 * @param options mode, entry, memory cap, `DENO_DIR`
 * @returns the command
 */
export function agentHostCommand(
  config: AgentConfig,
  options: Pick<AgentHostOptions, "mode" | "entry" | "memoryMb" | "denoDir"> = {},
): AgentHostCommand {
  const mode = options.mode ?? defaultMode();
  const memoryMb = options.memoryMb ?? DEFAULT_AGENT_MEMORY_MB;
  const env: Record<string, string> = { NO_COLOR: "1" };
  const denoDir = options.denoDir === undefined ? parentDenoDir() : options.denoDir;
  if (denoDir) env.DENO_DIR = denoDir;
  const cwd = Deno.build.os === "windows" ? "C:\\" : "/";
  const allowNet = `--allow-net=${netAllowList(config.bridges).join(",")}`;
  const entryArg = options.entry === undefined
    ? []
    : [`--entry=${new URL(options.entry, import.meta.url).href}`];
  if (mode === "process") {
    const program = options.entry === undefined
      ? hostEntry()
      : { module: modulePath(options.entry), args: [] };
    return {
      command: Deno.execPath(),
      args: ["run", ...denoFlagsFor(config, { memoryMb }), program.module, ...program.args],
      env,
      cwd,
    };
  }
  if (mode === "worker") {
    return {
      command: Deno.execPath(),
      args: [
        "run",
        ...WORKER_OUTER_FLAGS,
        `--v8-flags=--max-old-space-size=${memoryMb}`,
        modulePath(new URL("./worker_host_main.ts", import.meta.url)),
        allowNet,
        ...entryArg,
      ],
      env,
      cwd,
    };
  }
  // A compiled executable takes no runtime flags (they are script arguments),
  // so the heap cap travels in DENO_V8_FLAGS.
  env.DENO_V8_FLAGS = `--max-old-space-size=${memoryMb}`;
  return { command: Deno.execPath(), args: ["__agent-host", allowNet, ...entryArg], env, cwd };
}

type Timer = ReturnType<typeof setTimeout>;

type KillReason = "timeout" | "protocol" | "startup";
type StopReason = "idle" | "shutdown" | KillReason;

interface Pending {
  resolve(result: BridgeRunResult | null): void;
  reject(error: LoomError): void;
}

interface Proc {
  child: Deno.ChildProcess;
  pid: number;
  writer: WritableStreamDefaultWriter<Uint8Array>;
  /** Coalesces the messages of one turn into one write to the child's stdin. */
  out: LineWriter;
  pending: Map<number, Pending>;
  readyAt: number | null;
  ready: Promise<void>;
  exited: Promise<void>;
  stopping: StopReason | null;
  outOfMemory: boolean;
  pinging: boolean;
  /** The process has exited and its exit was handled. */
  gone: boolean;
  timers: Set<Timer>;
}

function toLoomError(response: ErrorResponse): LoomError {
  const { code, message } = response;
  switch (code) {
    case "UPSTREAM_FAILED":
      return response.status !== undefined && response.status >= 400
        ? new UpstreamStatusError(response.status, response.detail ?? "")
        : new UpstreamError(code, message);
    case "UPSTREAM_TIMEOUT":
    case "RESPONSE_TOO_LARGE":
      return new UpstreamError(code, message);
    case "POLICY_DENIED":
      return new PolicyError(message);
    case "INPUT_INVALID": {
      const error = new InputError(response.field ?? "", "");
      error.message = message;
      return error;
    }
    default:
      return new LoomError(code, message);
  }
}

function unavailable(message: string): LoomError {
  return new LoomError("UNAVAILABLE", message);
}

async function defaultLookup(host: string): Promise<string[]> {
  const found = await dnsLookup(host, { all: true });
  return found.map((a) => a.address);
}

function hostOf(bridge: BridgeSpec): string | null {
  try {
    return bridgeTargets([bridge])[0].host;
  } catch {
    return null;
  }
}

function isTimeout(reason: unknown): boolean {
  if (reason instanceof LoomError) return reason.code === "UPSTREAM_TIMEOUT";
  return !(reason instanceof DOMException && reason.name === "AbortError");
}

/**
 * Runs an agent's bridge calls in its sandboxed host process
 * (`sandbox: deno`). One process per agent, started on the first call and
 * reused over a persistent pipe; calls run concurrently.
 *
 * - deadline: a call without an answer by its deadline plus `graceMs` ends as
 *   `UPSTREAM_TIMEOUT`; if the process then does not answer a ping within
 *   `graceMs` it is killed with SIGKILL (`kill`/`timeout`);
 * - memory: V8 aborts the process at `memoryMb` (`kill`/`memory`);
 * - crash: calls in flight fail with `UNAVAILABLE` ("Agent host exited"); the
 *   next call restarts the process after a backoff (100 ms doubling to 30 s,
 *   reset once a process stayed up for 60 s);
 * - idle: stopped after `idleMs` without calls (`stop`/`idle`);
 * - {@linkcode AgentHost.close}: stopped and awaited (`stop`/`shutdown`).
 *
 * The sandbox's network allowances are fixed at start from the config; the
 * per-call `allowNetworks` is ignored. A bridge that is not one of the
 * config's is sent inline and still runs inside the same wall.
 */
export class AgentHost implements BridgeExecutor, AsyncDisposable {
  readonly config: AgentConfig;
  #options: AgentHostOptions;
  #mode: AgentHostMode;
  #idleMs: number;
  #graceMs: number;
  #startTimeoutMs: number;
  #backoffInitial: number;
  #backoffMax: number;
  #backoffReset: number;
  #lookup: (host: string) => Promise<string[]>;
  #resolvable = new Set<string>();
  /** Each config bridge's index, sent instead of the bridge. */
  #bridgeIndex: Map<BridgeSpec, number>;
  #deadlineMs: number;
  /** The calls' deadline timers, shared by calls due within the same few milliseconds. */
  #deadlines = new Deadlines();
  #proc: Proc | null = null;
  #starting: Promise<Proc> | null = null;
  #nextId = 0;
  #active = 0;
  /** `performance.now()` when the last call ended. */
  #lastActive = 0;
  #idleTimer: Timer | null = null;
  #closed = false;
  #closing = new AbortController();
  #backoff: number;
  #restartAt: { at: number; delayMs: number } | null = null;
  #spawns = 0;

  /**
   * @param config the agent config; the Deno flags derive from it alone
   * @param options mode, entry, limits, callbacks
   */
  constructor(config: AgentConfig, options: AgentHostOptions = {}) {
    this.config = config;
    this.#options = options;
    this.#mode = options.mode ?? defaultMode();
    this.#idleMs = options.idleMs ?? DEFAULT_IDLE_MS;
    this.#graceMs = options.graceMs ?? DEFAULT_GRACE_MS;
    this.#startTimeoutMs = options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
    this.#backoffInitial = options.backoff?.initialMs ?? 100;
    this.#backoffMax = options.backoff?.maxMs ?? 30_000;
    this.#backoffReset = options.backoff?.resetAfterMs ?? 60_000;
    this.#backoff = this.#backoffInitial;
    this.#lookup = options.lookup ?? defaultLookup;
    this.#bridgeIndex = new Map(config.bridges.map((bridge, index) => [bridge, index]));
    this.#deadlineMs = config.runtime.maxExecutionTimeMs;
    for (const target of bridgeTargets(config.bridges)) this.#resolvable.add(target.host);
  }

  /** The running process's id, or null when none runs. */
  get pid(): number | null {
    const proc = this.#proc;
    return proc !== null && proc.stopping === null ? proc.pid : null;
  }

  /** How many processes were started so far. */
  get spawnCount(): number {
    return this.#spawns;
  }

  /**
   * Execute one call in the agent host, starting it if needed.
   *
   * @param bridge the bridge (one of the config's, else sent inline)
   * @param args validated arguments
   * @param options deadline signal, size cap, granted secrets
   * @returns the bridge result
   * @throws {LoomError} the bridge's errors; `UNAVAILABLE` when the process
   *   cannot start or exits; `UPSTREAM_TIMEOUT` past the deadline
   */
  async run(
    bridge: BridgeSpec,
    args: Record<string, unknown>,
    options: ExecuteOptions,
  ): Promise<BridgeRunResult> {
    if (this.#closed) throw unavailable("Agent host is closed");
    this.#active++;
    try {
      const proc = this.#live() ?? await this.#ensure(options.signal);
      const result = await this.#call(proc, bridge, args, options);
      if (result === null) throw new LoomError("INTERNAL", "Agent host sent an empty result");
      return result;
    } finally {
      if (--this.#active === 0) this.#idleFrom(performance.now());
    }
  }

  /** Stop the process (if any) and wait for it to exit. Later calls fail. */
  async close(): Promise<void> {
    if (this.#closed) {
      await this.#proc?.exited;
      return;
    }
    this.#closed = true;
    this.#clearIdle();
    this.#closing.abort();
    const starting = this.#starting;
    if (starting) await starting.catch(() => {});
    const proc = this.#proc;
    if (proc) {
      this.#stop(proc, "shutdown");
      await proc.exited;
    }
  }

  /** Same as {@linkcode AgentHost.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // --- start ----------------------------------------------------------------

  /** The process when it is ready and not stopping: the path of every call but the first. */
  #live(): Proc | null {
    const proc = this.#proc;
    return proc !== null && proc.stopping === null && proc.readyAt !== null ? proc : null;
  }

  async #ensure(signal: AbortSignal): Promise<Proc> {
    for (;;) {
      if (this.#closed) throw unavailable("Agent host is closed");
      const proc = this.#proc;
      if (proc !== null && proc.stopping === null) {
        await this.#race(proc.ready, signal);
        return proc;
      }
      if (proc !== null) {
        await this.#race(proc.exited, signal);
        continue;
      }
      if (this.#starting === null) {
        const starting = this.#start().finally(() => (this.#starting = null));
        starting.catch(() => {}); // each caller observes it through #race
        this.#starting = starting;
      }
      await this.#race(this.#starting, signal);
    }
  }

  /** Wait for `promise`, or fail as the call's signal says. */
  #race<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => reject(this.#abortError(signal.reason));
      if (signal.aborted) return onAbort();
      signal.addEventListener("abort", onAbort, { once: true });
      promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
    });
  }

  #abortError(reason: unknown): LoomError {
    if (reason instanceof LoomError) return reason;
    if (isTimeout(reason)) {
      return new UpstreamError(
        "UPSTREAM_TIMEOUT",
        `Call exceeded max_execution_time of ${
          formatDuration(this.config.runtime.maxExecutionTimeMs)
        }`,
      );
    }
    return new UpstreamError("UPSTREAM_FAILED", "Upstream call was cancelled");
  }

  async #start(): Promise<Proc> {
    if (this.#restartAt !== null) {
      const { at, delayMs } = this.#restartAt;
      this.#restartAt = null;
      await this.#sleep(at - Date.now());
      if (this.#closed) throw unavailable("Agent host is closed");
      this.#emit({ action: "restart", detail: `after ${formatDuration(delayMs)} backoff` });
    }
    const proc = this.#spawn();
    this.#proc = proc;
    await proc.ready;
    return proc;
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const signal = this.#closing.signal;
      if (signal.aborted || ms <= 0) return resolve();
      const done = () => {
        clearTimeout(id);
        signal.removeEventListener("abort", done);
        resolve();
      };
      const id = setTimeout(done, ms);
      signal.addEventListener("abort", done, { once: true });
    });
  }

  #spawn(): Proc {
    const spec = agentHostCommand(this.config, {
      mode: this.#mode,
      entry: this.#options.entry,
      memoryMb: this.#options.memoryMb,
      denoDir: this.#options.denoDir,
    });
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(spec.command, {
        args: spec.args,
        env: spec.env,
        clearEnv: true,
        cwd: spec.cwd,
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
        // Its own session and process group: a signal sent to LOOM's group
        // (a terminal's Ctrl-C, a client ending the group) is LOOM's to act
        // on. In LOOM's group the process died of it before LOOM began its
        // orderly stop, and was recorded as a crash. Its life stays tied to
        // LOOM: it ends when its stdin closes, as it does when LOOM exits.
        detached: true,
      }).spawn();
    } catch (error) {
      const why = error instanceof Deno.errors.NotCapable
        ? `LOOM has no permission to run "${spec.command}"`
        : (error as Error).name;
      throw unavailable(`Cannot start the agent host: ${why}`);
    }
    this.#spawns++;
    const started = performance.now();
    const writer = child.stdin.getWriter();
    const proc: Proc = {
      child,
      pid: child.pid,
      writer,
      // A failed write means the process is gone; its exit fails whatever is pending.
      out: new LineWriter((bytes) => writer.write(bytes)),
      pending: new Map(),
      readyAt: null,
      ready: Promise.resolve(),
      exited: Promise.resolve(),
      stopping: null,
      outOfMemory: false,
      pinging: false,
      gone: false,
      timers: new Set(),
    };
    this.#emit({ action: "spawn", detail: this.#mode, pid: proc.pid });
    const stdout = this.#readStdout(proc);
    const stderr = this.#readStderr(proc);
    proc.exited = (async () => {
      const status = await child.status;
      await Promise.allSettled([stdout, stderr]);
      await proc.writer.close().catch(() => {});
      this.#onExit(proc, status);
    })();
    proc.ready = this.#request(proc, {
      id: 0,
      op: "init",
      bridges: [...this.config.bridges],
      allowNetworks: [...this.config.runtime.allowNetworks],
    }).then(
      () => {
        clearTimeout(startTimer);
        proc.timers.delete(startTimer);
        proc.readyAt = Date.now();
        const ms = Math.round(performance.now() - started);
        this.#emit({ action: "ready", detail: `started in ${ms}ms`, pid: proc.pid });
      },
      (error) => {
        // A refused start (the self-test failed) leaves no half-ready process.
        if (!proc.gone) this.#kill(proc, "startup");
        throw error;
      },
    );
    proc.ready.catch(() => {}); // observed by callers
    const startTimer = setTimeout(() => {
      proc.timers.delete(startTimer);
      this.#kill(proc, "startup");
    }, this.#startTimeoutMs);
    proc.timers.add(startTimer);
    return proc;
  }

  // --- pipe -----------------------------------------------------------------

  #send(proc: Proc, message: ParentMessage): void {
    proc.out.send(message);
  }

  /** Send a request with a fresh id; settles with the child's answer. */
  #request(proc: Proc, message: InitRequest | PingRequest): Promise<BridgeRunResult | null> {
    const id = ++this.#nextId;
    return new Promise((resolve, reject) => {
      proc.pending.set(id, { resolve, reject });
      this.#send(proc, { ...message, id });
    });
  }

  async #readStdout(proc: Proc): Promise<void> {
    try {
      await forEachLine(proc.child.stdout, (line) => {
        if (line === "") return true;
        const message = parseChildMessage(line);
        if (message === null) {
          this.#kill(proc, "protocol");
          return false;
        }
        this.#onMessage(proc, message);
        return true;
      });
    } catch {
      this.#kill(proc, "protocol");
    } finally {
      await proc.child.stdout.cancel().catch(() => {});
    }
  }

  async #readStderr(proc: Proc): Promise<void> {
    const onLog = this.#options.onLog;
    try {
      await forEachLine(proc.child.stderr, (line) => {
        if (OUT_OF_MEMORY.test(line)) proc.outOfMemory = true;
        onLog?.(line.slice(0, LOG_LINE_CHARS));
      }, 1024 * 1024);
    } catch {
      // An overlong line: stop forwarding and drain.
      await proc.child.stderr.pipeTo(new WritableStream()).catch(() => {});
    }
  }

  #onMessage(proc: Proc, message: ChildMessage): void {
    if ("op" in message) {
      this.#answerLookup(proc, message);
      return;
    }
    const pending = proc.pending.get(message.id);
    if (pending === undefined) return; // answered after its deadline
    proc.pending.delete(message.id);
    if (message.ok) pending.resolve(message.result);
    else pending.reject(toLoomError(message));
  }

  /**
   * Resolve a host for the child's destination check. Only hosts of bridges
   * this parent sent are resolved, so a compromised child cannot use the
   * parent as a DNS channel.
   */
  #answerLookup(proc: Proc, request: LookupRequest): void {
    const { lid, host } = request;
    if (!this.#resolvable.has(host)) {
      this.#send(proc, { op: "resolved", lid });
      return;
    }
    this.#lookup(host).then(
      (addresses) => this.#send(proc, { op: "resolved", lid, addresses }),
      () => this.#send(proc, { op: "resolved", lid }),
    );
  }

  // --- calls ----------------------------------------------------------------

  #call(
    proc: Proc,
    bridge: BridgeSpec,
    args: Record<string, unknown>,
    options: ExecuteOptions,
  ): Promise<BridgeRunResult | null> {
    const { signal } = options;
    if (signal.aborted) return Promise.reject(this.#abortError(signal.reason));
    const index = this.#bridgeIndex.get(bridge);
    if (index === undefined) {
      const host = hostOf(bridge);
      if (host !== null) this.#resolvable.add(host);
    }
    const deadlineMs = this.#deadlineMs;
    const id = ++this.#nextId;
    return new Promise((resolve, reject) => {
      let grace: Timer | null = null;
      const finish = () => {
        cancelDeadline();
        if (grace !== null) clearTimeout(grace);
        signal.removeEventListener("abort", onAbort);
        proc.pending.delete(id);
      };
      const timedOut = () => {
        finish();
        reject(
          new UpstreamError(
            "UPSTREAM_TIMEOUT",
            `Call exceeded max_execution_time of ${formatDuration(deadlineMs)}`,
          ),
        );
        this.#checkAlive(proc);
      };
      const onAbort = () => {
        if (isTimeout(signal.reason)) {
          grace ??= setTimeout(timedOut, this.#graceMs);
          return;
        }
        finish();
        this.#send(proc, { op: "cancel", id });
        reject(this.#abortError(signal.reason));
      };
      const cancelDeadline = this.#deadlines.after(deadlineMs + this.#graceMs, timedOut);
      signal.addEventListener("abort", onAbort, { once: true });
      proc.pending.set(id, {
        resolve: (result) => {
          finish();
          resolve(result);
        },
        reject: (error) => {
          finish();
          reject(error);
        },
      });
      this.#send(proc, {
        id,
        op: "run",
        bridge: index ?? bridge,
        args,
        secrets: Object.fromEntries(options.secrets),
        deadlineMs,
        maxResponseBytes: options.maxResponseBytes,
      });
    });
  }

  /** After a call timed out: kill the process unless it answers a ping in time. */
  #checkAlive(proc: Proc): void {
    if (proc.stopping !== null || proc.pinging) return;
    proc.pinging = true;
    const timer = setTimeout(() => {
      proc.timers.delete(timer);
      this.#kill(proc, "timeout");
    }, this.#graceMs);
    proc.timers.add(timer);
    this.#request(proc, { id: 0, op: "ping" }).then(
      () => {
        clearTimeout(timer);
        proc.timers.delete(timer);
        proc.pinging = false;
      },
      () => {}, // the process exited
    );
  }

  // --- stop -----------------------------------------------------------------

  #kill(proc: Proc, reason: KillReason): void {
    if (proc.stopping !== null || proc.gone) return;
    proc.stopping = reason;
    this.#emit({ action: "kill", detail: reason, pid: proc.pid });
    try {
      proc.child.kill("SIGKILL");
    } catch {
      // Already exited.
    }
  }

  /** Ask the process to end (stdin closes), and kill it if it lingers. */
  #stop(proc: Proc, reason: "idle" | "shutdown"): void {
    if (proc.stopping !== null) return;
    proc.stopping = reason;
    proc.out.flush();
    proc.writer.close().catch(() => {});
    const timer = setTimeout(() => {
      proc.timers.delete(timer);
      try {
        proc.child.kill("SIGKILL");
      } catch {
        // Already exited.
      }
    }, STOP_WAIT_MS);
    proc.timers.add(timer);
  }

  #onExit(proc: Proc, status: Deno.CommandStatus): void {
    proc.gone = true;
    for (const timer of proc.timers) clearTimeout(timer);
    proc.timers.clear();
    if (this.#proc === proc) this.#proc = null;
    const reason = proc.stopping;
    let error: LoomError;
    if (reason === "idle" || reason === "shutdown") {
      this.#emit({ action: "stop", detail: reason, pid: proc.pid });
      error = unavailable("Agent host stopped");
    } else {
      if (reason === "timeout") {
        error = new UpstreamError(
          "UPSTREAM_TIMEOUT",
          "Agent host stopped answering and was killed",
        );
      } else if (reason === "protocol") {
        error = unavailable("Agent host broke the protocol and was killed");
      } else if (reason === "startup") {
        error = unavailable("Agent host did not start");
      } else if (proc.outOfMemory) {
        const mb = this.#options.memoryMb ?? DEFAULT_AGENT_MEMORY_MB;
        this.#emit({ action: "kill", detail: "memory", pid: proc.pid });
        error = unavailable(`Agent host exited: memory cap of ${mb} MiB reached`);
      } else {
        const how = status.signal ? `signal ${status.signal}` : `exit code ${status.code}`;
        this.#emit({ action: "crash", detail: how, pid: proc.pid });
        error = unavailable("Agent host exited");
      }
      this.#scheduleRestart(proc);
    }
    for (const pending of [...proc.pending.values()]) pending.reject(error);
    proc.pending.clear();
  }

  #scheduleRestart(proc: Proc): void {
    if (proc.readyAt !== null && Date.now() - proc.readyAt >= this.#backoffReset) {
      this.#backoff = this.#backoffInitial;
    }
    this.#restartAt = { at: Date.now() + this.#backoff, delayMs: this.#backoff };
    this.#backoff = Math.min(this.#backoff * 2, this.#backoffMax);
  }

  #clearIdle(): void {
    if (this.#idleTimer !== null) clearTimeout(this.#idleTimer);
    this.#idleTimer = null;
  }

  /**
   * The last call ended at `now`: stop the process once `idleMs` pass
   * without calls. One timer serves many calls: it is set when none is
   * pending, and on firing it stops the process only if no call ran in the
   * meantime, else it waits for the rest of the period.
   */
  #idleFrom(now: number): void {
    this.#lastActive = now;
    if (this.#idleTimer === null) this.#armIdle(this.#idleMs);
  }

  #armIdle(delayMs: number): void {
    const proc = this.#proc;
    if (this.#closed || proc === null || proc.stopping !== null) return;
    const timer = setTimeout(() => {
      this.#idleTimer = null;
      const proc = this.#proc;
      // A call under way re-arms the timer when it ends.
      if (this.#closed || this.#active > 0 || proc === null || proc.stopping !== null) return;
      const left = this.#lastActive + this.#idleMs - performance.now();
      if (left > 0) this.#armIdle(left);
      else this.#stop(proc, "idle");
    }, delayMs);
    Deno.unrefTimer(timer as unknown as number);
    this.#idleTimer = timer;
  }

  #emit(event: SandboxEvent): void {
    try {
      this.#options.onEvent?.(event);
    } catch {
      // A failing listener must not break the host.
    }
  }
}
