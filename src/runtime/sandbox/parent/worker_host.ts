/**
 * The agent host inside a compiled LOOM executable. `deno compile` bakes the
 * permission flags into the binary, and flags given to the binary at run time
 * are script arguments, not permissions (`docs/security-requirements.md`,
 * SBX-9), so the parent cannot narrow a child the way `deno run <flags>`
 * does. Instead the parent starts the LOOM binary itself with the hidden
 * argument `__agent-host` and a cleared environment, and that process runs
 * the agent code in a Worker
 * whose `deno.permissions` name every key: `net` the bridge origins, every
 * other kind `false`. The outer process only relays lines between its stdin
 * and stdout and the Worker's messages.
 *
 * It sits on the parent side of the wall: the Worker is the sandbox, and
 * this outer process starts it, narrows it and relays for it.
 *
 * Kept as thin as possible; `AgentHost` in `worker` mode runs this same code
 * through `deno run`, so the sandbox tests cover it.
 *
 * Limits compared with `process` mode: Worker permissions have no deny list,
 * so private IPv4 ranges are refused only by LOOM's own checks, on the
 * resolved addresses and on the connected socket's remote address before a
 * byte is sent (there is no post-resolution `--deny-net`); the memory cap is the
 * process's (`DENO_V8_FLAGS`); and Worker permissions need
 * `--unstable-worker-options` at compile time.
 *
 * @module
 */

import { forEachLine, LineWriter } from "../protocol.ts";

/** The streams `runAgentHostMain` relays (the CLI's `CliIo` fits). */
export interface AgentHostMainIo {
  stdin: ReadableStream<Uint8Array>;
  stdout: WritableStream<Uint8Array>;
  err(text: string): void;
}

/**
 * The permissions of the agent Worker: every key explicit. Deno 2.9.6 denies
 * unspecified keys although its docs say they inherit (SBX-9,
 * denoland/deno#26057); naming each one keeps the Worker narrow either
 * way.
 *
 * @param allowNet `host:port` entries (empty: no network)
 * @returns the `deno.permissions` of the Worker
 */
export function workerPermissions(allowNet: readonly string[]): Deno.PermissionOptionsObject {
  return {
    net: allowNet.length > 0 ? [...allowNet] : false,
    read: false,
    write: false,
    env: false,
    run: false,
    ffi: false,
    sys: false,
    import: false,
  };
}

function processIo(): AgentHostMainIo {
  const encoder = new TextEncoder();
  return {
    stdin: Deno.stdin.readable,
    stdout: Deno.stdout.writable,
    err: (text) => void Deno.stderr.write(encoder.encode(text)).catch(() => {}),
  };
}

/**
 * Run the agent host of a compiled binary: the hidden `loom __agent-host`
 * subcommand. Arguments: `--allow-net=host:port,...` (from the parent's
 * config) and optionally `--entry=URL` (tests). Returns when stdin closes or
 * the Worker fails.
 *
 * @param args the arguments after `__agent-host`
 * @param io stdin, stdout and an error writer (default: the process's)
 * @returns the exit code: 0 when stdin closed, 64 bad arguments, 70 the Worker failed
 */
export async function runAgentHostMain(
  args: readonly string[],
  io: AgentHostMainIo = processIo(),
): Promise<number> {
  let allowNet: string[] = [];
  let entry = new URL("../child/agent_worker.ts", import.meta.url);
  for (const arg of args) {
    if (arg.startsWith("--allow-net=")) {
      allowNet = arg.slice("--allow-net=".length).split(",").filter((h) => h !== "");
    } else if (arg.startsWith("--entry=")) {
      entry = new URL(arg.slice("--entry=".length));
    } else {
      io.err("loom agent host: unknown argument\n");
      return 64;
    }
  }
  let worker: Worker;
  try {
    worker = new Worker(entry, {
      type: "module",
      deno: { permissions: workerPermissions(allowNet) },
    });
  } catch (error) {
    io.err(`loom agent host: cannot start the agent worker: ${(error as Error).name}\n`);
    return 70;
  }
  const writer = io.stdout.getWriter();
  const done = Promise.withResolvers<number>();
  const out = new LineWriter((bytes) => writer.write(bytes), () => done.resolve(0));
  worker.onmessage = (event) => out.send(event.data);
  worker.onerror = (event) => {
    event.preventDefault();
    io.err("loom agent host: the agent worker failed\n");
    done.resolve(70);
  };
  forEachLine(io.stdin, (line) => {
    if (line !== "") worker.postMessage(JSON.parse(line));
  }).then(() => done.resolve(0), () => done.resolve(65));
  const code = await done.promise;
  worker.terminate();
  out.flush();
  await writer.close().catch(() => {});
  return code;
}
