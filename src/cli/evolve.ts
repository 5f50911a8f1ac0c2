/**
 * `loom evolve`: list the services a person runs (Prometheus's active
 * targets, or an inventory file), match them against the configs of the
 * agents directory and the starter packs, and suggest, for each one nothing
 * covers, the next command: `loom packs install NAME`, `loom import openapi
 * URL` when an OpenAPI document answers at one of the usual paths, or a
 * `loom generate` brief. Nothing is run: the report goes to stdout, or a
 * commented shell script to `-o FILE`, written atomically. The listing,
 * matching and probing are `src/generator/evolve.ts`'s; this file does the
 * options, the files and the output.
 *
 * @module
 */

import { join } from "node:path";
import { loadConfig } from "../config/mod.ts";
import { LoomError, NotFoundError, UsageError } from "../errors.ts";
import {
  type Coverer,
  coverersOf,
  fetchDocument,
  generateCommandLine,
  importCommandLine,
  type Match,
  matchService,
  MAX_SERVICES,
  oneLine,
  parseInventory,
  parseTargets,
  type Probe,
  probeServices,
  type Service,
  type ServiceList,
  shellQuote,
} from "../generator/mod.ts";
import { writeFileAtomic, writeFileExclusive } from "../store/mod.ts";
import { escapeForTerminal, isTerminalSafe } from "../_util/terminal.ts";
import { allowNetworksOption, parseOptions } from "./_args.ts";
import type { CliIo } from "./_io.ts";
import { loadPacks, packsDir } from "./packs.ts";
import { DEFAULT_AGENTS_DIR } from "./quarantine.ts";

/** Help text of `loom evolve`. */
export const EVOLVE_HELP = `Usage: loom evolve [--prometheus URL] [--inventory FILE] [options]

List the services you run, from Prometheus's active targets or an inventory
file (or both), and match them against the configs in DIR and the starter
packs: a service is covered when a config or pack has a bridge on its
host:port, or has its name (job "gitea" or "forgejo": pack git-forge). For
each service nothing covers, suggest the next command, without running it:
"loom packs install NAME" for a pack not in DIR; "loom import openapi URL"
when an OpenAPI document answers at a usual path (/openapi.json,
/swagger.json, /v3/api-docs, ...); otherwise a "loom generate" brief for
read-only tools. The report goes to stdout, or a commented shell script to
-o FILE. Exits 0 when the listing worked, covered or not.

Targets Prometheus lists on a private or loopback address other than the
host of --prometheus URL are probed only inside --allow-network networks;
the others are reported as not probed, and nothing is sent to them.

Options:
  --prometheus URL       Prometheus's base URL; reads /api/v1/targets?state=active
  --inventory FILE       YAML or JSON: services: [{ name, url, description?, openapi? }]
                         (openapi: the document's path or URL, when it is not
                         at a usual path)
  --dir DIR              the agents directory (default: ${DEFAULT_AGENTS_DIR})
  --allow-network CIDR   a private network the discovered targets may be
                         probed in (repeatable), e.g. 192.168.1.0/24
  -o, --output FILE      write a shell script of the suggestions (not run)
  --force                replace FILE
  -h, --help             this help

Examples:
  loom evolve --prometheus http://127.0.0.1:9090
  loom evolve --prometheus http://127.0.0.1:9090 --allow-network 192.168.1.0/24
  loom evolve --inventory services.yaml --dir agents -o next-steps.sh
`;

/** Deadline of the Prometheus request. */
const PROMETHEUS_TIMEOUT_MS = 10_000;
/** Cap on Prometheus's answer. */
const MAX_TARGETS_BYTES = 16 * 1024 * 1024;

/** One listed service and what became of it. */
interface Row {
  service: Service;
  match: Match;
  probe: Probe | null;
}

