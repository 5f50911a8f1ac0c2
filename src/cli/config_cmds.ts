/**
 * `loom validate`, `loom schema`, `loom init`: authoring commands.
 *
 * @module
 */

import { parseOptions } from "./_args.ts";
import { basename, dirname, join } from "node:path";
import {
  type AgentConfig,
  configJsonSchema,
  loadConfig,
  type McpUpstreamSpec,
  starterConfig,
  TIER_NAMES,
} from "../config/mod.ts";
import { ConfigError, EXIT_CODES, formatConfigIssue, LoomError, UsageError } from "../errors.ts";
import { escapeForTerminal } from "../_util/terminal.ts";
import { bridgeSecretNames } from "../upstream/mod.ts";
import { checkSecretAccess, describeSecretProblem } from "../security/secrets/mod.ts";
import { resolveHome } from "../store/mod.ts";
import { type CliIo, table } from "./_io.ts";

/** Help text of the authoring commands. */
export const VALIDATE_HELP = `Usage: loom validate CONFIG [CONFIG...] [--quiet]

Run every load-time check on one or more agent configs and print a table of
their tools. Exit status 0 when all load, 66 when every failure is a file that
does not exist, 78 otherwise (every problem is listed as file:line:column).

It also warns, without failing, about each {{secret:KEY}} a config names that
its agent could not use now: not set, not granted to the agent, or granted to
an earlier version of the file; each warning gives the "loom secrets" command
that fixes it. This reads the secret names and grants in $LOOM_HOME (no master
key, no values); when it cannot, one warning says so.

Options:
  -q, --quiet   print only problems
  -h, --help    show this help

Examples:
  loom validate agents/prometheus.yaml
  loom validate agents/*.yaml
`;

/** Help text of `loom schema`. */
export const SCHEMA_HELP = `Usage: loom schema

Print the JSON Schema (draft 2020-12) of an agent config on stdout, for
editors: save it and point the YAML language server at it, e.g. a first line
  # yaml-language-server: $schema=./loom.schema.json

Example:
  loom schema > loom.schema.json
`;

/** Help text of `loom init`. */
export const INIT_HELP = `Usage: loom init NAME [--output FILE] [--force]

Write a commented starter config for a new agent (NAME is kebab-case).
By default the file is ./NAME.yaml; use --output - to print it instead.

Options:
  -o, --output FILE   where to write (default NAME.yaml; - for stdout)
  -f, --force         overwrite an existing file
  -h, --help          show this help

Example:
  loom init weather-api && loom validate weather-api.yaml
`;

/** `loom validate`. */
export async function validateCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseOptions({
    args,
    allowPositionals: true,
    options: { quiet: { type: "boolean", short: "q" }, help: { type: "boolean", short: "h" } },
  });
  if (values.help) return (io.out(VALIDATE_HELP), 0);
  if (positionals.length === 0) throw new UsageError("Missing CONFIG: loom validate CONFIG");
  let failed = 0;
  // 66 (not found) only when that is every failure; anything else is 78.
  let status = 0;
  const secrets = { checked: true };
  for (const path of positionals) {
    try {
      const config = await loadConfig(path, {
        onWarning: (w) => io.err(`warning: ${escapeForTerminal(formatConfigIssue(w))}\n`),
      });
      if (!values.quiet) io.out(describeConfig(config));
      if (config.provenance.source === "ai-generated") {
        // Loads, but serves nothing until a person other than its submitter approves it.
        const shown = escapeForTerminal(path);
        io.err(
          `warning: ${shown}: provenance ai-generated: its tools are quarantined (not listed, ` +
            `calls refused) until a person other than its submitter approves these exact ` +
            `bytes with "loom quarantine approve ${shown}"\n`,
        );
      }
      if (secrets.checked) await warnAboutSecrets(config, io, secrets);
    } catch (error) {
      if (!(error instanceof LoomError)) throw error;
      failed++;
      const code = error instanceof ConfigError ? 78 : EXIT_CODES[error.code];
      status = status === 0 || status === code ? code : 78;
      if (error instanceof ConfigError) {
        for (const issue of error.issues) {
          io.err(`error: ${escapeForTerminal(formatConfigIssue(issue))}\n`);
        }
      } else {
        io.err(`error: ${escapeForTerminal(`${path}: ${error.message}`)}\n`);
      }
    }
  }
  if (failed > 0) {
    io.err(
      `${failed} of ${positionals.length} config${positionals.length > 1 ? "s" : ""} failed\n`,
    );
    return status === 66 ? 66 : 78;
  }
  return 0;
}

/**
 * Warn about each secret `config` names that its agent could not use now,
 * with the command that fixes it. Never fails: when the vault and grants
 * cannot be read, one warning says so and `state.checked` turns false.
 */
