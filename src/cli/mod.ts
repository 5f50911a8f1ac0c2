/**
 * The LOOM command line: the composition root. `main()` parses the command,
 * runs it, and maps every error to one exit code (sysexits, see
 * `EXIT_CODES` in `errors.ts`). It never calls `Deno.exit`; `main.ts` does.
 *
 * @example
 * ```ts
 * import { main } from "./mod.ts";
 * import { processIo } from "./_io.ts";
 * const code = await main(["validate", "agents/demo.yaml"], processIo());
 * ```
 *
 * @module
 */

import { ConfigError, EXIT_CODES, formatConfigIssue, LoomError } from "../errors.ts";
import type { CliIo } from "./_io.ts";
import { AUDIT_HELP, auditCommand } from "./audit.ts";
import {
  INIT_HELP,
  initCommand,
  SCHEMA_HELP,
  schemaCommand,
  VALIDATE_HELP,
  validateCommand,
} from "./config_cmds.ts";
import { RUN_HELP, runCommand } from "./run.ts";
import { SECRETS_HELP, secretsCommand } from "./secrets.ts";
import { SANDBOX_HELP, sandboxCommand } from "./sandbox.ts";
import { runAgentHostMain } from "../runtime/host/mod.ts";
import { VERSION } from "./version.ts";

export { type CliIo, processIo } from "./_io.ts";

/** Top-level help. */
export const MAIN_HELP = `LOOM ${VERSION}: declarative, secure MCP servers from YAML

Usage: loom <command> [options]

Commands:
  run CONFIG          serve one agent's tools over stdio or streamable HTTP
  validate CONFIG...  run every load-time check and print the tools
  schema              print the JSON Schema of agent configs
  init NAME           write a commented starter config
  audit verify        check the audit log's hash chain
  audit show          print audit records (filters: --event --agent --tool --since --until)
  audit tail [-f]     print the latest audit records, and follow new ones
  audit hash          print the salted HMAC of a value (from stdin) to search the log
  secrets ...         set, list, remove, grant, revoke, rotate secrets; show the policy
  sandbox CONFIG      print the Deno flags and the hardened docker plan for a config

Run "loom <command> --help" for a command's options and examples.

Environment:
  LOOM_HOME   state directory (default ~/.loom)

Exit status: 0 ok, 64 usage, 65 data/integrity, 66 not found, 69 unavailable,
75 temporary failure, 77 denied, 78 config error.
`;

type Command = (args: string[], io: CliIo) => Promise<number> | number;

const COMMANDS: Record<string, { run: Command; help: string }> = {
  run: { run: runCommand, help: RUN_HELP },
  validate: { run: validateCommand, help: VALIDATE_HELP },
  schema: { run: schemaCommand, help: SCHEMA_HELP },
  init: { run: initCommand, help: INIT_HELP },
  audit: { run: auditCommand, help: AUDIT_HELP },
  secrets: { run: secretsCommand, help: SECRETS_HELP },
  sandbox: { run: sandboxCommand, help: SANDBOX_HELP },
};

/**
 * Run the CLI.
 *
 * @param args command-line arguments (without the program name)
 * @param io the process's streams and environment
 * @returns the exit code
 */
export async function main(args: string[], io: CliIo): Promise<number> {
  const [name, ...rest] = args;
  if (name === undefined || name === "-h" || name === "--help") {
    io.out(MAIN_HELP);
    return name === undefined ? 64 : 0;
  }
  if (name === "-V" || name === "--version" || name === "version") {
    io.out(`loom ${VERSION}\n`);
    return 0;
  }
  if (name === "help") {
    const target = rest[0] ? COMMANDS[rest[0]] : undefined;
    io.out(target ? target.help : MAIN_HELP);
    return 0;
  }
  if (name === "__agent-host") {
    // Internal: the agent host child of a compiled LOOM binary (see runtime/host).
    return await runAgentHostMain(rest, io);
  }
  const command = COMMANDS[name];
  if (!command) {
    io.err(`loom: unknown command "${name.slice(0, 40)}"${suggest(name)}\n`);
    io.err(`Run "loom --help" for the list of commands.\n`);
    return 64;
  }
  try {
    return await command.run(rest, io);
  } catch (error) {
    return report(error, io);
  }
}

function report(error: unknown, io: CliIo): number {
  if (error instanceof ConfigError) {
    for (const issue of error.issues) io.err(`error: ${formatConfigIssue(issue)}\n`);
    return EXIT_CODES.CONFIG_INVALID;
  }
  if (error instanceof LoomError) {
    io.err(`loom: ${error.message}\n`);
    return EXIT_CODES[error.code];
  }
  // node:util parseArgs reports unknown or malformed options as TypeErrors with a code.
  const code = (error as { code?: string })?.code;
  if (typeof code === "string" && code.startsWith("ERR_PARSE_ARGS")) {
    io.err(`loom: ${(error as Error).message}\n`);
    return 64;
  }
  if (error instanceof Deno.errors.NotFound) {
    io.err(`loom: ${(error as Error).message}\n`);
    return 66;
  }
  if (error instanceof Deno.errors.PermissionDenied) {
    io.err(`loom: ${(error as Error).message}\n`);
    return 77;
  }
  io.err(`loom: internal error: ${error instanceof Error ? error.stack : String(error)}\n`);
  return 70;
}

function suggest(name: string): string {
  let best: string | null = null;
  let bestScore = 3;
  for (const candidate of Object.keys(COMMANDS)) {
    const d = distance(name, candidate);
    if (d < bestScore) [best, bestScore] = [candidate, d];
  }
  return best ? `: did you mean "${best}"?` : "";
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length];
}
