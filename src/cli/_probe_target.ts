/**
 * The command line of a stdio target given as one string, split into an
 * argv without a shell: words are separated by spaces and tabs, `'...'` and
 * `"..."` group words literally (no escapes inside), and nothing else is
 * special. Characters a reader would expect a shell to act on (`$`, `` ` ``,
 * `|`, `&`, `;`, `<`, `>`, `\`, `*`, `?`, `~` at a word's start) are
 * refused outside quotes rather than passed on silently, so what runs is
 * exactly what was typed.
 *
 * @module
 */

import { UsageError } from "../errors.ts";

const SHELL_ONLY = /[$`|&;<>\\*?(){}]/;

/**
 * Split a command line into its arguments.
 *
 * @param line the command line, e.g. `deno run -A "my server.ts"`
 * @returns the argv (at least one element)
 * @throws {UsageError} for an unbalanced quote, an empty line, or a
 *   character only a shell would interpret
 */
export function splitCommandLine(line: string): string[] {
  const argv: string[] = [];
  let word = "";
  let inWord = false;
  let i = 0;
  while (i < line.length) {
    const ch = line[i];
    if (ch === " " || ch === "\t") {
      if (inWord) argv.push(word);
      word = "";
      inWord = false;
      i++;
    } else if (ch === "'" || ch === '"') {
      const end = line.indexOf(ch, i + 1);
      if (end < 0) throw new UsageError(`Unbalanced ${ch} in the command line`);
      word += line.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (SHELL_ONLY.test(ch) || (ch === "~" && !inWord) || ch === "\n" || ch === "\r") {
      throw new UsageError(
        `The command line holds "${JSON.stringify(ch).slice(1, -1)}", which only a shell ` +
          'would interpret; no shell is used: quote it, or give the arguments after "--"',
      );
    } else {
      word += ch;
      inWord = true;
      i++;
    }
  }
  if (inWord) argv.push(word);
  if (argv.length === 0 || argv[0] === "") throw new UsageError("The command line is empty");
  return argv;
}
