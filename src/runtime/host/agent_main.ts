/**
 * Entry of the agent host process (`sandbox: deno`). LOOM starts it as
 *
 *     deno run --no-prompt --no-config --no-remote --no-npm
 *       --allow-net=<bridge origins> --deny-net=<private ranges>
 *       --v8-flags=--max-old-space-size=<MB> agent_main.ts
 *
 * with a cleared environment (see `agent_host.ts`), and speaks
 * newline-delimited JSON on stdin and stdout (`_protocol.ts`). stdout carries
 * protocol only. The process ends when stdin closes.
 *
 * Its static module graph is relative imports only, with no npm or bare
 * specifier, so it loads under `--no-npm --no-config` without read
 * permission.
 *
 * @module
 */

import { AgentServer, installSandboxFetch, removeDiskGlobals } from "./_agent_server.ts";
import { encodeLine, type ParentMessage, readLines } from "./_protocol.ts";

/** Serve the parent on stdin and stdout until stdin closes. */
async function serve(): Promise<void> {
  installSandboxFetch();
  removeDiskGlobals();
  const writer = Deno.stdout.writable.getWriter();
  const server = new AgentServer((message) => {
    writer.write(encodeLine(message)).catch(() => server.close());
  });
  try {
    for await (const line of readLines(Deno.stdin.readable)) {
      if (line === "") continue;
      let message: ParentMessage;
      try {
        message = JSON.parse(line);
      } catch {
        console.error("loom agent host: ignored a malformed message");
        continue;
      }
      server.handle(message);
    }
  } finally {
    server.close();
  }
}

if (import.meta.main) await serve();
