/**
 * `loom import openapi`: an OpenAPI 3.0/3.1 or Swagger 2.0 document as one
 * agent config, with one tool per chosen operation. The text is validated
 * with the real loader (`parseConfig`) before it is returned; whatever the
 * loader still refuses in a tool (a costly pattern, an enum value, a
 * description it flags) is removed, and the removal reported.
 *
 * @module
 */

import {
  AGENT_NAME,
  findCredential,
  findPoisoning,
  MAX_CONFIG_BYTES,
  ownNames,
  parseConfig,
  TIER_METHODS,
  type TrustTier,
} from "../config/mod.ts";
import { ConfigError, LoomError, UsageError } from "../errors.ts";
import { toYaml } from "./_emit.ts";
import {
  type Draft,
  draftOperation,
  listOperations,
  type Operation,
  Skip,
  toolBase,
  uniqueName,
} from "./_operation.ts";
import type { SpecFiles } from "./_refs.ts";
import { declaredSchemes, operationSecurity } from "./_security.ts";
import { cleanText, trimBytes } from "./_text.ts";
import type { Param } from "./_schema.ts";
import { fixIssues } from "./_fix.ts";

/** What to import. */
export interface OpenApiImportOptions {
  /** Only operations with one of these tags. */
  tags?: string[];
  /** Only these operation ids. */
  operations?: string[];
  /** The trust tier, instead of the one the methods need. */
  tier?: TrustTier;
  /** The agent name, instead of one made from the title. */
  name?: string;
  /** The base URL, instead of the document's servers. */
  baseUrl?: string;
  /**
   * Told the operations drafted so far and their total, at most about 100
   * times (every 1% of them, and at the last), for a progress bar.
   */
  onProgress?: (done: number, total: number) => void;
}

/** Something left out, and why. */
export interface ImportSkip {
  /** The operation id, or `METHOD /path`, or "document". */
  operation: string;
  reason: string;
}

/** The config made, and the report of what was left out. */
export interface OpenApiImport {
  /** The config's YAML text; it loads with `parseConfig`. */
  text: string;
  /** The agent name. */
  name: string;
  tier: TrustTier;
  /** Operations chosen, and tools made of them. */
  chosen: number;
  tools: number;
  /** Operations, parameters, descriptions and schemes left out. */
  skipped: ImportSkip[];
  /** Secret names to set with `loom secrets set`. */
  secrets: string[];
}

type Node = Record<string, unknown>;

/**
 * Import a document read by `readSpecFiles`.
 *
 * @throws {LoomError} `INPUT_INVALID` for a document that is not OpenAPI
 * @throws {UsageError} for an unknown tag or operation id, or no base URL
 */
export function importOpenApi(spec: SpecFiles, options: OpenApiImportOptions = {}): OpenApiImport {
  const doc = spec.files.get(spec.main) as Node;
  checkDocument(doc);
  const name = agentName(options.name, doc);
  const baseUrl = (options.baseUrl ?? documentBaseUrl(doc)).replace(/\/+$/, "");
  const chosen = chooseOperations(listOperations(spec, doc), options);
  const tier = options.tier ?? neededTier(chosen);
  const schemes = declaredSchemes(spec, doc);
  const skipped: ImportSkip[] = [];
  const secrets = new Set<string>();
  const schemeProblems = new Set<string>();
  const drafts: Draft[] = [];
  const names = new Set<string>();
  const progress = progressEvery(chosen.length, options.onProgress);
  for (const [index, op] of chosen.entries()) {
    progress(index);
    if (!(TIER_METHODS[tier] as readonly string[]).includes(op.method)) {
      skipped.push({ operation: op.label, reason: `${op.method} is not allowed at tier ${tier}` });
      continue;
    }
    const security = operationSecurity(name, op.node.security ?? doc.security, schemes);
    security.problems.forEach((p) => schemeProblems.add(p));
    const tool = uniqueName(toolBase(op), names);
    try {
      const draft = draftOperation(spec, op, tool, baseUrl, security.headers);
      drafts.push(draft);
      security.secrets.forEach((s) => secrets.add(s));
      draft.notes.forEach((reason) => skipped.push({ operation: op.label, reason }));
    } catch (error) {
      if (!(error instanceof Skip) && !(error instanceof LoomError)) throw error;
      names.delete(tool);
      skipped.push({ operation: op.label, reason: error.message });
    }
  }
  progress(chosen.length);
  for (const problem of schemeProblems) skipped.push({ operation: "security", reason: problem });
  scanDescriptions(drafts, skipped);
  const agent = {
    name,
    version: "1.0.0",
    description: agentDescription(info(doc).title),
    provenance: { source: "imported", generator: "loom import openapi" },
  };
  const text = validated(agent, drafts, tier, skipped);
  return {
    text: text.text,
    name,
    tier,
    chosen: chosen.length,
    tools: text.tools,
    skipped,
    secrets: [...secrets].sort(),
  };
}

