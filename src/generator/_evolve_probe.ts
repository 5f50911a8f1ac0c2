/**
 * `loom evolve`'s probing: for a service nothing covers, GET the usual
 * OpenAPI paths under its base URL, in order, until one answers an OpenAPI
 * 3.x or Swagger 2.0 document. Bounded: {@linkcode PROBE_PARALLEL} services
 * at a time, {@linkcode PROBE_TIMEOUT_MS} per request, a service that does
 * not answer is not asked again.
 *
 * Before anything is sent, the destination is checked the way a bridge's is
 * (`src/net/destination.ts`), with one difference from `fetchText`: a target
 * that Prometheus listed was not typed by the person, so its host counts as
 * named only when it is the host of the Prometheus URL they typed. Any other
 * private or loopback address needs `--allow-network`; without it the
 * service is reported as not probed, and nothing is sent to it.
 *
 * @module
 */

import { parseYamlData } from "../config/mod.ts";
import { LoomError, PolicyError, UpstreamError } from "../errors.ts";
import { checkDestination, type HostLookup } from "../net/mod.ts";
import { fetchText } from "./fetch.ts";
import type { Service } from "./evolve.ts";

/** Where an OpenAPI document usually is, tried in this order. */
export const OPENAPI_PATHS: readonly string[] = [
  "/openapi.json",
  "/openapi.yaml",
  "/swagger.json",
  "/v3/api-docs",
  "/api/openapi.json",
  "/swagger/v1/swagger.json",
  "/api/v1/openapi.json",
  "/docs/openapi.json",
];
/** Services probed at the same time. */
export const PROBE_PARALLEL = 8;
/** Deadline of one probe request. */
export const PROBE_TIMEOUT_MS = 5_000;
/** Cap on one probed document. */
const MAX_DOCUMENT_BYTES = 16 * 1024 * 1024;

/** What probing a service found. */
export type Probe =
  /** A document at `url`; `allowNetworks`: what `loom import openapi` needs to fetch it. */
  | { kind: "found"; url: URL; allowNetworks: readonly string[] }
  /** Every path answered, none with an OpenAPI document. */
  | { kind: "absent" }
  /** Nothing was sent: the destination check refused the address. */
  | { kind: "refused"; reason: string }
  /** The service did not answer (or its name does not resolve). */
  | { kind: "unreachable"; reason: string };

/** Options of {@linkcode probeServices}. */
export interface ProbeOptions {
  /** Private or special networks (CIDR) the person allowed (`--allow-network`). */
  allowNetworks: readonly string[];
  /** Hosts the person typed (the Prometheus URL's); inventory services count as typed. */
  namedHosts: readonly string[];
  /** Deadline per request; default {@linkcode PROBE_TIMEOUT_MS}. */
  timeoutMs?: number;
  /** Resolver seam of the destination check (tests). */
  lookup?: HostLookup;
}

/**
 * Probe services, {@linkcode PROBE_PARALLEL} at a time.
 *
 * @returns one probe per service, in the same order
 */
export async function probeServices(
  services: readonly Service[],
  options: ProbeOptions,
): Promise<Probe[]> {
  const results: Probe[] = new Array(services.length);
  let next = 0;
  const worker = async () => {
    while (next < services.length) {
      const i = next++;
      results[i] = await probeService(services[i], options);
    }
  };
  await Promise.all(Array.from({ length: Math.min(PROBE_PARALLEL, services.length) }, worker));
  return results;
}

async function probeService(service: Service, options: ProbeOptions): Promise<Probe> {
  const prefix = service.baseUrl.pathname.replace(/\/+$/, "");
  const candidates = service.openapi
    ? [service.openapi]
    : OPENAPI_PATHS.map((path) => new URL(prefix + path, service.baseUrl.origin));
  for (const url of candidates) {
    const named = service.source === "inventory" || options.namedHosts.includes(url.hostname);
    const policy = {
      allowNetworks: options.allowNetworks,
      configuredHost: named ? url.hostname : "",
    };
    try {
      const verdict = await checkDestination(url, { ...policy, lookup: options.lookup });
      if (!verdict.allow) return { kind: "refused", reason: verdict.reason };
      const fetched = await fetchText(url, {
        allowNetworks: options.allowNetworks,
        timeoutMs: options.timeoutMs ?? PROBE_TIMEOUT_MS,
        maxBytes: MAX_DOCUMENT_BYTES,
        lookup: options.lookup,
      });
      if (fetched.status >= 200 && fetched.status < 300 && isOpenApi(fetched)) {
        return {
          kind: "found",
          url: fetched.url,
          allowNetworks: await importNeeds(fetched.url, options),
        };
      }
    } catch (error) {
      if (error instanceof PolicyError) continue; // a redirect somewhere not allowed
      if (error instanceof UpstreamError && error.code === "RESPONSE_TOO_LARGE") continue;
      if (error instanceof LoomError) return { kind: "unreachable", reason: error.message };
      throw error;
    }
  }
  return { kind: "absent" };
}

/** The networks `loom import openapi URL` needs: none when the typed host suffices. */
async function importNeeds(url: URL, options: ProbeOptions): Promise<readonly string[]> {
  const typed = await checkDestination(url, {
    allowNetworks: [],
    configuredHost: url.hostname,
    lookup: options.lookup,
  });
  return typed.allow ? [] : options.allowNetworks;
}

/** Whether a fetched text is an OpenAPI 3.x or Swagger 2.0 document. */
export function isOpenApi(fetched: { url: URL; contentType: string; text: string }): boolean {
  let doc: unknown = undefined;
  try {
    doc = JSON.parse(fetched.text);
  } catch {
    const yaml = /ya?ml/i.test(fetched.contentType) || /\.ya?ml$/i.test(fetched.url.pathname);
    if (!yaml) return false;
    try {
      doc = parseYamlData(fetched.text, fetched.url.pathname);
    } catch {
      return false;
    }
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) return false;
  const { openapi, swagger } = doc as { openapi?: unknown; swagger?: unknown };
  return (typeof openapi === "string" && /^3\.\d+/.test(openapi)) || swagger === "2.0";
}
