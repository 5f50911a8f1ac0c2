/**
 * The life of one agent's host process: started on first use, ready once it
 * answers `init` (after its self-test), stopped when idle, killed when it
 * hangs, exhausts its heap, breaks the protocol or never becomes ready, and
 * restarted with exponential backoff after a crash or kill.
 *
 * Defends LOOM against its own sandbox: a child that loops, blocks or
 * misbehaves costs one agent's calls, never the parent's responsiveness,
 * and a child that keeps dying is not restarted in a tight loop. Every
 * change is reported as a {@linkcode SandboxEvent} for the audit log.
 * Kept apart from the calls (`agent_host.ts`) and the pipe (`channel.ts`):
 * this module decides when a process lives, not what it is asked.
 * It is one state machine over one process record (start, ready, idle, kill,
 * exit, restart share its fields and timers), which is why it stays one file
 * of some 480 lines rather than several that each hold part of a transition.
 *
 * @module
 */

import type { AgentConfig } from "../../../config/mod.ts";
import { type LoomError, UpstreamError } from "../../../errors.ts";
import { formatDuration } from "../../../_util/units.ts";
import { DEFAULT_AGENT_MEMORY_MB } from "../../../security/sandbox/mod.ts";
import type { InitRequest, PingRequest } from "../protocol.ts";
import {
  abortError,
  type ChannelOptions,
  HostChannel,
  systemLookup,
  unavailable,
} from "./channel.ts";
import {
  agentHostCommand,
  type AgentHostMode,
  defaultMode,
  launchAgentHost,
  type LaunchOptions,
} from "./launch.ts";

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

/** How an agent host is launched and supervised. */
export interface SupervisorOptions extends LaunchOptions {
  /** Stop the process after this long without calls. Default 10 minutes. */
  idleMs?: number;
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
}

const DEFAULT_IDLE_MS = 10 * 60_000;
const DEFAULT_GRACE_MS = 500;
const DEFAULT_START_TIMEOUT_MS = 10_000;
const STOP_WAIT_MS = 2000;

type Timer = ReturnType<typeof setTimeout>;

type KillReason = "timeout" | "protocol" | "startup";
type StopReason = "idle" | "shutdown" | KillReason;

/** One agent host process and its pipe. */
export interface HostProcess {
  child: Deno.ChildProcess;
  pid: number;
  channel: HostChannel;
  readyAt: number | null;
  ready: Promise<void>;
  exited: Promise<void>;
  stopping: StopReason | null;
  pinging: boolean;
  /** The process has exited and its exit was handled. */
  gone: boolean;
  timers: Set<Timer>;
}

/**
 * Keeps at most one host process of an agent alive: see the module doc for
 * when it starts, stops, is killed and restarted.
 */
export class Supervisor {
  readonly config: AgentConfig;
  /** How long past a deadline an answer, then a ping, is awaited. */
  readonly graceMs: number;
  #options: SupervisorOptions;
  #mode: AgentHostMode;
  #idleMs: number;
  #startTimeoutMs: number;
  #backoffInitial: number;
  #backoffMax: number;
  #backoffReset: number;
  #channel: Omit<ChannelOptions, "onBroken">;
  #proc: HostProcess | null = null;
  #starting: Promise<HostProcess> | null = null;
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
   * @param resolvable the hosts the child may have resolved (read live, the caller adds to it)
   */
  constructor(config: AgentConfig, options: SupervisorOptions, resolvable: ReadonlySet<string>) {
    this.config = config;
    this.#options = options;
    this.#mode = options.mode ?? defaultMode();
    this.#idleMs = options.idleMs ?? DEFAULT_IDLE_MS;
    this.graceMs = options.graceMs ?? DEFAULT_GRACE_MS;
    this.#startTimeoutMs = options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
    this.#backoffInitial = options.backoff?.initialMs ?? 100;
    this.#backoffMax = options.backoff?.maxMs ?? 30_000;
    this.#backoffReset = options.backoff?.resetAfterMs ?? 60_000;
    this.#backoff = this.#backoffInitial;
    this.#channel = {
      lookup: options.lookup ?? systemLookup,
      resolvable,
      onLog: options.onLog,
    };
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

