/**
 * `loom probe`'s stdio transport: the target is a child process started
 * from an argv (no shell), speaking newline-delimited JSON-RPC on its stdout.
 *
 * The child's environment is cleared except `PATH`, `HOME` and the names
 * given with `--pass-env`, so nothing of the caller's environment (a token
 * in `LOOM_HTTP_TOKEN`, say) reaches a program being inspected. Its stdout
 * must hold only JSON-RPC lines: anything else is "not MCP". The first line
 * of its stderr is kept (bounded) to explain an early exit. On close its
 * stdin is closed, then it gets SIGTERM, then SIGKILL, and the probe waits
 * for its exit, so no process outlives the probe.
 *
 * @module
 */

import type { JsonRpcId } from "../mcp/mod.ts";
import {
  answerOf,
  ClosedError,
  killQuietly,
  MAX_ANSWER_BYTES,
  parseMessage,
  type ProbeTransport,
  quote,
  type RpcAnswer,
  spawnFailure,
  tooLarge,
} from "./_probe_transport.ts";

/** How long a closed stdin, then SIGTERM, is given before the next step. */
const STOP_GRACE_MS = 1_000;
/** Bytes of stderr kept to find its first line. */
const STDERR_KEPT = 4_096;

/** The stdio transport of the probe: one child process. */
export class StdioProbeTransport implements ProbeTransport {
  readonly kind = "stdio";
  legacyVersion: string | null = null;
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #pending = new Map<JsonRpcId, (answer: RpcAnswer | Error) => void>();
  readonly #label: string;
  #failure: Error | null = null;
  #stderr = "";
  #nextId = 1;
  readonly #done: Promise<void>;

  /**
   * Start the target.
   *
   * @param argv the program and its arguments
   * @param env the child's whole environment
   * @throws {LoomError} when the program cannot be started (66 when it does not exist)
   */
  constructor(argv: readonly string[], env: Record<string, string>) {
    this.#label = `stdio target ${quote(argv[0])}`;
    try {
      this.#child = new Deno.Command(argv[0], {
        args: argv.slice(1),
        clearEnv: true,
        env,
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
    } catch (error) {
      throw spawnFailure(argv[0], error);
    }
    this.#writer = this.#child.stdin.getWriter();
    const stderr = this.#readStderr();
    this.#done = Promise.all([this.#readStdout(), stderr]).then(() => {});
  }

  /** Send a request and wait for the response with its id. */
  request(
    method: string,
    params: Record<string, unknown>,
    signal: AbortSignal,
  ): Promise<RpcAnswer> {
    const id = this.#nextId++;
    return new Promise<RpcAnswer>((resolve, reject) => {
      if (this.#failure !== null) return reject(this.#failure);
      const onAbort = () => settle(signal.reason);
      const settle = (answer: RpcAnswer | Error) => {
        this.#pending.delete(id);
        signal.removeEventListener("abort", onAbort);
        answer instanceof Error ? reject(answer) : resolve(answer);
      };
      if (signal.aborted) return reject(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
      this.#pending.set(id, settle);
      this.#send({ jsonrpc: "2.0", id, method, params }).catch((error) => settle(error));
    });
  }

  /** Send a notification. */
  async notify(method: string, params: Record<string, unknown>): Promise<void> {
    await this.#send({ jsonrpc: "2.0", method, params });
  }

  /** Stop the child: stdin closed, then SIGTERM, then SIGKILL; waits for its exit. */
  async close(): Promise<void> {
    await this.#writer.close().catch(() => {});
    if (!(await this.#exitsWithin(STOP_GRACE_MS))) {
      killQuietly(this.#child, "SIGTERM");
      if (!(await this.#exitsWithin(STOP_GRACE_MS))) killQuietly(this.#child, "SIGKILL");
    }
    await this.#child.status;
    await this.#done.catch(() => {});
  }

  async #exitsWithin(ms: number): Promise<boolean> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), ms));
    try {
      return await Promise.race([this.#child.status.then(() => true), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async #send(message: Record<string, unknown>): Promise<void> {
    try {
      await this.#writer.write(new TextEncoder().encode(JSON.stringify(message) + "\n"));
    } catch {
      throw await this.#exitError();
    }
  }

  /** Read stdout lines until it ends; the first bad line fails every waiter. */
  async #readStdout(): Promise<void> {
    const decoder = new TextDecoder();
    let buffer = "";
    try {
      for await (const chunk of this.#child.stdout) {
        buffer += decoder.decode(chunk, { stream: true });
        let newline: number;
        while ((newline = buffer.indexOf("\n")) >= 0) {
          const line = buffer.slice(0, newline).trim();
          buffer = buffer.slice(newline + 1);
          if (line !== "") this.#onMessage(parseMessage(line, this.#label));
        }
        if (buffer.length > MAX_ANSWER_BYTES) throw tooLarge(this.#label);
      }
      if (buffer.trim() !== "") this.#onMessage(parseMessage(buffer.trim(), this.#label));
      this.#fail(await this.#exitError());
    } catch (error) {
      this.#fail(error as Error);
      killQuietly(this.#child, "SIGKILL");
      await this.#child.stdout.cancel().catch(() => {});
    }
  }

  #onMessage(message: Record<string, unknown>): void {
    const id = message.id as JsonRpcId;
    if (typeof message.method === "string") {
      // A request of the server's own: ping is answered, anything else is declined.
      if (id === undefined || id === null) return;
      const reply = message.method === "ping"
        ? { jsonrpc: "2.0", id, result: {} }
        : { jsonrpc: "2.0", id, error: { code: -32601, message: "Not supported by loom probe" } };
      this.#send(reply).catch(() => {});
      return;
    }
    const settle = this.#pending.get(id);
    if (settle !== undefined) settle(answerOf(message, this.#label));
  }

  #fail(error: Error): void {
    if (this.#failure === null) this.#failure = error;
    for (const settle of [...this.#pending.values()]) settle(this.#failure);
  }

  async #readStderr(): Promise<void> {
    const decoder = new TextDecoder();
    for await (const chunk of this.#child.stderr) {
      if (this.#stderr.length < STDERR_KEPT) {
        this.#stderr += decoder.decode(chunk, { stream: true });
      }
    }
  }

  /** Why the child stopped answering: its exit status and first stderr line. */
  async #exitError(): Promise<Error> {
    const status = await this.#exitsWithin(500) ? await this.#child.status : null;
    const line = this.#stderr.split(/\r?\n/).find((l) => l.trim() !== "") ?? "";
    const how = status === null
      ? "closed its stdout"
      : status.signal !== null
      ? `was killed by ${status.signal}`
      : `exited with status ${status.code}`;
    return new ClosedError(
      `The ${this.#label} ${how} before answering` +
        (line === "" ? "" : `; its stderr began: ${quote(line.trim())}`),
    );
  }
}
