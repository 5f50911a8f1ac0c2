/**
 * `loom generate "DESCRIPTION"`: ask a model (a local Ollama by default, or
 * an OpenAI-compatible server) for an HTTP-bridge agent config, check every
 * answer with the real loader, send the exact problems back for another
 * attempt, and put the first valid one into the quarantine with
 * `provenance: ai-generated`: it serves nothing until a person reviews,
 * promotes and approves it. Nothing is written into an agents directory.
 *
 * `--discover URL` reads the target's OpenAPI document (through the
 * importer) and sends a compact summary, fenced and labelled as data. The
 * bridges may use only the hosts the description's URLs and the discovery
 * name.
 *
 * @module
 */

import { type LlmProvider } from "../llm/mod.ts";
import { LlmClient } from "../llm/mod.ts";
import {
  DEFAULT_RETRIES,
  generateConfig,
  type Generated,
  hostsNamedIn,
  parseFetchUrl,
} from "../generator/mod.ts";
import { LoomError, UsageError } from "../errors.ts";
import { escapeForTerminal, escapeLinesForTerminal } from "../_util/terminal.ts";
import { allowNetworksOption, parseOptions } from "./_args.ts";
import type { CliIo } from "./_io.ts";
import { submitToQuarantine } from "./_submit.ts";
import { discover } from "./_discover.ts";

/** The generator named in the quarantine's submitter. */
const GENERATOR = "loom generate";
/** Defaults per provider. */
const DEFAULTS: Record<LlmProvider, { baseUrl: string; model: string; keyEnv: string }> = {
  ollama: { baseUrl: "http://127.0.0.1:11434", model: "qwen3:14b", keyEnv: "" },
  openai: { baseUrl: "http://127.0.0.1:8000", model: "gpt-4o-mini", keyEnv: "OPENAI_API_KEY" },
};
/** Most retries accepted. */
const MAX_RETRIES = 10;
/** Longest description accepted, in characters. */
const MAX_DESCRIPTION = 8000;
/** Characters of the last answer shown after a failure. */
const SHOWN_ANSWER = 2000;

/** Help text of `loom generate`. */
export const GENERATE_HELP = `Usage: loom generate "DESCRIPTION" [options]

Ask a model for an agent config of HTTP bridges, described in your words.
Every answer is checked by the config loader (and must use only the hosts you
named); the problems are sent back for another attempt. The first valid config
goes into the quarantine with "provenance: ai-generated": review it ("loom
quarantine show NAME"), promote it, and approve it ("loom quarantine approve
FILE") before any of its tools is served.

Name the API's base URL in the description (the bridges may use only the
hosts of the URLs in it), or pass --discover URL.

Options:
  --provider P      ollama (default) or openai (any OpenAI-compatible server)
  --model M         the model (default: ${DEFAULTS.ollama.model} for ollama,
                    ${DEFAULTS.openai.model} for openai)
  --base-url U      the LLM server (default: ${DEFAULTS.ollama.baseUrl} for ollama,
                    ${DEFAULTS.openai.baseUrl} for openai)
  --api-key-env VAR read the API key from this environment variable (default
                    ${DEFAULTS.openai.keyEnv} for openai; never on the command line)
  --discover URL    read the target's OpenAPI document (URL itself when it is
                    one, else /openapi.json, /swagger.json, ... under it) and
                    give the model a summary of its operations, as data
  --allow-network CIDR
                    a private network the LLM server or --discover may be in
                    (repeatable); loopback and IP literals typed here are allowed
  --retries N       attempts after the first (default ${DEFAULT_RETRIES}, at most ${MAX_RETRIES})
  --timeout SECONDS deadline of one attempt (default 180)
  --name NAME       the agent name (default: the model's choice)
  --dry-run         print the valid config on stdout; write nothing
  --force           replace a pending quarantine entry of the same name
  -h, --help        this help

Exit status: 0 a valid config was made; 65 no attempt gave one (the last
problems are printed); 69 the LLM server did not answer; 77 a destination
was refused.

Examples:
  loom generate "Read-only tools for my Gitea at http://192.168.1.20:3000: list repositories and open issues" \\
      --allow-network 192.168.1.0/24
  loom generate "Tools to list and search pets" --discover http://127.0.0.1:8080 --model llama3.2
  OPENAI_API_KEY=... loom generate "..." --provider openai --base-url https://llm.example.com
`;