  /** Whether {@linkcode Supervisor.close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** A fresh request id, unique across this agent's processes. */
  nextId(): number {
    return ++this.#nextId;
  }

  /** A call begins: the process is not idle. */
  beginCall(): void {
    this.#active++;
  }

  /** A call ended: once none runs, the idle period starts. */
  endCall(): void {
    if (--this.#active === 0) this.#idleFrom(performance.now());
  }

  /** The process when it is ready and not stopping: the path of every call but the first. */
  live(): HostProcess | null {
    const proc = this.#proc;
    return proc !== null && proc.stopping === null && proc.readyAt !== null ? proc : null;
  }

  /**
   * A ready process, started (after the backoff, if one is due) when none runs.
   *
   * @param signal the call's signal: waiting ends when it aborts
   * @returns the ready process
   * @throws {LoomError} `UNAVAILABLE` when closed or the process cannot start;
   *   the call's abort error
   */
  async ensure(signal: AbortSignal): Promise<HostProcess> {
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

  /** After a call timed out: kill the process unless it answers a ping in time. */
  checkAlive(proc: HostProcess): void {
    if (proc.stopping !== null || proc.pinging) return;
    proc.pinging = true;
    const timer = setTimeout(() => {
      proc.timers.delete(timer);
      this.#kill(proc, "timeout");
    }, this.graceMs);
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

  // --- start ----------------------------------------------------------------

  /** Wait for `promise`, or fail as the call's signal says. */
  #race<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const onAbort = () =>
        reject(abortError(signal.reason, this.config.runtime.maxExecutionTimeMs));
      if (signal.aborted) return onAbort();
      signal.addEventListener("abort", onAbort, { once: true });
      promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
    });
  }

  async #start(): Promise<HostProcess> {
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

  #spawn(): HostProcess {
    const child = launchAgentHost(agentHostCommand(this.config, {
      mode: this.#mode,
      entry: this.#options.entry,
      memoryMb: this.#options.memoryMb,
      denoDir: this.#options.denoDir,
    }));
    this.#spawns++;
    const started = performance.now();
    const proc: HostProcess = {
      child,
      pid: child.pid,
      channel: new HostChannel(child, {
        ...this.#channel,
        onBroken: () => this.#kill(proc, "protocol"),
      }),
      readyAt: null,
      ready: Promise.resolve(),
      exited: Promise.resolve(),
      stopping: null,
      pinging: false,
      gone: false,
      timers: new Set(),
    };
    this.#emit({ action: "spawn", detail: this.#mode, pid: proc.pid });
    proc.exited = (async () => {
      const status = await child.status;
      await proc.channel.drained;
      await proc.channel.close();
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

  /** Send a request with a fresh id; settles with the child's answer. */
  #request(proc: HostProcess, message: InitRequest | PingRequest): Promise<unknown> {
    return proc.channel.request({ ...message, id: this.nextId() });
  }

  // --- stop -----------------------------------------------------------------

  #kill(proc: HostProcess, reason: KillReason): void {
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
  #stop(proc: HostProcess, reason: "idle" | "shutdown"): void {
    if (proc.stopping !== null) return;
    proc.stopping = reason;
    proc.channel.end();
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

  #onExit(proc: HostProcess, status: Deno.CommandStatus): void {
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
      } else if (proc.channel.outOfMemory) {
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
    proc.channel.failAll(error);
  }

  #scheduleRestart(proc: HostProcess): void {
    if (proc.readyAt !== null && Date.now() - proc.readyAt >= this.#backoffReset) {
      this.#backoff = this.#backoffInitial;
    }
    this.#restartAt = { at: Date.now() + this.#backoff, delayMs: this.#backoff };
    this.#backoff = Math.min(this.#backoff * 2, this.#backoffMax);
  }

  // --- idle -----------------------------------------------------------------

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
