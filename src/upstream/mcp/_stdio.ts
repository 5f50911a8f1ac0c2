/**
 * An upstream MCP server run as a child process, spoken to over stdio: one
 * JSON-RPC message per line on its stdin and stdout.
 *
 * The environment. The child starts from a cleared environment: it gets the
 * config's literal values and the secrets `resolveEnv()` returns, nothing of
 * LOOM's own (no proxies, no tokens, no `DENO_PERMISSION_BROKER_PATH`). A
 * Deno module (`denoFlags` set) runs as `deno run <flags> <module> <args>`,
 * and the Deno launcher itself needs a few variables that configure only it,
 * not the module (which cannot read them without `--allow-env`): `DENO_DIR`
 * (LOOM's module cache, so a cached `npm:` package starts offline; the
 * parent's value, or the default cache this Deno uses, asked once with
 * `deno info --json`), `NPM_CONFIG_REGISTRY` when LOOM has one,
 * `DENO_NO_UPDATE_CHECK=1` and `NO_COLOR=1`.
 *
 * The process. It runs in its own session and process group (`detached`),
 * so a terminal's Ctrl-C to LOOM's group is LOOM's to handle, and closing
 * kills the whole group (a server's own children included). It also ends
 * when its stdin closes, as it does when LOOM exits; an `unload` hook kills
 * the groups still running when LOOM's event loop ends.
 *
 * Its stderr is drained and never written anywhere: only its last 4 KiB are
 * kept, for a diagnostic that is sanitized and never shown to MCP clients.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { UpstreamError } from "../../errors.ts";
import { failed } from "./_errors.ts";
import { LineTooLongError, readLines } from "./_lines.ts";
import { type LinkEnd, type RpcHandlers, RpcPeer, type UpstreamLink } from "./_rpc.ts";
import type { McpUpstreamStdio } from "./types.ts";

/** Bytes of stderr kept for diagnostics. */
export const STDERR_TAIL_BYTES = 4096;
/** How long a closing child may take to exit after its stdin closes. */
const CLOSE_GRACE_MS = 300;

const ENCODER = new TextEncoder();
const DECODER = new TextDecoder("utf-8", { fatal: false });

/** Process groups alive now, killed by the `unload` hook. */
const LIVE_GROUPS = new Set<number>();
let unloadHooked = false;

function hookUnload(): void {
  if (unloadHooked) return;
  unloadHooked = true;
  globalThis.addEventListener("unload", () => {
    for (const pid of LIVE_GROUPS) killGroup(pid);
  });
}

/** SIGKILL a process group (and its leader, on systems without groups). */
function killGroup(pid: number): void {
  if (Deno.build.os !== "windows") {
    try {
      Deno.kill(-pid, "SIGKILL");
      return;
    } catch {
      // The group is gone; fall through to the leader.
    }
  }
  try {
    Deno.kill(pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}

/**
 * The Deno that runs a module upstream: this one, or, inside a compiled
 * `loom` executable (whose own path is LOOM, not Deno), the `deno` found on
 * the PATH.
 */
export function launcherDeno(): string {
  return Deno.build.standalone ? "deno" : Deno.execPath();
}

let denoDirOnce: Promise<string | null> | null = null;

/** The module cache this Deno uses: `DENO_DIR`, or what `deno info --json` says. */
export function launcherDenoDir(): Promise<string | null> {
  denoDirOnce ??= (async () => {
    const set = readEnv("DENO_DIR");
    if (set) return set;
    try {
      const out = await new Deno.Command(launcherDeno(), {
        args: ["info", "--json"],
        stdin: "null",
        stdout: "piped",
        stderr: "null",
        env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
      }).output();
      const info = JSON.parse(DECODER.decode(out.stdout)) as { denoDir?: unknown };
      return typeof info.denoDir === "string" ? info.denoDir : null;
    } catch {
      return null;
    }
  })();
  return denoDirOnce;
}

function readEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined; // no env permission
  }
}

/**
 * The program, arguments and complete environment of a stdio upstream.
 *
 * @param transport the stdio transport
 * @returns what to spawn with `clearEnv: true`
 */
export async function stdioCommand(
  transport: McpUpstreamStdio,
): Promise<{ command: string; args: string[]; env: Record<string, string> }> {
  if (transport.command.length === 0) throw new TypeError("Upstream command is empty");
  const env: Record<string, string> = { ...transport.env };
  if (transport.resolveEnv) Object.assign(env, await transport.resolveEnv());
  if (transport.denoFlags === undefined) {
    return { command: transport.command[0], args: transport.command.slice(1), env };
  }
  const denoDir = await launcherDenoDir();
  if (denoDir) env.DENO_DIR = denoDir;
  const registry = readEnv("NPM_CONFIG_REGISTRY");
  if (registry) env.NPM_CONFIG_REGISTRY = registry;
  env.DENO_NO_UPDATE_CHECK = "1";
  env.NO_COLOR = "1";
  const [module, ...rest] = transport.command;
  const program = module.startsWith("file:") ? fileURLToPath(module) : module;
  return {
    command: launcherDeno(),
    args: ["run", ...transport.denoFlags, program, ...rest],
    env,
  };
}