/** `loom evolve`. */
export async function evolveCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseOptions({
    args,
    allowPositionals: true,
    options: {
      prometheus: { type: "string" },
      inventory: { type: "string" },
      dir: { type: "string" },
      "allow-network": { type: "string", multiple: true },
      output: { type: "string", short: "o" },
      force: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return (io.out(EVOLVE_HELP), 0);
  if (positionals.length > 0) {
    throw new UsageError(`Unexpected argument "${escapeForTerminal(positionals[0].slice(0, 40))}"`);
  }
  if (values.prometheus === undefined && values.inventory === undefined) {
    throw new UsageError("Name the services: --prometheus URL, --inventory FILE, or both");
  }
  const allowNetworks = allowNetworksOption(values["allow-network"]);
  const output = values.output;
  if (output !== undefined && !values.force && await exists(output)) {
    throw new UsageError(`${escapeForTerminal(output)} exists: choose another file or --force`);
  }
  const namedHosts: string[] = [];
  const lists: ServiceList[] = [];
  if (values.prometheus !== undefined) {
    const url = targetsUrl(values.prometheus);
    namedHosts.push(url.hostname);
    lists.push(await prometheusServices(url, allowNetworks));
  }
  if (values.inventory !== undefined) lists.push(await inventoryServices(values.inventory));
  const services = lists.flatMap((l) => l.services).slice(0, MAX_SERVICES);
  const omitted = lists.reduce((n, l) => n + l.omitted, 0) +
    lists.reduce((n, l) => n + l.services.length, 0) - services.length;
  const dir = values.dir ?? DEFAULT_AGENTS_DIR;
  const configs = await loadDir(dir, io);
  const packs = await packCoverers(io);
  const rows: Row[] = services.map((service) => ({
    service,
    match: matchService(service, configs, packs),
    probe: null,
  }));
  const open = rows.filter((r) => r.match === null);
  const probes = await probeServices(open.map((r) => r.service), { allowNetworks, namedHosts });
  open.forEach((row, i) => row.probe = probes[i]);
  if (omitted > 0) io.err(`${omitted} more services not listed: at most ${MAX_SERVICES}\n`);
  if (output === undefined) {
    io.out(report(rows, dir));
    return 0;
  }
  const bytes = new TextEncoder().encode(script(rows, dir));
  if (values.force) await writeFileAtomic(output, bytes);
  else if (!(await writeFileExclusive(output, bytes))) {
    throw new UsageError(`${escapeForTerminal(output)} exists: choose another file or --force`);
  }
  const todo = rows.filter((r) => r.match === null || r.match.by.kind === "pack").length;
  io.out(
    `Wrote ${escapeForTerminal(output)}: ${rows.length} services, ${todo} suggestions ` +
      `(nothing was run)\n`,
  );
  return 0;
}

function targetsUrl(base: string): URL {
  let url: URL;
  try {
    url = new URL(base);
  } catch {
    throw new UsageError("--prometheus must be an http(s) URL");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new UsageError("--prometheus must be an http(s) URL");
  }
  if (url.username !== "" || url.password !== "") {
    throw new UsageError("--prometheus may not carry credentials");
  }
  url.pathname = `${url.pathname.replace(/\/+$/, "")}/api/v1/targets`;
  url.search = "?state=active";
  url.hash = "";
  return url;
}

async function prometheusServices(url: URL, allowNetworks: string[]): Promise<ServiceList> {
  const fetched = await fetchDocument(url, {
    allowNetworks,
    timeoutMs: PROMETHEUS_TIMEOUT_MS,
    maxBytes: MAX_TARGETS_BYTES,
    accept: "application/json",
  });
  return parseTargets(fetched.text, `${url.origin}${url.pathname}`);
}

async function inventoryServices(file: string): Promise<ServiceList> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new NotFoundError(`No inventory file "${escapeForTerminal(file)}"`);
    }
    throw error;
  }
  return parseInventory(text, file);
}

/** The configs of DIR; one that does not load is reported and skipped. */
async function loadDir(dir: string, io: CliIo): Promise<Coverer[]> {
  const files: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isFile && /\.ya?ml$/i.test(entry.name)) files.push(join(dir, entry.name));
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    io.err(`No directory "${escapeForTerminal(dir)}": no configs to match\n`);
  }
  const coverers: Coverer[] = [];
  for (const file of files.sort()) {
    try {
      coverers.push(coverersOf(await loadConfig(file), "config", file));
    } catch (error) {
      if (!(error instanceof LoomError)) throw error;
      const first = error.message.split("\n").slice(0, 2).join(" ");
      io.err(`Not matched (does not load): ${escapeForTerminal(first)}\n`);
    }
  }
  return coverers;
}

