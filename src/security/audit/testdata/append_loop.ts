/**
 * Test helper run as a subprocess: appends to the audit log in `<dir>` and
 * prints the `seq` of every append once its promise has resolved (so the
 * parent knows which records were acknowledged as durable before a crash).
 *
 * Usage: `deno run --allow-read=<dir> --allow-write=<dir> append_loop.ts <dir> <count|forever> <in-flight> <tag> [wait]`
 *
 * Prints `ready` once the log is open, then one seq per line. With `wait`, it
 * starts appending only once a line arrives on stdin, so that several writers
 * can be started together whatever the load on the machine.
 *
 * @module
 */

import { AuditLog } from "../mod.ts";
import { rawEntry } from "../_testing.ts";

const [dir, countArg = "forever", inFlightArg = "8", tag = "child", start] = Deno.args;
const count = countArg === "forever" ? Infinity : Number(countArg);
const inFlight = Number(inFlightArg);
const encoder = new TextEncoder();

function print(line: string): void {
  // Synchronous write: nothing stays buffered in this process if it is killed.
  const bytes = encoder.encode(line + "\n");
  let done = 0;
  while (done < bytes.length) done += Deno.stdout.writeSync(bytes.subarray(done));
}

const log = await AuditLog.open(dir);
print("ready");
if (start === "wait") {
  // Any byte (or the end of stdin) is the signal to start.
  await Deno.stdin.read(new Uint8Array(1));
}
let issued = 0;
async function worker(): Promise<void> {
  while (issued < count) {
    const n = issued++;
    const receipt = await log.append(rawEntry({
      event: "tool_call",
      agent: tag,
      tool: "loop",
      n,
      parameters: { text: "x".repeat(n % 200), unicode: "é☃" },
    }));
    print(String(receipt.seq));
  }
}
await Promise.all(Array.from({ length: inFlight }, worker));
await log.close();
