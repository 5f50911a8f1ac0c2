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

import { suggest } from "../_util/suggest.ts";
import { dependencyFailure } from "./load_failure.ts";
import { ConfigError, EXIT_CODES, formatConfigIssue, LoomError } from "../errors.ts";
import { escapeForTerminal, escapeLinesForTerminal } from "../_util/terminal.ts";
import type { CliIo } from "./_io.ts";
import { VERSION } from "./version.ts";

export { type CliIo, processIo } from "./_io.ts";

/** Top-level help. */
export const MAIN_HELP = `LOOM ${VERSION}: declarative, secure MCP servers from YAML

Usage: loom <command> [options]

Commands:
  run CONFIG          serve one agent's tools over stdio or streamable HTTP
  mesh DIR            serve every config in DIR through one MCP connection
  claude-config [DIR] print the Claude Desktop entry that serves DIR as a mesh
  list                list the agents served here: tier, tools, status, signature
  info NAME           one agent: tools and parameters, hosts, tier, sandbox, status
  validate CONFIG...  run every load-time check and print the tools
  schema              print the JSON Schema of agent configs
  init NAME           write a commented starter config
  audit verify        check the audit log's hash chain and signed checkpoints
  audit checkpoint    print the latest signed audit checkpoint, for export
  audit show          print audit records (filters: --event --agent --tool --since --until)
  audit tail [-f]     print the latest audit records, and follow new ones
  audit hash          print the salted HMAC of a value (from stdin) to search the log
  secrets ...         set, list, remove, grant, revoke, rotate secrets; show the policy
  approvals ...       list, show, approve or deny tool calls held for review
  pin ...             review changed tool definitions: list, show, diff, approve
  sandbox CONFIG      print the Deno flags and the hardened docker plan for a config
  sign ...            make signing keys; sign configs; verify their signatures
  quarantine ...      hold untrusted configs for review: add, list, show, promote, reject, approve
  packs ...           starter packs for common services: list, show, install
  probe TARGET        print an MCP server's info and tools (an http(s) URL or a stdio command)
  import openapi SPEC make a config from an OpenAPI document (file or URL), into the
                      quarantine or -o FILE
  generate "TEXT"     ask an LLM for a config; validated, retried, into the quarantine
  evolve              list the services you run that no config or pack covers yet
  dashboard           serve the web dashboard (agents, audit, approvals, quarantine)

Run "loom <command> --help" for a command's options and examples.

Global option (before the command):
  --cwd DIR   resolve relative paths against DIR; "deno task loom" passes the
              directory it was started from

Environment:
  LOOM_HOME   state directory (default ~/.loom)

Exit status: 0 ok, 64 usage, 65 data/integrity, 66 not found, 69 unavailable,
75 temporary failure, 77 denied, 78 config error.
`;

type Command = (args: string[], io: CliIo) => Promise<number> | number;

/** A command's entry point and its help text. */
interface CommandModule {
  run: Command;
  help: string;
}

/**
 * Each command's module, imported on demand: start-up is module evaluation,
 * and `loom run` should not pay for the audit reader, the secrets commands or
 * the JSON Schema export. The specifiers stay literal so `deno compile` and
 * `deno bundle` still see every module.
 */
const COMMANDS: Record<string, () => Promise<CommandModule>> = {
  run: () => import("./run.ts").then((m) => command(m.runCommand, m.RUN_HELP)),
  mesh: () => import("./mesh.ts").then((m) => command(m.meshCommand, m.MESH_HELP)),
  "claude-config": () =>
    import("./claude_config.ts").then((m) => command(m.claudeConfigCommand, m.CLAUDE_CONFIG_HELP)),
  list: () => import("./registry.ts").then((m) => command(m.listCommand, m.LIST_HELP)),
  info: () => import("./registry.ts").then((m) => command(m.infoCommand, m.INFO_HELP)),
  validate: () => configCommands().then((m) => command(m.validateCommand, m.VALIDATE_HELP)),
  schema: () => configCommands().then((m) => command(m.schemaCommand, m.SCHEMA_HELP)),
  init: () => configCommands().then((m) => command(m.initCommand, m.INIT_HELP)),
  audit: () => import("./audit.ts").then((m) => command(m.auditCommand, m.AUDIT_HELP)),
  secrets: () => import("./secrets.ts").then((m) => command(m.secretsCommand, m.SECRETS_HELP)),
  approvals: () =>
    import("./approvals.ts").then((m) => command(m.approvalsCommand, m.APPROVALS_HELP)),
  pin: () => import("./pin.ts").then((m) => command(m.pinCommand, m.PIN_HELP)),
  sandbox: () => import("./sandbox.ts").then((m) => command(m.sandboxCommand, m.SANDBOX_HELP)),
  sign: () => import("./sign.ts").then((m) => command(m.signCommand, m.SIGN_HELP)),
  quarantine: () =>
    import("./quarantine.ts").then((m) => command(m.quarantineCommand, m.QUARANTINE_HELP)),
  probe: () => import("./probe.ts").then((m) => command(m.probeCommand, m.PROBE_HELP)),
  import: () => import("./import.ts").then((m) => command(m.importCommand, m.IMPORT_HELP)),
  packs: () => import("./packs.ts").then((m) => command(m.packsCommand, m.PACKS_HELP)),
  generate: () => import("./generate.ts").then((m) => command(m.generateCommand, m.GENERATE_HELP)),
  evolve: () => import("./evolve.ts").then((m) => command(m.evolveCommand, m.EVOLVE_HELP)),
  dashboard: () =>
    import("./dashboard.ts").then((m) => command(m.dashboardCommand, m.DASHBOARD_HELP)),
};

