/**
 * How an agent host process is launched: the program, its arguments, its
 * environment and working directory, derived from the agent's config alone.
 *
 * Defends against a child that holds more than its config grants: the Deno
 * flags are {@linkcode denoFlagsFor}'s (`src/security/sandbox/`), and the
 * process starts with a cleared environment, so nothing of LOOM's own
 * environment reaches it (a `DENO_PERMISSION_BROKER_PATH` would void every
 * flag, see `docs/security-requirements.md` SBX-3; proxies and secrets must
 * not leak). Kept apart from the supervision so the argv and environment can
 * be read, printed (`loom sandbox`) and tested without starting anything.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import type { AgentConfig } from "../../../config/mod.ts";
import { LoomError } from "../../../errors.ts";
import {
  DEFAULT_AGENT_MEMORY_MB,
  denoFlagsFor,
  netAllowList,
} from "../../../security/sandbox/mod.ts";
import { hostEntry } from "./host_entry.ts";

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

/** What decides the command of an agent host, besides its config. */
export interface LaunchOptions {
  /** Default `compiled` in a `deno compile` executable, else `process`. */
  mode?: AgentHostMode;
  /**
   * The entry module: `agent_main.ts` for `process`, `agent_worker.ts` for
   * `worker`/`compiled`. Tests pass hostile fixtures.
   */
  entry?: string | URL;
  /** V8 heap cap of the process, MiB. Default 96. */
  memoryMb?: number;
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

/** The mode of this LOOM: `compiled` in a `deno compile` executable, else `process`. */
export function defaultMode(): AgentHostMode {
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
 * environment and the working directory. Spawn it with `clearEnv: true`
 * ({@linkcode launchAgentHost} does): nothing of the parent's environment may
 * reach the child.
 *
 * @param config the agent config
 * @param options mode, entry, memory cap, `DENO_DIR`
 * @returns the command
 */
export function agentHostCommand(
  config: AgentConfig,
  options: LaunchOptions = {},
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

/**
 * Start the process of a command: a cleared environment plus the command's
 * own, all three streams piped, in its own session.
 *
 * @param spec the command, from {@linkcode agentHostCommand}
 * @returns the running process
 * @throws {LoomError} `UNAVAILABLE` when the process cannot start
 */
export function launchAgentHost(spec: AgentHostCommand): Deno.ChildProcess {
  try {
    return new Deno.Command(spec.command, {
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
    throw new LoomError("UNAVAILABLE", `Cannot start the agent host: ${why}`);
  }
}
