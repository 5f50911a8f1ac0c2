/**
 * `loom claude-config [DIR] [--name N]`: print the `mcpServers` entry that
 * makes Claude Desktop run `loom mesh DIR` over stdio. Claude Desktop starts
 * a server in a directory of its own choosing with a short `PATH`, so every
 * path in the entry is absolute: the Deno executable running this LOOM, the
 * checkout's `main.ts` and `deno.json` (or the bundle, or the compiled
 * binary itself), the mesh directory and the LOOM home. The permission flags
 * are exactly those `deno task install` gives the installed `loom`
 * ({@linkcode LOOM_PERMISSION_FLAGS}, checked against `deno.json` by a test).
 *
 * @module
 */

import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseOptions } from "./_args.ts";
import { UsageError } from "../errors.ts";
import { resolveHome } from "../store/mod.ts";
import { meshConfigFiles } from "../app/mod.ts";
import { escapeForTerminal } from "../_util/terminal.ts";
import type { CliIo } from "./_io.ts";
import { EXPOSURE_HELP, EXPOSURE_OPTIONS, exposureArgs, meshExposure } from "./_mesh_exposure.ts";

/** The permissions the installed `loom` runs with (the `install` task of `deno.json`). */
export const LOOM_PERMISSION_FLAGS: readonly string[] = Object.freeze([
  "--allow-read",
  "--allow-write",
  "--allow-net",
  "--allow-env",
  "--allow-run",
]);

/** Help text of `loom claude-config`. */
export const CLAUDE_CONFIG_HELP: string = `Usage: loom claude-config [DIR] [options]

Print the Claude Desktop "mcpServers" entry that serves every agent config in
DIR (default: the current directory) through "loom mesh DIR" over stdio. Paste
it into claude_desktop_config.json. Paths are absolute; the command runs this
LOOM with exactly the permissions of the installed "loom" command.

Options:
      --name NAME             the server's name in Claude Desktop (default loom)
      --namespace             serve every tool as agent__tool
${EXPOSURE_HELP}
  -h, --help                  show this help

The options --namespace, --tools, --profile, --mesh-file and --discovery are
checked now (a profile must exist) and written into the entry's command line,
so several entries can serve different subsets of one directory.

Environment:
  LOOM_HOME   state directory written into the entry (default ~/.loom)

Examples:
  loom claude-config ~/agents --name my-agents
  loom claude-config ~/agents --name ops --profile ops
  loom claude-config ~/agents --name all-tools --discovery
`;

/** One `mcpServers` entry. */
export interface McpServerEntry {
  command: string;
  args: string[];
  env: Record<string, string>;
}

/** How this LOOM runs: its program, and its arguments before the command. */
export interface LoomProgram {
  /** The Deno executable, or the compiled LOOM binary. */
  execPath: string;
  /** `Deno.mainModule`. */
  mainModule: string;
  /** `Deno.build.standalone`: a `deno compile` binary. */
  standalone: boolean;
  /** Whether a file exists (for the checkout's `deno.json`). */
  exists(path: string): boolean;
}

/**
 * The command line that runs this LOOM again, with the installed command's
 * permissions: the compiled binary alone; from source `deno run FLAGS
 * --config deno.json main.ts` (the checkout's pinned packages); a bundle
 * `deno run FLAGS loom.js`.
 *
 * @param program this process's executable and main module
 * @returns the command and its leading arguments
 */
export function loomCommandLine(program: LoomProgram): { command: string; args: string[] } {
  if (program.standalone) return { command: program.execPath, args: [] };
  const main = program.mainModule.startsWith("file:")
    ? fileURLToPath(program.mainModule)
    : program.mainModule;
  const config = join(dirname(main), "deno.json");
  const withConfig = main.endsWith(".ts") && program.exists(config) ? ["--config", config] : [];
  return {
    command: program.execPath,
    args: ["run", ...LOOM_PERMISSION_FLAGS, ...withConfig, main],
  };
}

/**
 * The entry that runs `loom mesh DIR` over stdio.
 *
 * @param dir the mesh directory, absolute
 * @param home the LOOM home, absolute
 * @param program how this LOOM runs
 * @param denoDir the module cache to keep using, when one is set
 */
export function meshServerEntry(
  dir: string,
  home: string,
  program: LoomProgram,
  denoDir?: string,
  meshArgs: readonly string[] = [],
): McpServerEntry {
  const { command, args } = loomCommandLine(program);
  const env: Record<string, string> = { LOOM_HOME: home };
  if (denoDir) env.DENO_DIR = resolve(denoDir);
  return { command, args: [...args, "mesh", dir, ...meshArgs], env };
}

/** `loom claude-config`. */
export async function claudeConfigCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseOptions({
    args,
    allowPositionals: true,
    options: {
      name: { type: "string", default: "loom" },
      namespace: { type: "boolean" },
      ...EXPOSURE_OPTIONS,
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return (io.out(CLAUDE_CONFIG_HELP), 0);
  if (positionals.length > 1) throw new UsageError("Expected at most one DIR");
  const name = values.name;
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(name)) {
    throw new UsageError(
      `Invalid --name "${name.slice(0, 70)}": letters, digits, "_", "." and "-", at most 64`,
    );
  }
  const dir = resolve(positionals[0] ?? ".");
  const files = await meshConfigFiles(dir); // a missing directory is exit 66
  if (files.length === 0) {
    io.err(`warning: "${escapeForTerminal(dir)}" holds no .yaml or .yml config yet\n`);
  }
  // Checked now, so a mistyped profile or pattern fails here and not in Claude Desktop.
  const meshFile = values["mesh-file"] === undefined ? undefined : resolve(values["mesh-file"]);
  await meshExposure(dir, { ...values, "mesh-file": meshFile });
  const entry = meshServerEntry(
    dir,
    resolve(resolveHome(io.env).root),
    {
      execPath: Deno.execPath(),
      mainModule: Deno.mainModule,
      standalone: Deno.build.standalone,
      exists: (path) => {
        try {
          return Deno.statSync(path).isFile;
        } catch {
          return false;
        }
      },
    },
    io.env.get("DENO_DIR"),
    exposureArgs({ ...values, "mesh-file": meshFile }),
  );
  io.out(`${JSON.stringify({ mcpServers: { [name]: entry } }, null, 2)}\n`);
  return 0;
}
