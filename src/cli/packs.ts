/**
 * `loom packs list | show | install`: the starter packs, ready configs of HTTP
 * bridges for common self-hosted services (`packs/*.yaml` of the LOOM
 * source, described in `packs/README.md`). A person installs one and adapts
 * it: into the quarantine by default (`loom quarantine add` semantics: an
 * audited entry to review, then `loom quarantine promote`), or straight into
 * a directory with `--to DIR` (written atomically, never over an existing
 * file without `--force`). Either way the command prints the secrets the
 * pack needs and the `loom secrets` commands that set and grant them.
 *
 * Packs keep the default provenance (`human`): people wrote and reviewed
 * them in the LOOM repository; `imported` is for deterministic importers.
 *
 * The packs are found beside the source (`../../packs/` of this module). A
 * bundle or a compiled binary has no `packs/` beside it: it says so, and
 * `--dir DIR` names a checkout's `packs/` instead.
 *
 * @module
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseOptions } from "./_args.ts";
import { type AgentConfig, parseConfig } from "../config/mod.ts";
import { LoomError, NotFoundError, UsageError } from "../errors.ts";
import { installFile } from "../store/mod.ts";
import { suggest } from "../_util/suggest.ts";
import { parseTemplate } from "../_util/template.ts";
import { escapeForTerminal, escapeLinesForTerminal, isTerminalSafe } from "../_util/terminal.ts";
import { type CliIo, table } from "./_io.ts";
import { DEFAULT_AGENTS_DIR, quarantineCommand } from "./quarantine.ts";

/** Help text of `loom packs`. */
export const PACKS_HELP = `Usage: loom packs <command> [options]

Starter packs: ready configs of HTTP bridges for common self-hosted services
(Prometheus, Alertmanager, Grafana, Gitea/Forgejo, Ollama, Sonarr, Radarr).
Install one, then adapt its URLs and limits to your setup.

Commands:
  list                  each pack: name, tier, tools, description
  show NAME             the pack's YAML
  install NAME [--to DIR] [--force]
                        without --to: add it to the quarantine as NAME, to
                        review ("loom quarantine show NAME") and promote
                        ("loom quarantine promote NAME"); with --to: write
                        DIR/NAME.yaml atomically (refuses an existing file
                        unless --force). Prints the secrets to set and grant

Options:
      --to DIR       (install) write the config into DIR instead
      --force        (install) replace a pending quarantine entry or a file
      --dir DIR      read the packs from DIR (default: packs/ of this LOOM's
                     source; a bundle or compiled binary needs it)
  -h, --help         show this help

Examples:
  loom packs list
  loom packs show prometheus
  loom packs install prometheus
  loom packs install sonarr --to agents
`;

const SUBCOMMANDS = ["list", "show", "install"];
const PACK_NAME = /^[a-z0-9]+(-[a-z0-9]+)*$/;

/** One starter pack: its file, its text and the config it loads as. */
export interface Pack {
  /** The pack's name: its file name without `.yaml`. */
  name: string;
  /** The pack's file. */
  path: string;
  /** The file's text. */
  text: string;
  /** The loaded config. */
  config: AgentConfig;
}