/** A child process speaking MCP over stdio. */
export class StdioLink implements UpstreamLink {
  readonly peer: RpcPeer;
  readonly ended: Promise<LinkEnd>;
  readonly #agent: string;
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #reading: Promise<void>;
  readonly #draining: Promise<void>;
  #stderrTail = new Uint8Array(0);
  #exit: UpstreamError | null = null;
  #gone = false;
  #closing: Promise<void> | null = null;

  private constructor(
    agent: string,
    child: Deno.ChildProcess,
    handlers: RpcHandlers,
    maxBytes: number,
  ) {
    this.#agent = agent;
    this.#child = child;
    this.#writer = child.stdin.getWriter();
    this.peer = new RpcPeer(agent, (message) => this.#write(message), {
      ...handlers,
      onBroken: (reason) => {
        this.#exit = failed(agent, `${reason}; the connection was reset`);
        this.#kill();
      },
    }, false);
    LIVE_GROUPS.add(child.pid);
    hookUnload();
    this.#reading = this.#read(maxBytes);
    this.#draining = this.#drain();
    this.ended = child.status.then(async (status) => {
      this.#gone = true;
      LIVE_GROUPS.delete(child.pid);
      killGroup(child.pid); // what the server left behind
      await Promise.allSettled([this.#reading, this.#draining]);
      const how = status.signal ? `signal ${status.signal}` : `code ${status.code}`;
      const error = this.#exit ?? failed(agent, `exited (${how})`);
      this.peer.failAll(error);
      this.#writer.close().catch(() => {});
      return {
        code: status.signal ? null : status.code,
        detail: error.message,
        stderrTail: this.stderrTail,
      };
    });
  }

  /**
   * Spawn the child.
   *
   * @param agent the agent's name
   * @param transport how to run it
   * @param handlers where its messages go
   * @param maxBytes cap on one message
   * @returns the running link
   * @throws {UpstreamError} when the program cannot start
   */
  static async open(
    agent: string,
    transport: McpUpstreamStdio,
    handlers: RpcHandlers,
    maxBytes: number,
  ): Promise<StdioLink> {
    const spec = await stdioCommand(transport);
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(spec.command, {
        args: spec.args,
        env: spec.env,
        clearEnv: true,
        cwd: transport.cwd ?? (Deno.build.os === "windows" ? "C:\\" : "/"),
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
        detached: true,
      }).spawn();
    } catch (error) {
      const why = error instanceof Deno.errors.NotFound
        ? "program not found"
        : error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied
        ? "not permitted to run it"
        : "spawn failed";
      throw new UpstreamError(
        "UPSTREAM_FAILED",
        `Agent "${agent}": cannot start upstream ${JSON.stringify(transport.command[0])}: ${why}`,
      );
    }
    return new StdioLink(agent, child, handlers, maxBytes);
  }

  get pid(): number | undefined {
    return this.#gone ? undefined : this.#child.pid;
  }

  /** The last bytes of the child's stderr, control characters replaced (diagnostics only). */
  get stderrTail(): string {
    return DECODER.decode(this.#stderrTail).replace(/[^\n\t\x20-\x7e\u00a0-\uffff]/g, "?");
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#exit ??= failed(this.#agent, "connection was closed");
      this.peer.failAll(this.#exit);
      await this.#writer.close().catch(() => {});
      const timer = setTimeout(() => this.#kill(), CLOSE_GRACE_MS);
      try {
        await this.ended;
      } finally {
        clearTimeout(timer);
      }
    })();
    return this.#closing;
  }

  #kill(): void {
    if (!this.#gone) killGroup(this.#child.pid);
  }

  async #write(message: Record<string, unknown>): Promise<void> {
    if (this.#gone) throw this.#exit ?? failed(this.#agent, "is not running");
    try {
      await this.#writer.write(ENCODER.encode(JSON.stringify(message) + "\n"));
    } catch {
      throw this.#exit ?? failed(this.#agent, "closed its input");
    }
  }

  async #read(maxBytes: number): Promise<void> {
    try {
      for await (const line of readLines(this.#child.stdout, maxBytes)) {
        let value: unknown;
        try {
          value = JSON.parse(line);
        } catch {
          this.peer.malformed++;
          continue;
        }
        this.peer.receive(value);
      }
    } catch (error) {
      this.#exit ??= error instanceof LineTooLongError
        ? new UpstreamError(
          "RESPONSE_TOO_LARGE",
          `Agent "${this.#agent}": upstream sent a message over ${maxBytes} bytes; ` +
            "the connection was reset",
        )
        : failed(this.#agent, "output could not be read");
      this.peer.failAll(this.#exit);
      this.#kill();
    }
  }

  async #drain(): Promise<void> {
    try {
      for await (const chunk of this.#child.stderr) {
        const joined = new Uint8Array(this.#stderrTail.length + chunk.length);
        joined.set(this.#stderrTail);
        joined.set(chunk, this.#stderrTail.length);
        this.#stderrTail = joined.slice(Math.max(0, joined.length - STDERR_TAIL_BYTES));
      }
    } catch {
      // The pipe broke with the child; nothing to keep.
    }
  }
}
