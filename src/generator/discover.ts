/**
 * Finding a service's OpenAPI document and summing it up for a model
 * (`loom generate --discover URL`): the URL itself when it is a document,
 * else the usual paths under it (`OPENAPI_PATHS` of `_evolve_probe.ts`), fetched with
 * the destination check of `fetch.ts`. The summary is made through the
 * importer, so it carries only what an import would: operations as tools,
 * typed parameters, descriptions that passed the loader's poisoning scan.
 *
 * @module
 */

import { parseConfig } from "../config/mod.ts";
import { LoomError, PolicyError, UsageError } from "../errors.ts";
import { fetchText, parseFetchUrl } from "./fetch.ts";
import { importOpenApi } from "./openapi.ts";
import { readSpecFiles, type SpecFiles } from "./_refs.ts";
import { OPENAPI_PATHS } from "./_evolve_probe.ts";

/** Deadline of one probe. */
const DISCOVER_TIMEOUT_MS = 10_000;

/** Options of {@linkcode findOpenApi}. */
export interface FindOpenApiOptions {
  /** Private networks (CIDR) allowed besides the typed host's own address. */
  allowNetworks?: readonly string[];
  signal?: AbortSignal;
}

/** A document found. */
export interface FoundOpenApi {
  /** The document's URL. */
  url: string;
  spec: SpecFiles;
}

/**
 * Look for an OpenAPI document at `url`, then at the usual paths under it.
 *
 * @returns the document, or null when none of the places has one
 * @throws {PolicyError} when the destination check refuses the host
 * @throws {UpstreamError} when nothing answers at all
 */
export async function findOpenApi(
  url: string,
  options: FindOpenApiOptions = {},
): Promise<FoundOpenApi | null> {
  let base: URL;
  try {
    base = parseFetchUrl(url);
  } catch (error) {
    throw new UsageError(`Cannot discover "${url.slice(0, 200)}": ${(error as Error).message}`);
  }
  const prefix = base.pathname.replace(/\/+$/, "");
  const candidates = [base.href];
  for (const path of OPENAPI_PATHS) {
    const candidate = new URL(`${base.origin}${prefix}${path}`).href;
    if (!candidates.includes(candidate)) candidates.push(candidate);
  }
  for (const candidate of candidates) {
    if (!(await looksLikeOpenApi(candidate, options))) continue;
    const spec = await readSpecFiles(candidate, {
      allowNetworks: options.allowNetworks,
      signal: options.signal,
    });
    return { url: candidate, spec };
  }
  return null;
}

/** Does the URL answer 2xx with a JSON or YAML document carrying `openapi` or `swagger`? */
async function looksLikeOpenApi(url: string, options: FindOpenApiOptions): Promise<boolean> {
  let fetched;
  try {
    fetched = await fetchText(url, {
      allowNetworks: options.allowNetworks,
      signal: options.signal,
      timeoutMs: DISCOVER_TIMEOUT_MS,
    });
  } catch (error) {
    if (error instanceof PolicyError) throw error;
    if (error instanceof LoomError && error.code === "RESPONSE_TOO_LARGE") return false;
    throw error;
  }
  if (fetched.status < 200 || fetched.status > 299) return false;
  const head = fetched.text.slice(0, 4096);
  return /^\s*\{[\s\S]*"(openapi|swagger)"\s*:/.test(head) ||
    /^(openapi|swagger)\s*:/m.test(head);
}

/** A summary of a document, and the hosts its operations use. */
export interface ApiSummary {
  /** One line per operation, and a head line. */
  summary: string;
  /** `URL.host` of the document's base URL(s). */
  hosts: string[];
  operations: number;
}

/**
 * Sum a document up: one line per operation, as the importer would make it.
 *
 * @param found the document
 * @throws {LoomError} `INPUT_INVALID` for a document that is not OpenAPI
 */
export function summarizeOpenApi(found: FoundOpenApi): ApiSummary {
  let imported;
  try {
    imported = importOpenApi(found.spec, { tier: 3, name: "discovered" });
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    // No usable server in the document: the operations live beside it.
    imported = importOpenApi(found.spec, {
      tier: 3,
      name: "discovered",
      baseUrl: new URL(found.url).origin,
    });
  }
  const config = parseConfig(imported.text, { path: "discovered.yaml" });
  const tools = new Map(config.tools.map((t) => [t.name, t]));
  const hosts: string[] = [];
  const lines = [`OpenAPI document ${found.url}: ${config.bridges.length} operations`];
  for (const bridge of config.bridges) {
    const host = new URL(bridge.url).host.toLowerCase();
    if (!hosts.includes(host)) hosts.push(host);
    const tool = tools.get(bridge.toolName);
    const params = Object.entries(tool?.parameters ?? {}).map(([name, p]) => {
      const where = bridge.queryParams[name] !== undefined
        ? ` in query as ${bridge.queryParams[name]}`
        : "";
      return `${name}${p.required ? "" : "?"}: ${p.type}${where}`;
    });
    const body = bridge.bodyTemplate === null ? "" : ` body=${JSON.stringify(bridge.bodyTemplate)}`;
    lines.push(
      `${bridge.method} ${bridge.url}${body} (${params.join("; ")}): ${tool?.description ?? ""}`,
    );
  }
  return { summary: lines.join("\n"), hosts, operations: config.bridges.length };
}