/** `loom generate ...`. */
export async function generateCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseOptions({
    args,
    allowPositionals: true,
    options: {
      provider: { type: "string" },
      model: { type: "string" },
      "base-url": { type: "string" },
      "api-key-env": { type: "string" },
      discover: { type: "string" },
      "allow-network": { type: "string", multiple: true },
      retries: { type: "string" },
      timeout: { type: "string" },
      name: { type: "string" },
      "dry-run": { type: "boolean" },
      force: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return (io.out(GENERATE_HELP), 0);
  if (positionals.length !== 1 || positionals[0].trim() === "") {
    throw new UsageError('Usage: loom generate "DESCRIPTION" [--discover URL] [--model M]');
  }
  const description = positionals[0].trim();
  if (description.length > MAX_DESCRIPTION) {
    throw new UsageError(`The description is longer than ${MAX_DESCRIPTION} characters`);
  }
  const provider = parseProvider(values.provider);
  const retries = parseCount(values.retries, "--retries", 0, MAX_RETRIES) ?? DEFAULT_RETRIES;
  const timeoutS = parseCount(values.timeout, "--timeout", 1, 3600) ?? 180;
  const name = values.name;
  if (name !== undefined && !/^[a-z0-9]+(-[a-z0-9]+)*$/.test(name)) {
    throw new UsageError("--name must be kebab-case: a-z, 0-9 and single hyphens");
  }
  const allowNetworks = allowNetworksOption(values["allow-network"]);
  const baseUrl = values["base-url"] ?? DEFAULTS[provider].baseUrl;
  const apiKey = readApiKey(values["api-key-env"] ?? DEFAULTS[provider].keyEnv, io);
  const hosts = hostsNamedIn(description);
  let discovered: string | undefined;
  if (values.discover !== undefined) {
    const found = await discover(values.discover, allowNetworks, io);
    discovered = found.summary;
    for (const host of found.hosts) if (!hosts.includes(host)) hosts.push(host);
  }
  if (hosts.length === 0) {
    throw new UsageError(
      "Name the API: put its base URL in the description (such as http://192.168.1.20:3000), " +
        "or pass --discover URL; generated bridges may use only the hosts named",
    );
  }
  const llm = llmClient(provider, baseUrl, values.model ?? DEFAULTS[provider].model, allowNetworks);
  let result;
  try {
    io.err(
      `Asking ${provider} model ${escapeForTerminal(llm.endpoint.model)} at ${llm.origin} ` +
        `(${retries + 1} attempts at most)\n`,
    );
    result = await generateConfig({
      description,
      llm,
      hosts,
      discovered,
      name,
      retries,
      attemptTimeoutMs: timeoutS * 1000,
      apiKey,
      onAttempt(report) {
        const head = `Attempt ${report.attempt} of ${report.of}: `;
        if (report.problems.length === 0) return io.err(`${head}valid\n`);
        io.err(`${head}${plural(report.problems.length, "problem")}\n`);
        for (const problem of report.problems) io.err(`  ${escapeForTerminal(problem)}\n`);
      },
    });
  } finally {
    llm.close();
  }
  if (!result.ok) {
    io.err(
      `No valid config after ${plural(result.attempts, "attempt")}; the last answer began:\n` +
        `${escapeLinesForTerminal(result.lastAnswer.slice(0, SHOWN_ANSWER))}\n`,
    );
    return 65;
  }
  return await finish(
    result,
    { dryRun: values["dry-run"], force: values.force, source: baseUrl },
    io,
  );
}

async function finish(
  result: Generated,
  options: { dryRun?: boolean; force?: boolean; source: string },
  io: CliIo,
): Promise<number> {
  const { config } = result;
  const summary = `agent ${config.name}: ${plural(config.tools.length, "tool")}, ` +
    `tier ${config.runtime.trustTier}, after ${plural(result.attempts, "attempt")}`;
  if (options.dryRun) {
    io.out(result.text);
    io.err(`Valid ${summary} (dry run: nothing written)\n`);
    return 0;
  }
  const entry = await submitToQuarantine({
    text: result.text,
    name: config.name,
    source: `${GENERATOR} (${result.model})`,
    generator: GENERATOR,
    force: options.force,
  }, io);
  io.out(`Quarantined ${summary} as ${entry}\n`);
  io.out(
    `Next: loom quarantine show ${entry}\n` +
      `      loom quarantine promote ${entry} --sign\n` +
      `      loom quarantine approve agents/${entry}.yaml\n`,
  );
  for (const secret of result.secrets) {
    io.err(
      `Set and grant secret ${secret}: loom secrets set ${secret}; ` +
        `loom secrets grant ${config.name} ${secret} --config agents/${entry}.yaml\n`,
    );
  }
  return 0;
}

function llmClient(
  provider: LlmProvider,
  baseUrl: string,
  model: string,
  allowNetworks: readonly string[],
): LlmClient {
  let url: URL;
  try {
    url = parseFetchUrl(baseUrl);
  } catch (error) {
    throw new UsageError(`--base-url: ${(error as Error).message}`);
  }
  try {
    // The person typed this host: a loopback or literal address of it is allowed, as for a bridge.
    return new LlmClient({
      provider,
      baseUrl: `${url.origin}${url.pathname.replace(/\/+$/, "")}`,
      model,
      allowNetworks: [...allowNetworks, ...typedNetworks(url.hostname)],
    });
  } catch (error) {
    if (error instanceof LoomError) throw error;
    throw new UsageError(`--base-url: ${(error as Error).message}`);
  }
}

/** The networks a typed host names itself: its IP literal, or loopback for "localhost". */
function typedNetworks(hostname: string): string[] {
  const host = hostname.replace(/^\[|\]$/g, "");
  if (host.toLowerCase() === "localhost") return ["127.0.0.0/8", "::1/128"];
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(host)) return [`${host}/32`];
  if (host.includes(":")) return [`${host}/128`];
  return [];
}

function parseProvider(text: string | undefined): LlmProvider {
  if (text === undefined || text === "ollama") return "ollama";
  if (text === "openai") return "openai";
  throw new UsageError(
    `Unknown provider "${escapeForTerminal(text.slice(0, 32))}": expected ollama or openai`,
  );
}

function parseCount(text: string | undefined, flag: string, min: number, max: number) {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > max) {
    throw new UsageError(`${flag} must be a whole number from ${min} to ${max}`);
  }
  return n;
}

function readApiKey(variable: string, io: CliIo): string | undefined {
  if (variable === "") return undefined;
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(variable)) {
    throw new UsageError("--api-key-env must name an environment variable");
  }
  const value = io.env.get(variable);
  return value === undefined || value === "" ? undefined : value;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}