/**
 * A function of the count done that calls `onProgress` when that count
 * reaches the next 1% of `total` (so about 100 times at most), and at the end.
 */
function progressEvery(
  total: number,
  onProgress: ((done: number, total: number) => void) | undefined,
): (done: number) => void {
  if (onProgress === undefined || total === 0) return () => {};
  const step = Math.max(1, Math.ceil(total / 100));
  return (done) => {
    if (done > 0 && (done % step === 0 || done === total)) onProgress(done, total);
  };
}

function agentDescription(title: unknown): string {
  const text = cleanText(title, 200);
  const clean = text !== "" && !findPoisoning(text) && !findCredential(text);
  return clean
    ? `Imported from the OpenAPI document "${text}"`
    : "Imported from an OpenAPI document";
}

function info(doc: Node): Node {
  return (doc.info && typeof doc.info === "object" ? doc.info : {}) as Node;
}

function checkDocument(doc: unknown): asserts doc is Node {
  const bad = (why: string) => {
    throw new LoomError("INPUT_INVALID", `Not an OpenAPI document: ${why}`);
  };
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) bad("not an object");
  const d = doc as Node;
  const version = String(d.openapi ?? d.swagger ?? "");
  if (!/^(3\.[01]\.\d+|2\.0)$/.test(version)) {
    bad('expected "openapi: 3.0.x", "openapi: 3.1.x" or "swagger: \\"2.0\\""');
  }
  if (d.paths === null || typeof d.paths !== "object" || Array.isArray(d.paths)) {
    bad('"paths" is missing');
  }
}

function agentName(given: string | undefined, doc: Node): string {
  if (given !== undefined) {
    if (given.length > 64 || !AGENT_NAME.test(given)) {
      throw new UsageError(`--name "${given.slice(0, 64)}" is not kebab-case (a-z, 0-9, "-")`);
    }
    return given;
  }
  const title = String(info(doc).title ?? "").toLowerCase().replace(/[^a-z0-9]+/g, "-")
    .slice(0, 64).replace(/^-+|-+$/g, "");
  return AGENT_NAME.test(title) ? title : "imported-api";
}

/** The first server's URL with its variables' defaults, or Swagger's scheme, host and base path. */
export function documentBaseUrl(doc: Node): string {
  let url = "";
  if (Array.isArray(doc.servers) && doc.servers.length > 0) {
    const server = doc.servers[0] as Node;
    const variables = (server.variables ?? {}) as Record<string, Node>;
    url = String(server.url ?? "").replace(
      /\{([^}]*)\}/g,
      (_, v: string) => String(variables[v]?.default ?? `{${v}}`),
    );
  } else if (typeof doc.host === "string") {
    const schemes = Array.isArray(doc.schemes) ? doc.schemes : [];
    const scheme = schemes.includes("https") || schemes.length === 0 ? "https" : String(schemes[0]);
    url = `${scheme}://${doc.host}${typeof doc.basePath === "string" ? doc.basePath : ""}`;
  }
  if (!/^https?:\/\/[^/{}]+/.test(url)) {
    throw new UsageError(
      "The document names no absolute http(s) server URL: give one with --base-url",
    );
  }
  return url;
}

function chooseOperations(all: Operation[], options: OpenApiImportOptions): Operation[] {
  const tags = options.tags ?? [];
  const ids = options.operations ?? [];
  const known = new Set(all.flatMap((op) => op.tags));
  for (const tag of tags) {
    if (!known.has(tag)) throw new UsageError(`No operation has tag "${tag.slice(0, 100)}"`);
  }
  for (const id of ids) {
    if (!all.some((op) => op.id === id)) {
      throw new UsageError(`No operation has operationId "${id.slice(0, 100)}"`);
    }
  }
  if (tags.length === 0 && ids.length === 0) return all;
  return all.filter((op) => op.tags.some((t) => tags.includes(t)) || ids.includes(op.id));
}

