/**
 * `loom import openapi SPEC`: an OpenAPI 3.0/3.1 or Swagger 2.0 document (JSON
 * or YAML, a file with its relative `$ref` files) as one agent config, made by
 * `src/generator/` and validated with the config loader. The config goes into
 * the quarantine (`provenance: imported`) for a person to review and promote,
 * or, with `-o FILE`, to that file, written atomically. What was left out,
 * and the secret names to set, are reported on stderr.
 *
 * @module
 */

import { join } from "node:path";
import { importOpenApi, type ImportSkip, readSpecFiles } from "../generator/mod.ts";
import { type TrustTier } from "../config/mod.ts";
import { UsageError } from "../errors.ts";
import { AuditLog } from "../security/audit/mod.ts";
import {
  ensureHome,
  generatorPrincipal,
  Quarantine,
  resolveHome,
  writeFileAtomic,
  writeFileExclusive,
} from "../store/mod.ts";
import { escapeForTerminal } from "../_util/terminal.ts";
import { parseOptions } from "./_args.ts";
import type { CliIo } from "./_io.ts";
import { recordSubmission } from "./quarantine_approve.ts";

/** The generator named in imported configs' provenance. */
const GENERATOR = "loom import openapi";

/** Help text of `loom import`. */
export const IMPORT_HELP = `Usage: loom import openapi SPEC [options]

Make one agent config from an OpenAPI 3.0/3.1 or Swagger 2.0 document (a JSON
or YAML file; relative $ref files are read too), one tool per operation. The
config is validated by the config loader, then put into the quarantine
("loom quarantine show NAME", then promote) with "provenance: imported", or
written to -o FILE. What was left out, and why, is printed on stderr, with the
secret names to set with "loom secrets set".

Options:
  --tag T           only operations with this tag (repeatable)
  --operation ID    only the operation with this operationId (repeatable)
  --tier N          trust tier 1-4 (default: 1 when every operation reads,
                    2 with POST, PUT or PATCH, 3 with DELETE); operations whose
                    method the tier does not allow are left out
  --name NAME       the agent name (default: from the document's title)
  --base-url U      the API's base URL (default: the document's first server,
                    or Swagger's scheme, host and basePath)
  -o, --output FILE write the config to FILE (.yaml) instead of the quarantine
  --force           replace FILE, or a quarantine entry of the same name
  -h, --help        this help

Security schemes: an API key in a header and HTTP bearer or basic become
"{{secret:NAME}}" headers; keys in a query or cookie, OAuth 2 and OpenID
Connect are reported as not imported. A URL as SPEC is not supported yet.

Examples:
  loom import openapi petstore.yaml --tag pets -o agents/petstore.yaml
  loom import openapi api.github.com.json --tag issues --name github-issues
`;

/** `loom import openapi ...`. */
export async function importCommand(args: string[], io: CliIo): Promise<number> {
  const [kind, ...rest] = args;
  if (kind === undefined || kind === "-h" || kind === "--help" || kind === "help") {
    io.out(IMPORT_HELP);
    return kind === undefined ? 64 : 0;
  }
  if (kind !== "openapi") {
    throw new UsageError(
      `Unknown import kind "${escapeForTerminal(kind.slice(0, 32))}": expected "openapi"`,
    );
  }
  const { values, positionals } = parseOptions({
    args: rest,
    allowPositionals: true,
    options: {
      tag: { type: "string", multiple: true },
      operation: { type: "string", multiple: true },
      tier: { type: "string" },
      name: { type: "string" },
      "base-url": { type: "string" },
      output: { type: "string", short: "o" },
      force: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return (io.out(IMPORT_HELP), 0);
  if (positionals.length !== 1) {
    throw new UsageError("Usage: loom import openapi SPEC [--tag T] [--operation ID] [-o FILE]");
  }
  const output = values.output;
  if (output !== undefined && !/\.ya?ml$/i.test(output)) {
    throw new UsageError('-o FILE must end in ".yaml" or ".yml"');
  }
  const started = performance.now();
  const spec = await readSpecFiles(positionals[0]);
  const result = importOpenApi(spec, {
    tags: values.tag,
    operations: values.operation,
    tier: parseTier(values.tier),
    name: values.name,
    baseUrl: checkBaseUrl(values["base-url"]),
  });
  const bytes = new TextEncoder().encode(result.text);
  if (output !== undefined) {
    if (values.force) await writeFileAtomic(output, bytes);
    else if (!(await writeFileExclusive(output, bytes))) {
      throw new UsageError(`${escapeForTerminal(output)} exists: choose another file or --force`);
    }
    io.out(`Wrote ${output}: agent ${result.name}, ${result.tools} tools, tier ${result.tier}\n`);
  } else {
    const entry = await quarantine(result.text, result.name, positionals[0], values.force, io);
    io.out(
      `Quarantined agent ${result.name} as ${entry}: ${result.tools} tools, tier ${result.tier}; ` +
        `review with "loom quarantine show ${entry}"\n`,
    );
  }
  report(io, result.skipped, result.secrets, {
    chosen: result.chosen,
    tools: result.tools,
    ms: performance.now() - started,
    agent: result.name,
    path: escapeForTerminal(output ?? `agents/${result.name}.yaml`),
  });
  return 0;
}

function parseTier(text: string | undefined): TrustTier | undefined {
  if (text === undefined) return undefined;
  if (!/^[1-4]$/.test(text)) throw new UsageError("--tier must be 1, 2, 3 or 4");
  return Number(text) as TrustTier;
}

function checkBaseUrl(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  if (!/^https?:\/\/[^/{}\s]+(\/[^{}\s]*)?$/.test(url)) {
    throw new UsageError("--base-url must be an absolute http(s) URL without placeholders");
  }
  return url;
}

/** Put the text into the quarantine, as `loom quarantine add` does; returns the entry name. */
async function quarantine(
  text: string,
  name: string,
  source: string,
  force: boolean | undefined,
  io: CliIo,
): Promise<string> {
  const home = await ensureHome(resolveHome(io.env));
  const box = await Quarantine.open(home);
  await using audit = await AuditLog.open(home.audit);
  const dir = await Deno.makeTempDir({ prefix: "loom-import-" });
  try {
    const file = join(dir, `${name}.yaml`);
    await Deno.writeTextFile(file, text, { mode: 0o600 });
    const entry = await box.add(file, { name, force, label: source });
    const submittedBy = generatorPrincipal(GENERATOR);
    await box.setSubmitter(entry.name, submittedBy);
    await recordSubmission(home, entry.digest, submittedBy);
    await audit.append({
      event: "quarantine",
      agent: name,
      tool: null,
      action: "add",
      name: entry.name,
      config_digest: `sha256:${entry.digest}`,
      source,
      submitted_by: submittedBy,
    });
    return entry.name;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function report(
  io: CliIo,
  skipped: readonly ImportSkip[],
  secrets: readonly string[],
  counts: { chosen: number; tools: number; ms: number; agent: string; path: string },
): void {
  for (const skip of skipped) {
    io.err(`skipped: ${escapeForTerminal(skip.operation)}: ${escapeForTerminal(skip.reason)}\n`);
  }
  io.err(
    `${counts.tools} of ${counts.chosen} operations imported, ${skipped.length} items skipped ` +
      `(${Math.round(counts.ms)} ms)\n`,
  );
  if (secrets.length > 0) {
    io.err(`Set these secrets, and grant them to the config where it is served:\n`);
    for (const secret of secrets) {
      io.err(`  loom secrets set ${secret}\n`);
      io.err(`  loom secrets grant ${counts.agent} ${secret} --config ${counts.path}\n`);
    }
  }
}
