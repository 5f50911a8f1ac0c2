/**
 * Test helpers for the CLI: an in-memory {@linkcode CliIo}.
 *
 * @module
 */

import type { CliIo } from "./_io.ts";

/** A `CliIo` that collects what a command prints; stdin is empty. */
export function memoryIo(): CliIo & { stdoutText(): string; stderrText(): string } {
  let out = "";
  let err = "";
  return {
    out: (text) => void (out += text),
    err: (text) => void (err += text),
    env: { get: () => undefined },
    isTerminal: false,
    stdin: new ReadableStream(),
    stdout: new WritableStream(),
    stdoutText: () => out,
    stderrText: () => err,
  };
}
