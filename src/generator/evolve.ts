/**
 * `loom evolve`'s services: the ones a person runs, listed from Prometheus's
 * active targets (`GET /api/v1/targets?state=active`) or from an inventory
 * file, each with the base URL its OpenAPI document is looked for under.
 * Matching them against configs and packs is in `_evolve_match.ts`, probing
 * in `_evolve_probe.ts`; this module re-exports both.
 *
 * An inventory is YAML or JSON:
 *
 * ```yaml
 * services:
 *   - name: sonarr
 *     url: http://192.168.1.10:8989
 *     description: TV series manager        # optional
 *     openapi: /api/v3/openapi.json         # optional: a path or URL of its document
 * ```
 *
 * @module
 */

import { parseYamlDataLocated } from "../config/mod.ts";
import { ConfigError, type ConfigIssue, UpstreamError } from "../errors.ts";

export {
  type Coverer,
  coverersOf,
  generateCommandLine,
  hostPortOf,
  importCommandLine,
  type Match,
  matchService,
  oneLine,
  PACK_ALIASES,
  shellQuote,
} from "./_evolve_match.ts";
export {
  OPENAPI_PATHS,
  type Probe,
  PROBE_PARALLEL,
  PROBE_TIMEOUT_MS,
  type ProbeOptions,
  probeServices,
} from "./_evolve_probe.ts";

/** Most services one run lists; the rest are counted, not probed. */
export const MAX_SERVICES = 200;

/** One service a person runs. */
export interface Service {
  /** The Prometheus job or the inventory's name, as given (untrusted text). */
  name: string;
  /** An agent name made from it (`AGENT_NAME` rules), unique in the listing. */
  agentName: string;
  /** Where its API lives: an origin, or the inventory's URL without a trailing `/`. */
  baseUrl: URL;
  /** `host:port` of the base URL, port explicit, host lowercase. */
  hostPort: string;
  /** Where it was listed. */
  source: "prometheus" | "inventory";
  /** The inventory's description, or "". */
  description: string;
  /** The inventory's OpenAPI document (absolute), or null to probe the usual paths. */
  openapi: URL | null;
  /** Prometheus's `health` of the target (`up`, `down`, `unknown`), or null. */
  health: string | null;
}

