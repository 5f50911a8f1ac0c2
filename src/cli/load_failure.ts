/**
 * The one line printed when LOOM's own code cannot be loaded, which from
 * source almost always means that Deno could not fetch a pinned npm package
 * (an empty module cache and no route to the package registry).
 *
 * Deno's error names the package on its first line and lists its causes on
 * numbered lines (`0: error sending request ...`, ..., `3: Connection
 * refused (os error 111)`); the line keeps the first line and the innermost
 * cause. It imports nothing from npm, so it loads when nothing else does.
 * Credentials in a registry URL are masked, and the text is escaped for the
 * terminal.
 *
 * @module
 */

import { escapeForTerminal } from "../_util/terminal.ts";

/** The longest message printed, in characters. */
const MAX_CHARS = 400;

/**
 * The stderr line for an error thrown while importing the CLI.
 *
 * @param error what the dynamic import rejected with
 * @returns one line, without a trailing newline
 */
export function dependencyFailure(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  const lines = text.split("\n").map((line) => line.trim()).filter((line) => line !== "");
  const causes = lines.filter((line) => /^\d+: /.test(line));
  const head = lines[0] ?? "unknown error";
  const cause = causes.length > 0 ? causes[causes.length - 1].replace(/^\d+: /, "") : undefined;
  let message = cause === undefined ? head : `${head}: ${cause}`;
  message = message.replace(/\/\/[^/@\s]*@/g, "//***@");
  if (message.length > MAX_CHARS) message = `${message.slice(0, MAX_CHARS)}...`;
  const fetching = /npm package|error sending request|dns error|connect/i.test(text);
  const hint = fetching
    ? '; run "deno install" in the LOOM checkout when the package registry is reachable'
    : "";
  return `loom: cannot load LOOM: ${escapeForTerminal(message)}${hint}`;
}
