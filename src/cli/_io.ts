/**
 * The CLI's view of the process: output streams, environment, terminal
 * detection. Commands receive it instead of touching `Deno.*` directly so
 * tests can run them in-process and stdout stays protocol-only on stdio.
 *
 * @module
 */

import { escapeForTerminal } from "../_util/terminal.ts";

/** What a command may use of its process. */
export interface CliIo {
  /** Write text to standard output. */
  out(text: string): void;
  /** Write text to standard error. */
  err(text: string): void;
  /** Environment variables. */
  env: { get(key: string): string | undefined };
  /** True when stderr is a terminal (progress is shown only then). */
  isTerminal: boolean;
  /** Standard input and output as byte streams (for the stdio transport). */
  stdin: ReadableStream<Uint8Array>;
  stdout: WritableStream<Uint8Array>;
}

/** The real process. */
export function processIo(): CliIo {
  const enc = new TextEncoder();
  return {
    out: (text) => writeAll(Deno.stdout, enc.encode(text)),
    err: (text) => writeAll(Deno.stderr, enc.encode(text)),
    env: Deno.env,
    isTerminal: Deno.stderr.isTerminal(),
    get stdin() {
      return Deno.stdin.readable;
    },
    get stdout() {
      return Deno.stdout.writable;
    },
  };
}

function writeAll(file: { writeSync(p: Uint8Array): number }, bytes: Uint8Array): void {
  let offset = 0;
  while (offset < bytes.length) offset += file.writeSync(bytes.subarray(offset));
}

/**
 * Pad cells into aligned columns. Cells hold names, URLs and descriptions
 * from configs and the store: each is escaped for the terminal first.
 */
export function table(cells: readonly (readonly string[])[]): string {
  if (cells.length === 0) return "";
  const rows = cells.map((r) => r.map(escapeForTerminal));
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows.map((r) =>
    r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i])))
      .join("  ").trimEnd()
  ).join("\n") + "\n";
}