/** `loom packs`. */
export async function packsCommand(args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === "-h" || sub === "--help" || sub === "help") {
    io.out(PACKS_HELP);
    return sub === undefined ? 64 : 0;
  }
  if (!SUBCOMMANDS.includes(sub)) {
    const hint = suggest(sub, SUBCOMMANDS);
    throw new UsageError(
      `Unknown packs command "${escapeForTerminal(sub.slice(0, 32))}"` +
        (hint ? `: did you mean "${hint}"?` : `: expected ${SUBCOMMANDS.join(", ")}`),
    );
  }
  const { values, positionals } = parseOptions({
    args: rest,
    allowPositionals: true,
    options: {
      to: { type: "string" },
      force: { type: "boolean" },
      dir: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return (io.out(PACKS_HELP), 0);
  if (sub !== "install" && (values.to !== undefined || values.force)) {
    throw new UsageError(`Options --to and --force apply only to "packs install"`);
  }
  const dir = values.dir ?? packsDir();
  if (sub === "list") {
    expectArgs(positionals, 0, "loom packs list");
    return listPacks(await loadPacks(dir), io);
  }
  expectArgs(positionals, 1, `loom packs ${sub} NAME`);
  const pack = await loadPack(dir, positionals[0]);
  if (sub === "show") {
    // Clean text prints byte for byte (to redirect into a file); anything a
    // terminal acts on is shown escaped instead.
    const clean = pack.text.split("\n").every(isTerminalSafe);
    io.out(clean ? pack.text : escapeLinesForTerminal(pack.text));
    return 0;
  }
  return await installPack(pack, { to: values.to, force: values.force ?? false }, io);
}

/**
 * The `packs/` directory of this LOOM's source.
 *
 * @param url this module's URL (tests pass a bundle's)
 * @returns the directory's path
 * @throws {LoomError} `UNAVAILABLE` from a bundle or a compiled binary
 */
export function packsDir(url: string = import.meta.url): string {
  if (Deno.build.standalone || !/\/cli\/packs\.ts$/.test(url) || !url.startsWith("file:")) {
    throw new LoomError(
      "UNAVAILABLE",
      "This LOOM is a bundle or a compiled binary: it has no packs/ directory beside it. " +
        "Pass --dir with the packs/ directory of a LOOM checkout",
    );
  }
  return fileURLToPath(new URL("../../packs/", url)).replace(/\/$/, "");
}

/**
 * Every pack of a directory, by name. Each one must load: a pack that does
 * not is LOOM's bug, reported as the loader's `ConfigError`.
 *
 * @param dir the packs directory
 * @returns the packs, sorted by name
 */
export async function loadPacks(dir: string): Promise<Pack[]> {
  const names = await packNames(dir);
  const packs: Pack[] = [];
  for (const name of names) packs.push(await readPack(dir, name));
  return packs;
}

/**
 * One pack by name.
 *
 * @throws {NotFoundError} for a name no pack has (with a suggestion)
 */
export async function loadPack(dir: string, name: string): Promise<Pack> {
  const names = await packNames(dir);
  if (!PACK_NAME.test(name) || !names.includes(name)) {
    const hint = suggest(name, names);
    throw new NotFoundError(
      `No starter pack "${escapeForTerminal(name.slice(0, 64))}"` +
        (hint ? `: did you mean "${hint}"?` : `; "loom packs list" shows them`),
    );
  }
  return await readPack(dir, name);
}

/**
 * The secret names a config's bridges use (`{{secret:NAME}}` in headers and
 * bodies), sorted.
 */
export function packSecrets(config: AgentConfig): string[] {
  const names = new Set<string>();
  for (const bridge of config.bridges) {
    const texts = [...Object.values(bridge.headers), JSON.stringify(bridge.bodyTemplate ?? null)];
    for (const text of texts) {
      for (const part of parseTemplate(text)) {
        if (part.kind === "secret") names.add(part.name);
      }
    }
  }
  return [...names].sort();
}

async function packNames(dir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      const name = entry.name.replace(/\.yaml$/, "");
      if (entry.isFile && name !== entry.name && PACK_NAME.test(name)) names.push(name);
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new NotFoundError(`No packs directory at "${escapeForTerminal(dir)}"`);
    }
    throw error;
  }
  return names.sort();
}

async function readPack(dir: string, name: string): Promise<Pack> {
  const path = join(dir, `${name}.yaml`);
  const text = await Deno.readTextFile(path);
  return { name, path, text, config: parseConfig(text, { path }) };
}

function listPacks(packs: Pack[], io: CliIo): number {
  if (packs.length === 0) {
    io.err(`No starter packs found\n`);
    return 0;
  }
  io.out(table([
    ["NAME", "TIER", "TOOLS", "DESCRIPTION"],
    ...packs.map((p) => [
      p.name,
      String(p.config.runtime.trustTier),
      p.config.tools.map((t) => t.name).join(","),
      p.config.description,
    ]),
  ]));
  return 0;
}

async function installPack(
  pack: Pack,
  options: { to: string | undefined; force: boolean },
  io: CliIo,
): Promise<number> {
  let config: string;
  if (options.to === undefined) {
    const args = ["add", pack.path, "--name", pack.name, ...(options.force ? ["--force"] : [])];
    const code = await quarantineCommand(args, io);
    if (code !== 0) return code;
    config = join(DEFAULT_AGENTS_DIR, `${pack.name}.yaml`);
    io.out(
      `Next: review it ("loom quarantine show ${pack.name}"), then ` +
        `"loom quarantine promote ${pack.name} --to ${DEFAULT_AGENTS_DIR}"\n`,
    );
  } else {
    const bytes = new TextEncoder().encode(pack.text);
    config = await installFile(options.to, `${pack.name}.yaml`, bytes, { force: options.force });
    io.out(`Installed pack ${pack.name} as ${escapeForTerminal(config)}\n`);
  }
  io.out(
    `Adapt it: its URLs name ${escapeForTerminal(origins(pack.config).join(", "))}; ` +
      `check with "loom validate ${escapeForTerminal(config)}"\n`,
  );
  const secrets = packSecrets(pack.config);
  if (secrets.length > 0) {
    io.out(`Secrets it needs (a grant is pinned to the config's bytes: grant after editing):\n`);
    for (const key of secrets) {
      io.out(`  loom secrets set ${key}\n`);
      io.out(
        `  loom secrets grant ${pack.config.name} ${key} --config ${escapeForTerminal(config)}\n`,
      );
    }
  }
  return 0;
}

function origins(config: AgentConfig): string[] {
  return [...new Set(config.bridges.map((b) => new URL(b.url.split("{{")[0]).origin))];
}

function expectArgs(positionals: string[], count: number, usage: string): void {
  if (positionals.length < count) throw new UsageError(`Missing argument: ${usage}`);
  if (positionals.length > count) {
    const extra = escapeForTerminal(positionals[count].slice(0, 40));
    throw new UsageError(`Unexpected argument "${extra}": ${usage}`);
  }
}