/** Services listed, and how many more were left out past {@linkcode MAX_SERVICES}. */
export interface ServiceList {
  services: Service[];
  omitted: number;
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * The services of Prometheus's active targets: one per distinct job and
 * `host:port` of the scrape URL (Prometheus's own job included).
 *
 * @param text the body of `/api/v1/targets?state=active`
 * @param from the URL it came from, for messages
 * @throws {UpstreamError} `UPSTREAM_FAILED` when it is not Prometheus's targets JSON
 */
export function parseTargets(text: string, from: string): ServiceList {
  const notTargets = (why: string) =>
    new UpstreamError("UPSTREAM_FAILED", `${from} did not answer Prometheus's targets: ${why}`);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw notTargets("the answer is not JSON");
  }
  if (!isObject(body) || !isObject(body.data) || !Array.isArray(body.data.activeTargets)) {
    throw notTargets("no data.activeTargets list");
  }
  if (body.status !== undefined && body.status !== "success") {
    throw notTargets("status is not success");
  }
  const found: Omit<Service, "agentName">[] = [];
  const seen = new Set<string>();
  for (const target of body.data.activeTargets) {
    const service = targetService(target);
    if (service === null) continue;
    const key = `${service.name}\n${service.hostPort}`;
    if (seen.has(key)) continue;
    seen.add(key);
    found.push(service);
  }
  return capped(found);
}

function targetService(target: unknown): Omit<Service, "agentName"> | null {
  if (!isObject(target) || !isObject(target.labels)) return null;
  const job = target.labels.job;
  if (typeof job !== "string" || job === "") return null;
  let url: URL | null = null;
  if (typeof target.scrapeUrl === "string") url = webUrl(target.scrapeUrl);
  if (url === null && typeof target.labels.instance === "string") {
    url = webUrl(`http://${target.labels.instance}`);
  }
  if (url === null) return null;
  const base = new URL(url.origin);
  return {
    name: job,
    baseUrl: base,
    hostPort: hostPort(base),
    source: "prometheus",
    description: "",
    openapi: null,
    health: typeof target.health === "string" ? target.health : null,
  };
}

/** An http(s) URL without credentials, or null. */
function webUrl(text: string): URL | null {
  try {
    const url = new URL(text);
    if (url.protocol !== "http:" && url.protocol !== "https:") return null;
    if (url.username !== "" || url.password !== "") return null;
    url.hash = "";
    url.search = "";
    return url;
  } catch {
    return null;
  }
}

function hostPort(url: URL): string {
  const port = url.port || (url.protocol === "https:" ? "443" : "80");
  return `${url.hostname.toLowerCase()}:${port}`;
}

const INVENTORY_KEYS = ["name", "url", "description", "openapi"];
const MAX_NAME = 64;
const MAX_DESCRIPTION = 500;
const CONTROL = /[\p{Cc}\p{Cf}\u2028\u2029]/u;

/**
 * The services of an inventory file (format in the module doc).
 *
 * @param text the file's text (YAML or JSON)
 * @param file its path, for messages
 * @throws {ConfigError} listing every problem as `file:line:column`
 */
export function parseInventory(text: string, file: string): ServiceList {
  const doc = parseYamlDataLocated(text, file);
  const issues: ConfigIssue[] = [];
  const data = doc.data;
  if (!isObject(data) || !Array.isArray(data.services)) {
    throw new ConfigError([doc.issue([], 'Expected a map with a "services" list')]);
  }
  for (const key of Object.keys(data)) {
    if (key !== "services") issues.push(doc.issue([key], `Unknown key: expected "services"`, true));
  }
  const found: Omit<Service, "agentName">[] = [];
  data.services.forEach((entry: unknown, i: number) => {
    const at = (path: (string | number)[], message: string, key?: boolean) =>
      issues.push(doc.issue(["services", i, ...path], message, key));
    const service = inventoryService(entry, at);
    if (service !== null) found.push(service);
  });
  if (issues.length > 0) throw new ConfigError(issues);
  return capped(found);
}

function inventoryService(
  entry: unknown,
  at: (path: (string | number)[], message: string, key?: boolean) => void,
): Omit<Service, "agentName"> | null {
  if (!isObject(entry)) return (at([], "Expected a map with name and url"), null);
  for (const key of Object.keys(entry)) {
    if (!INVENTORY_KEYS.includes(key)) {
      at([key], `Unknown key: expected ${INVENTORY_KEYS.join(", ")}`, true);
    }
  }
  const name = text(entry, "name", MAX_NAME, at, true);
  const description = text(entry, "description", MAX_DESCRIPTION, at, false) ?? "";
  const rawUrl = text(entry, "url", 2048, at, true);
  const url = rawUrl === null ? null : webUrl(rawUrl);
  if (rawUrl !== null && url === null) at(["url"], "Expected an http(s) URL without credentials");
  const rawDoc = text(entry, "openapi", 2048, at, false);
  let openapi: URL | null = null;
  if (rawDoc !== null && url !== null) {
    openapi = rawDoc.startsWith("/") ? webUrl(url.origin + rawDoc) : webUrl(rawDoc);
    if (openapi === null) at(["openapi"], "Expected a path starting with / or an http(s) URL");
  }
  if (name === null || url === null) return null;
  const base = new URL(url.href.replace(/\/+$/, ""));
  return {
    name,
    baseUrl: base,
    hostPort: hostPort(base),
    source: "inventory",
    description,
    openapi,
    health: null,
  };
}

function text(
  entry: Json,
  key: string,
  max: number,
  at: (path: (string | number)[], message: string) => void,
  required: boolean,
): string | null {
  const value = entry[key];
  if (value === undefined || value === null) {
    if (required) at([key], `Missing "${key}"`);
    return null;
  }
  if (typeof value !== "string" || value.trim() === "") {
    return (at([key], "Expected a non-empty string"), null);
  }
  if (value.length > max) return (at([key], `Longer than ${max} characters`), null);
  if (CONTROL.test(value)) return (at([key], "Holds control or invisible characters"), null);
  return value;
}

/** Cap the list and give each service a distinct agent name. */
function capped(found: Omit<Service, "agentName">[]): ServiceList {
  const kept = found.slice(0, MAX_SERVICES);
  const used = new Set<string>();
  const services = kept.map((service) => {
    const base = agentSlug(service.name) || "service";
    let name = base;
    if (used.has(name)) name = agentSlug(`${base}-${service.hostPort}`) || base;
    for (let n = 2; used.has(name); n++) name = `${base.slice(0, 58)}-${n}`;
    used.add(name);
    return { ...service, agentName: name };
  });
  return { services, omitted: found.length - kept.length };
}

/**
 * An agent name (`^[a-z0-9]+(-[a-z0-9]+)*$`, at most 48 characters) made
 * from any text, or "" when nothing of it is usable.
 */
export function agentSlug(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, "-").slice(0, 48).replace(/^-+|-+$/g, "");
}
