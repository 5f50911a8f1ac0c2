/**
 * `loom import openapi SPEC`: an OpenAPI 3.0/3.1 or Swagger 2.0 document (JSON
 * or YAML, a file with its relative `$ref` files) as one agent config, made by
 * `src/generator/` and validated with the config loader. An `http(s)` URL is
 * fetched after the destination check of bridges (`--allow-network` for a
 * private network), its relative `$ref`s on the same origin only. On a
 * terminal, a progress line shows the fetch and the operations drafted. The
 * config goes into
 * the quarantine (`provenance: imported`) for a person to review and promote,
 * or, with `-o FILE`, to that file, written atomically. What was left out,
 * and the secret names to set, are reported on stderr.
 *
 * @module
 */

import { importOpenApi, type ImportSkip, isUrl, readSpecFiles } from "../generator/mod.ts";
import { type TrustTier } from "../config/mod.ts";
import { UsageError } from "../errors.ts";
import { writeFileAtomic, writeFileExclusive } from "../store/mod.ts";
import { escapeForTerminal } from "../_util/terminal.ts";
import { allowNetworksOption, parseOptions } from "./_args.ts";
import type { CliIo } from "./_io.ts";
import { progressBar, progressLine } from "./_progress.ts";
import { submitToQuarantine } from "./_submit.ts";

/** The generator named in imported configs' provenance. */
const GENERATOR = "loom import openapi";

/** Help text of `loom import`. */
export const IMPORT_HELP = `Usage: loom import openapi SPEC [options]

Make one agent config from an OpenAPI 3.0/3.1 or Swagger 2.0 document (a JSON
or YAML file, or an http(s) URL; relative $ref files are read too), one tool
per operation. The
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
  --allow-network CIDR
                    a private network a URL's host may resolve to
                    (repeatable), e.g. 10.0.0.0/8
  -h, --help        this help

Security schemes: an API key in a header and HTTP bearer or basic become
"{{secret:NAME}}" headers; keys in a query or cookie, OAuth 2 and OpenID
Connect are reported as not imported.

A URL as SPEC is fetched with the destination check of bridges: a host that
resolves to a private or special address is refused unless the URL names it
as an IP literal or as localhost, or --allow-network holds it. Redirects (at
most 5) are checked again, their new host as one nobody named; https to http
is refused. Relative $refs of a URL document are fetched from the same origin
only: a $ref to another origin or to a local file is an error. The quarantine
entry's source is the URL without its query.

Examples:
  loom import openapi petstore.yaml --tag pets -o agents/petstore.yaml
  loom import openapi api.github.com.json --tag issues --name github-issues
  loom import openapi https://HOST/openapi.json -o agents/api.yaml
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
      "allow-network": { type: "string", multiple: true },
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
  const allowNetworks = allowNetworksOption(values["allow-network"]);
  const source = positionals[0];
  if (allowNetworks.length > 0 && !isUrl(source)) {
    throw new UsageError("--allow-network applies only to a URL as SPEC");
  }
  const started = performance.now();
  const progress = progressLine(io);
  let result;
  try {
    const spec = await readSpecFiles(source, {
      allowNetworks,
      onFetch: (url) => progress.show(`Fetching ${url}...`),
    });
    result = importOpenApi(spec, {
      tags: values.tag,
      operations: values.operation,
      tier: parseTier(values.tier),
      name: values.name,
      baseUrl: checkBaseUrl(values["base-url"]),
      onProgress: (done, total) => progress.show(progressBar(done, total, "operations")),
    });
  } finally {
    progress.clear();
  }
  const bytes = new TextEncoder().encode(result.text);
  if (output !== undefined) {
    if (values.force) await writeFileAtomic(output, bytes);
    else if (!(await writeFileExclusive(output, bytes))) {
      throw new UsageError(`${escapeForTerminal(output)} exists: choose another file or --force`);
    }
    io.out(`Wrote ${output}: agent ${result.name}, ${result.tools} tools, tier ${result.tier}\n`);
  } else {
    const entry = await submitToQuarantine({
      text: result.text,
      name: result.name,
      source: isUrl(source) ? withoutQuery(source) : source,
      generator: GENERATOR,
      force: values.force,
    }, io);
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

/** A URL as recorded: without its query and fragment (they may carry a token). */
function withoutQuery(url: string): string {
  const parsed = new URL(url);
  return `${parsed.origin}${parsed.pathname}`;
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
