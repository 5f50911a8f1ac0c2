/**
 * The agent host's side of the pipe: serve the parent on stdin and stdout,
 * newline-delimited JSON (`../protocol.ts`), until stdin closes. stdout
 * carries protocol only.
 *
 * Run by `agent_main.ts` (LOOM from source) and by the hidden
 * `loom __agent-process` command of a single-file bundle, which is its own
 * agent host (see `../parent/host_entry.ts`). Its static module graph is relative
 * imports only, with no npm or bare specifier, so it loads under
 * `--no-npm --no-config` without read permission.
 *
 * @module
 */

import { AgentServer, removeDiskGlobals } from "./agent_server.ts";
import { LineSplitter, LineWriter, type ParentMessage } from "../protocol.ts";

/** Bytes asked for per read of stdin. */
const READ_BYTES = 64 * 1024;

/**
 * Write all of `bytes` to stdout. A synchronous write to the pipe costs a
 * fraction of an asynchronous one (which runs on a blocking thread); it
 * only waits while the pipe is full, that is while the parent is not
 * reading, and the parent reads all the time.
 */
function writeStdout(bytes: Uint8Array): void {
  for (let at = 0; at < bytes.byteLength;) at += Deno.stdout.writeSync(bytes.subarray(at));
}

/** Serve the parent on stdin and stdout until stdin closes. */
export async function serveAgentStdio(): Promise<void> {
  removeDiskGlobals();
  const out = new LineWriter(writeStdout, () => server.close());
  const server = new AgentServer((message) => out.send(message));
  const splitter = new LineSplitter();
  const buffer = new Uint8Array(READ_BYTES);
  const handle = (line: string) => {
    if (line === "") return;
    let message: ParentMessage;
    try {
      message = JSON.parse(line);
    } catch {
      console.error("loom agent host: ignored a malformed message");
      return;
    }
    server.handle(message);
  };
  try {
    for (;;) {
      const n = await Deno.stdin.read(buffer);
      if (n === null) break;
      for (const line of splitter.push(buffer.subarray(0, n))) handle(line);
    }
    const tail = splitter.end();
    if (tail !== null) handle(tail);
  } finally {
    server.close();
  }
}