async function warnAboutSecrets(
  config: AgentConfig,
  io: CliIo,
  state: { checked: boolean },
): Promise<void> {
  const names = config.bridges.flatMap((b) => bridgeSecretNames(b));
  if (names.length === 0) return;
  let problems;
  try {
    problems = await checkSecretAccess(resolveHome(io.env), {
      agent: config.name,
      configDigest: config.source.digest,
      names,
    });
  } catch (error) {
    state.checked = false;
    const why = error instanceof Error ? error.message : String(error);
    io.err(`warning: ${escapeForTerminal(`secrets not checked: ${why}`)}\n`);
    return;
  }
  const path = config.source.path;
  for (const problem of problems) {
    const text = `${path}: ${describeSecretProblem(problem, { configPath: path })}`;
    io.err(`warning: ${escapeForTerminal(text)}\n`);
  }
}

/** A human summary of a loaded config: header and a table of tools. */
export function describeConfig(config: AgentConfig): string {
  const r = config.runtime;
  // Config text is printed escaped (the table escapes its own cells).
  const head = `${escapeForTerminal(config.source.path)}: OK\n` +
    `agent ${escapeForTerminal(`${config.name} ${config.version}`)}: tier ${r.trustTier} (${
      TIER_NAMES[r.trustTier]
    }), sandbox ${r.sandbox}, injection ${r.injection}, ` +
    (config.mcpUpstream === null
      ? `${config.tools.length} tool${config.tools.length === 1 ? "" : "s"}\n`
      : "tools of its MCP upstream\n");
  const upstream = config.mcpUpstream;
  if (upstream !== null) return head + describeUpstream(upstream);
  const rows = [["TOOL", "ACCESS", "METHOD", "URL", "PARAMETERS"]];
  for (const tool of config.tools) {
    const bridge = config.bridges.find((b) => b.toolName === tool.name);
    const params = Object.entries(tool.parameters)
      .map(([n, p]) => `${n}${p.required ? "" : "?"}:${p.type}`).join(" ");
    rows.push([tool.name, tool.access, bridge?.method ?? "-", bridge?.url ?? "-", params || "-"]);
  }
  return head + table(rows) + "\n";
}

/** What a gateway config serves: its server, and the tools it chose (or all, known once it runs). */
function describeUpstream(upstream: McpUpstreamSpec): string {
  const server = upstream.url ?? upstream.command!.join(" ");
  const lines = `gateway to ${escapeForTerminal(server)}\n`;
  if (upstream.tools === null) {
    return lines +
      "tools: every tool the server lists (write tools from tier 2), seen when it runs\n";
  }
  const rows = [["TOOL", "UPSTREAM TOOL", "ACCESS"]];
  for (const tool of upstream.tools) {
    rows.push([tool.as, tool.name, tool.access ?? "from its readOnlyHint"]);
  }
  return lines + table(rows) + "\n";
}

/** `loom schema`. */
export function schemaCommand(args: string[], io: CliIo): number {
  const { values } = parseOptions({
    args,
    allowPositionals: false,
    options: { help: { type: "boolean", short: "h" } },
  });
  if (values.help) return (io.out(SCHEMA_HELP), 0);
  io.out(JSON.stringify(configJsonSchema(), null, 2) + "\n");
  return 0;
}

/** `loom init`. */
export async function initCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseOptions({
    args,
    allowPositionals: true,
    options: {
      output: { type: "string", short: "o" },
      force: { type: "boolean", short: "f" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return (io.out(INIT_HELP), 0);
  const name = positionals[0];
  if (!name || positionals.length > 1) throw new UsageError("Expected one NAME: loom init NAME");
  if (!/^[a-z0-9]+(-[a-z0-9]+)*$/.test(name) || name.length > 64) {
    throw new UsageError(
      `Invalid agent name "${name.slice(0, 64)}": use kebab-case, e.g. "weather-api"`,
    );
  }
  const text = starterConfig(name);
  const output = values.output ?? `${name}.yaml`;
  if (output === "-") return (io.out(text), 0);
  if (!values.force) {
    try {
      await Deno.lstat(output);
      throw new UsageError(`File "${output}" exists: pass --force to overwrite`);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
  await writeFileAtomic(output, text);
  io.err(`Wrote ${output}. Next: edit it, then run "loom validate ${output}"\n`);
  return 0;
}

/** Write a file via a temporary sibling and rename, so no half-written file is left. */
export async function writeFileAtomic(path: string, text: string, mode = 0o644): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${crypto.randomUUID().slice(0, 8)}.tmp`);
  try {
    await Deno.writeTextFile(tmp, text, { mode, createNew: true });
    await Deno.rename(tmp, path);
  } catch (error) {
    await Deno.remove(tmp).catch(() => {});
    throw error;
  }
}