/** 1 when every operation reads, 2 with POST/PUT/PATCH, 3 with DELETE. */
export function neededTier(ops: readonly Operation[]): TrustTier {
  if (ops.some((op) => op.method === "DELETE")) return 3;
  if (ops.some((op) => !["GET", "HEAD", "OPTIONS"].includes(op.method))) return 2;
  return 1;
}

/** Replace descriptions the loader's poisoning or credential scan flags. */
function scanDescriptions(drafts: Draft[], skipped: ImportSkip[]): void {
  const own = ownNames(drafts.flatMap((d) => [d.tool.name, ...Object.keys(d.tool.parameters)]));
  const flagged = (text: string) => findPoisoning(text, own) ?? findCredential(text);
  for (const draft of drafts) {
    const why = flagged(draft.tool.description);
    if (why) {
      draft.tool.description = `${draft.operation.method} ${draft.operation.path}`;
      skipped.push({ operation: draft.operation.label, reason: `description replaced: ${why}` });
    }
    for (const [name, param] of Object.entries(draft.tool.parameters)) {
      const reason = param.description ? flagged(param.description) : undefined;
      if (reason) {
        delete param.description;
        skipped.push({
          operation: draft.operation.label,
          reason: `description of parameter "${name}" left out: ${reason}`,
        });
      }
    }
  }
}

/**
 * Size levels, tried in order until the config fits in 1 MiB: description
 * caps (tool, parameter; 0 drops them) and the deepest nesting of object
 * properties kept (deeper objects stay, free-form).
 */
const LEVELS: Level[] = [
  { tool: 4096, param: 1024, depth: 8 },
  { tool: 512, param: 160, depth: 8 },
  { tool: 160, param: 0, depth: 8 },
  { tool: 100, param: 0, depth: 1 },
];

interface Level {
  tool: number;
  param: number;
  depth: number;
}

function validated(
  agent: Node,
  drafts: Draft[],
  tier: TrustTier,
  skipped: ImportSkip[],
): { text: string; tools: number } {
  for (const level of LEVELS) {
    let current = drafts;
    for (let round = 0; round < 8; round++) {
      const text = render(agent, current, tier, level);
      if (new TextEncoder().encode(text).length > MAX_CONFIG_BYTES) break;
      const warnings: { path: string; message: string }[] = [];
      try {
        parseConfig(text, { path: "imported.yaml", onWarning: (w) => warnings.push(w) });
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        current = fixIssues(current, error.issues, skipped);
        continue;
      }
      const costly = warnings.filter((w) => /\.pattern$/.test(w.path)).map((w) => ({
        path: w.path,
        message: "it may backtrack heavily (the loader would check it off the event loop)",
      }));
      const fixed = fixIssues(current, costly, skipped);
      if (fixed === current) return { text, tools: current.length };
      current = fixed;
    }
  }
  throw new UsageError(
    "The imported config does not fit in 1 MiB or does not load: choose fewer operations " +
      "with --tag or --operation",
  );
}

function render(
  agent: Node,
  drafts: Draft[],
  tier: TrustTier,
  level: Level,
): string {
  const exposes = drafts.map((d) => ({
    ...d.tool,
    description: trimBytes(d.tool.description, level.tool),
    parameters: Object.fromEntries(
      Object.entries(d.tool.parameters).map(([k, p]) => [k, shorten(p, level, 0)]),
    ),
  }));
  const config = {
    agent: {
      ...agent,
      exposes,
      http_bridge: drafts.map((d) => d.bridge),
      runtime: { trust_tier: tier },
    },
  };
  return `# Imported by "loom import openapi"; review before serving it.\n${toYaml(config)}`;
}

function shorten(param: Param, level: Level, depth: number): Param {
  const out: Param = { ...param };
  if (out.description !== undefined) {
    out.description = level.param === 0 ? undefined : trimBytes(out.description, level.param);
  }
  if (out.items) out.items = shorten(out.items, level, depth + 1);
  if (out.properties && depth >= level.depth) out.properties = undefined;
  if (out.properties) {
    out.properties = Object.fromEntries(
      Object.entries(out.properties).map(([k, p]) => [k, shorten(p, level, depth + 1)]),
    );
  }
  return out;
}