/** `validate`, `schema` and `init` share one module. */
function configCommands(): Promise<typeof import("./config_cmds.ts")> {
  return import("./config_cmds.ts");
}

function command(run: Command, help: string): CommandModule {
  return { run, help };
}

/**
 * Run the CLI.
 *
 * @param args command-line arguments (without the program name)
 * @param io the process's streams and environment
 * @returns the exit code
 */
export async function main(args: string[], io: CliIo): Promise<number> {
  const start = leadingCwd(args);
  if (typeof start === "number") {
    io.err(`loom: --cwd needs a directory\n`);
    return 64;
  }
  if (start.dir !== undefined) {
    try {
      Deno.chdir(start.dir);
    } catch (error) {
      const why = error instanceof Deno.errors.NotFound
        ? "no such directory"
        : (error as Error).message;
      io.err(`loom: cannot work in "${escapeForTerminal(start.dir)}": ${escapeForTerminal(why)}\n`);
      return error instanceof Deno.errors.NotFound ? 66 : 77;
    }
  }
  const [name, ...rest] = args.slice(start.used);
  if (name === undefined || name === "-h" || name === "--help") {
    io.out(MAIN_HELP);
    return name === undefined ? 64 : 0;
  }
  if (name === "-V" || name === "--version" || name === "version") {
    io.out(`loom ${VERSION}\n`);
    return 0;
  }
  if (name === "help") {
    const target = rest[0] ? lookup(rest[0]) : undefined;
    io.out(target ? (await target()).help : MAIN_HELP);
    return 0;
  }
  if (name === "__agent-host") {
    // Internal: the agent host child of a compiled LOOM binary (see runtime/sandbox).
    const { runAgentHostMain } = await import("../runtime/sandbox/mod.ts");
    return await runAgentHostMain(rest, io);
  }
  if (name === "__agent-process") {
    // Internal: a bundled LOOM is its own agent host (see runtime/sandbox/parent/host_entry.ts).
    const { serveAgentStdio } = await import("../runtime/sandbox/mod.ts");
    await serveAgentStdio();
    return 0;
  }
  const load = lookup(name);
  if (!load) {
    io.err(`loom: unknown command "${escapeForTerminal(name.slice(0, 40))}"${commandHint(name)}\n`);
    io.err(`Run "loom --help" for the list of commands.\n`);
    return 64;
  }
  let command: CommandModule;
  try {
    command = await load();
  } catch (error) {
    // From source, a command's packages load with it: one that Deno
    // cannot fetch is reported in one line.
    io.err(`${dependencyFailure(error)}\n`);
    return 69;
  }
  try {
    return await command.run(rest, io);
  } catch (error) {
    return report(error, io);
  }
}

/**
 * The leading `--cwd DIR` (or `--cwd=DIR`): the directory relative paths
 * resolve against, and how many arguments it used. `deno task` runs its
 * command in the checkout and passes the caller's directory here, so
 * `deno task loom validate x.yaml` reads `x.yaml` where the user stands. An
 * empty value (the task run without `INIT_CWD`) changes nothing. Returns 64
 * when the value is missing.
 */
function leadingCwd(args: string[]): { dir?: string; used: number } | number {
  const first = args[0];
  if (first === "--cwd") {
    if (args.length < 2) return 64;
    return { dir: args[1] === "" ? undefined : args[1], used: 2 };
  }
  if (first?.startsWith("--cwd=")) {
    const dir = first.slice("--cwd=".length);
    return { dir: dir === "" ? undefined : dir, used: 1 };
  }
  return { used: 0 };
}

/** A command by name; own keys only, so "constructor" is not a command. */
function lookup(name: string): (() => Promise<CommandModule>) | undefined {
  return Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
}

function report(error: unknown, io: CliIo): number {
  // Messages quote what was typed, read from a config or sent by an
  // upstream: printed escaped, so none of it can drive the terminal.
  if (error instanceof ConfigError) {
    for (const issue of error.issues) {
      io.err(`error: ${escapeForTerminal(formatConfigIssue(issue))}\n`);
    }
    return EXIT_CODES.CONFIG_INVALID;
  }
  if (error instanceof LoomError) {
    io.err(`loom: ${escapeForTerminal(error.message)}\n`);
    return EXIT_CODES[error.code];
  }
  const message = escapeForTerminal(String((error as Error)?.message));
  // node:util parseArgs reports unknown or malformed options as TypeErrors with a code.
  const code = (error as { code?: string })?.code;
  if (typeof code === "string" && code.startsWith("ERR_PARSE_ARGS")) {
    io.err(`loom: ${message}\n`);
    return 64;
  }
  if (error instanceof Deno.errors.NotFound) {
    io.err(`loom: ${message}\n`);
    return 66;
  }
  if (error instanceof Deno.errors.PermissionDenied) {
    io.err(`loom: ${message}\n`);
    return 77;
  }
  const detail = error instanceof Error ? error.stack ?? error.message : String(error);
  io.err(`loom: internal error: ${escapeLinesForTerminal(detail)}\n`);
  return 70;
}

/** `: did you mean "x"?` for a mistyped command, or "". */
function commandHint(name: string): string {
  const best = suggest(name, Object.keys(COMMANDS));
  return best === undefined ? "" : `: did you mean "${best}"?`;
}