async function packCoverers(io: CliIo): Promise<Coverer[]> {
  try {
    return (await loadPacks(packsDir())).map((p) => coverersOf(p.config, "pack", p.path));
  } catch (error) {
    if (!(error instanceof LoomError)) throw error;
    io.err(`Starter packs not matched: ${escapeForTerminal(error.message)}\n`);
    return [];
  }
}

/** The covering line: "config NAME (FILE, same address)" or "pack NAME". */
function coveredBy(match: NonNullable<Match>): string {
  const why = match.reason === "address" ? "same address" : "same name";
  return match.by.kind === "config"
    ? `config ${match.by.name} (${match.by.path}, ${why})`
    : `pack ${match.by.name} (${why}), not in the agents directory`;
}

/** What became of an uncovered service, and the command to suggest. */
function suggestion(row: Row): { note: string; command: string } {
  const { service, match, probe } = row;
  if (match !== null) {
    return { note: coveredBy(match), command: `loom packs install ${shellQuote(match.by.name)}` };
  }
  if (probe?.kind === "found") {
    return {
      note: `OpenAPI document at ${probe.url.href}`,
      command: importCommandLine(probe.url, service.agentName, probe.allowNetworks),
    };
  }
  const note = probe?.kind === "refused"
    ? `not probed: private address; pass --allow-network CIDR (${probe.reason})`
    : probe?.kind === "unreachable"
    ? `not answering (${probe.reason})`
    : "no OpenAPI document at the usual paths";
  return { note, command: generateCommandLine(service) };
}

function label(service: Service): string {
  const health = service.health && service.health !== "up" ? ` [${service.health}]` : "";
  return `${service.name} at ${service.baseUrl.href}${health}`;
}

function report(rows: Row[], dir: string): string {
  const covered = rows.filter((r) => r.match?.by.kind === "config");
  const packs = rows.filter((r) => r.match?.by.kind === "pack");
  const open = rows.filter((r) => r.match === null);
  let text = `${rows.length} service${rows.length === 1 ? "" : "s"}; ${covered.length} ` +
    `covered by the configs in ${escapeForTerminal(dir)}\n`;
  if (covered.length > 0) text += "\nCovered:\n";
  for (const row of covered) {
    text += `  ${escapeForTerminal(label(row.service))}: ${
      escapeForTerminal(coveredBy(row.match!))
    }\n`;
  }
  if (packs.length > 0) text += "\nCovered by a starter pack:\n";
  text += suggestions(packs);
  if (open.length > 0) text += "\nNot covered:\n";
  return text + suggestions(open);
}

function suggestions(rows: Row[]): string {
  let text = "";
  for (const row of rows) {
    const { note, command } = suggestion(row);
    text += `  ${escapeForTerminal(label(row.service))}: ${escapeForTerminal(note)}\n`;
    // Shell-quoted without control characters: shown as is, to be copied (escaping
    // would double the backslash of each '\''), as the e2e test checks.
    text += `    ${isTerminalSafe(command) ? command : escapeForTerminal(command)}\n`;
  }
  return text;
}

function script(rows: Row[], dir: string): string {
  const lines = [
    "#!/bin/sh",
    `# Written by "loom evolve": the next step for each service that no config in`,
    `# ${oneLine(dir)} covers. Nothing here has run: read each command, then run the`,
    "# ones you want (or this file with sh).",
    "",
  ];
  for (const row of rows.filter((r) => r.match?.by.kind === "config")) {
    lines.push(`# covered: ${oneLine(label(row.service))}: ${oneLine(coveredBy(row.match!))}`);
  }
  for (const row of rows.filter((r) => r.match?.by.kind !== "config")) {
    const { note, command } = suggestion(row);
    lines.push("", `# ${oneLine(label(row.service))}: ${oneLine(note)}`, command);
  }
  return lines.join("\n") + "\n";
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}
