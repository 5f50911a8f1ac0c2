/**
 * Command-line options, parsed by `node:util` `parseArgs` (strict), with
 * LOOM's own messages: an unknown option names the closest known one, and any
 * other parse error becomes a {@linkcode UsageError} (exit 64) instead of
 * Node's wording.
 *
 * @module
 */

import { parseArgs, type ParseArgsConfig } from "node:util";
import { suggest } from "../_util/suggest.ts";
import { UsageError } from "../errors.ts";
import { cidrContains } from "../net/mod.ts";
import { escapeForTerminal } from "../_util/terminal.ts";

/**
 * Parse `config.args` like `parseArgs(config)`.
 *
 * @param config the `parseArgs` configuration (`args` and `options` at least)
 * @returns what `parseArgs` returns
 * @throws {UsageError} for an unknown option (with a "did you mean" hint), a
 *   missing option value, or an unexpected positional argument
 */
export function parseOptions<T extends ParseArgsConfig>(
  config: T,
): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (error) {
    const code = (error as { code?: string })?.code;
    if (typeof code !== "string" || !code.startsWith("ERR_PARSE_ARGS")) throw error;
    if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
      throw new UsageError(unknownOption(config, (error as Error).message));
    }
    // Node's own sentence: the option name and what it lacks, no input beyond it.
    throw new UsageError((error as Error).message.replace(/\.$/, ""));
  }
}

function unknownOption(config: ParseArgsConfig, message: string): string {
  // Node's message starts "Unknown option '--name'" (or '-x').
  const typed = /^Unknown option '([^']*)'/.exec(message)?.[1] ?? "";
  const shown = typed.length > 40 ? `${typed.slice(0, 40)}...` : typed;
  const names = Object.keys(config.options ?? {}).map((name) => `--${name}`);
  const best = typed.startsWith("--") ? suggest(typed, names) : undefined;
  const help = names.includes("--help") ? "; see --help" : "";
  return `Unknown option "${shown}"` +
    (best === undefined ? help : `: did you mean "${best}"?`);
}

/**
 * The values of a repeatable `--allow-network CIDR` option, each checked to
 * be a CIDR block (IPv4 or IPv6, with its prefix length).
 *
 * @param cidrs the option's values, or undefined when it was not given
 * @returns the values, or an empty list
 * @throws {UsageError} naming the first value that is not a CIDR block
 */
export function allowNetworksOption(cidrs: readonly string[] | undefined): string[] {
  for (const cidr of cidrs ?? []) {
    let valid = cidr.includes("/");
    try {
      cidrContains(cidr, cidr.includes(":") ? "::" : "0.0.0.0");
    } catch {
      valid = false;
    }
    if (!valid) {
      throw new UsageError(
        `--allow-network "${escapeForTerminal(cidr.slice(0, 64))}" is not a CIDR block ` +
          'such as "10.0.0.0/8" or "fd00::/8"',
      );
    }
  }
  return [...(cidrs ?? [])];
}
