/**
 * Fetching a document the authoring commands read from the network: an
 * OpenAPI description (`loom import openapi URL`, `loom generate --discover
 * URL`) or a service's listing (`loom evolve --prometheus URL`). A request
 * goes through LOOM's own HTTP client after the same destination check a
 * bridge gets (`src/net/destination.ts`): every address of the host must be
 * public, unless the URL the person typed names it as an IP literal or as
 * loopback, or `allowNetworks` holds it; the connected socket must be one of
 * the approved addresses. A redirect is followed at most
 * {@linkcode MAX_REDIRECTS} times and its target is checked again, as a host
 * nobody named unless it is the first URL's host, so a public server cannot
 * bounce the request into a private network. `https:` to `http:` is refused.
 *
 * @module
 */

import { LoomError, PolicyError, UpstreamError } from "../errors.ts";
import {
  BodyLimitError,
  checkDestination,
  type ClientResponse,
  destinationPin,
  type HostLookup,
  HttpClient,
} from "../net/mod.ts";

/** Most redirects followed for one document. */
export const MAX_REDIRECTS = 5;
/** Default deadline of one fetch, redirects included. */
export const FETCH_TIMEOUT_MS = 30_000;
/** Default cap on a fetched body (64 MiB, the largest OpenAPI file read). */
export const MAX_FETCH_BYTES = 64 * 1024 * 1024;

/** Options of {@linkcode fetchText}. */
export interface FetchTextOptions {
  /** Private or special networks (CIDR) allowed beyond what the URL names literally. */
  allowNetworks?: readonly string[];
  /** Cancellation; a deadline of {@linkcode FETCH_TIMEOUT_MS} applies besides. */
  signal?: AbortSignal;
  /** Deadline in milliseconds instead of {@linkcode FETCH_TIMEOUT_MS}. */
  timeoutMs?: number;
  /** Cap on the decoded body; default {@linkcode MAX_FETCH_BYTES}. */
  maxBytes?: number;
  /** The `Accept` header; default JSON, YAML, then anything. */
  accept?: string;
  /** Resolver seam of the destination check (tests). */
  lookup?: HostLookup;
  /** A client to reuse (its connections stay open); a fresh one, closed after, by default. */
  client?: HttpClient;
}

/** A fetched document. */
export interface FetchedText {
  /** The URL the body came from (after redirects). */
  url: URL;
  status: number;
  /** The `Content-Type` header, or "". */
  contentType: string;
  /** The body, decoded as UTF-8. */
  text: string;
}

const DECODER = new TextDecoder("utf-8", { fatal: false });
const DEFAULT_ACCEPT = "application/json, application/yaml;q=0.9, text/yaml;q=0.9, */*;q=0.5";

/**
 * GET a URL's text, whatever its status (a 404 is an answer too).
 *
 * @param url an `http:` or `https:` URL without credentials
 * @param options networks, deadline, cap
 * @throws {PolicyError} when the destination check refuses the host or a redirect
 * @throws {UpstreamError} when nothing answers, at the deadline, past the cap,
 *   for too many redirects
 */
export async function fetchText(
  url: string | URL,
  options: FetchTextOptions = {},
): Promise<FetchedText> {
  const first = parseFetchUrl(url);
  const deadline = AbortSignal.timeout(options.timeoutMs ?? FETCH_TIMEOUT_MS);
  const signal = options.signal ? AbortSignal.any([options.signal, deadline]) : deadline;
  const client = options.client ?? new HttpClient({ maxIdlePerOrigin: 1 });
  const max = options.maxBytes ?? MAX_FETCH_BYTES;
  try {
    let current = first;
    for (let hop = 0;; hop++) {
      const response = await get(client, current, first, options, signal);
      const location = response.header("location");
      if (response.status >= 300 && response.status < 400 && location !== null) {
        response.discard();
        if (hop >= MAX_REDIRECTS) {
          throw new UpstreamError(
            "UPSTREAM_FAILED",
            `${first.origin} redirected more than ${MAX_REDIRECTS} times`,
          );
        }
        current = redirectTarget(current, location);
        continue;
      }
      let bytes: Uint8Array;
      try {
        bytes = await response.read(max);
      } catch (error) {
        if (error instanceof BodyLimitError) {
          throw new UpstreamError(
            "RESPONSE_TOO_LARGE",
            `${current.origin}${current.pathname} sent more than ${max} bytes`,
          );
        }
        throw failure(error, signal, current, "body");
      }
      return {
        url: current,
        status: response.status,
        contentType: response.header("content-type") ?? "",
        text: DECODER.decode(bytes),
      };
    }
  } finally {
    if (options.client === undefined) client.close();
  }
}

/**
 * GET a URL's text and insist on a 2xx answer.
 *
 * @throws {UpstreamError} `UPSTREAM_FAILED` for another status, naming it and the URL
 * @see fetchText for the other errors
 */
export async function fetchDocument(
  url: string | URL,
  options: FetchTextOptions = {},
): Promise<FetchedText> {
  const fetched = await fetchText(url, options);
  if (fetched.status < 200 || fetched.status > 299) {
    throw new UpstreamError(
      "UPSTREAM_FAILED",
      `${shownUrl(fetched.url)} answered HTTP ${fetched.status}`,
    );
  }
  return fetched;
}

/** A URL as messages show it: origin and path, without the query. */
export function shownUrl(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

/**
 * Check a URL given to an authoring command.
 *
 * @throws {TypeError} for one that is not http(s) or carries credentials or a fragment
 */
export function parseFetchUrl(url: string | URL): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError("Not a URL");
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new TypeError(`Only http and https URLs can be fetched, not ${parsed.protocol}`);
  }
  if (parsed.username !== "" || parsed.password !== "") {
    throw new TypeError("A URL to fetch may not carry credentials");
  }
  parsed.hash = "";
  return parsed;
}

async function get(
  client: HttpClient,
  url: URL,
  first: URL,
  options: FetchTextOptions,
  signal: AbortSignal,
): Promise<ClientResponse> {
  // Only the host the person typed counts as named; a redirect's new host does not.
  const policy = {
    allowNetworks: options.allowNetworks ?? [],
    configuredHost: url.hostname === first.hostname ? first.hostname : "",
  };
  const verdict = await checkDestination(url, { ...policy, lookup: options.lookup });
  if (!verdict.allow) throw new PolicyError(`Fetch refused: ${verdict.reason}`);
  signal.throwIfAborted();
  const pin = destinationPin(
    url.hostname,
    verdict.addresses,
    policy,
    (reason) => new PolicyError(`Fetch refused: ${reason}`),
  );
  try {
    return await client.request({
      method: "GET",
      url,
      headers: new Headers({ accept: options.accept ?? DEFAULT_ACCEPT }),
      body: null,
      signal,
      pin,
    });
  } catch (error) {
    throw failure(error, signal, url, "connect");
  }
}

function redirectTarget(from: URL, location: string): URL {
  let target: URL;
  try {
    target = parseFetchUrl(new URL(location, from));
  } catch (error) {
    throw new UpstreamError(
      "UPSTREAM_FAILED",
      `${from.origin} redirected to an address that cannot be fetched: ${(error as Error).message}`,
    );
  }
  if (from.protocol === "https:" && target.protocol === "http:") {
    throw new PolicyError(`Fetch refused: ${from.origin} redirected from https to http`);
  }
  return target;
}

function failure(error: unknown, signal: AbortSignal, url: URL, phase: "connect" | "body") {
  if (error instanceof LoomError) return error;
  if (signal.aborted) {
    const reason = signal.reason;
    if (reason instanceof DOMException && reason.name === "AbortError") {
      return new UpstreamError("UPSTREAM_FAILED", `Fetching ${shownUrl(url)} was cancelled`);
    }
    return new UpstreamError("UPSTREAM_TIMEOUT", `${url.origin} did not answer in time`);
  }
  if (phase === "connect" && /certificate|tls|ssl|handshake/i.test(messagesOf(error))) {
    return new UpstreamError("UPSTREAM_FAILED", `TLS with ${url.origin} failed (its certificate?)`);
  }
  return new UpstreamError(
    "UPSTREAM_FAILED",
    phase === "connect"
      ? `Nothing answered at ${url.origin}`
      : `Cannot read the answer of ${shownUrl(url)}`,
  );
}

/** The messages of an error and its causes, only to be matched. */
function messagesOf(error: unknown): string {
  let text = "";
  for (let e: unknown = error, i = 0; e instanceof Error && i < 4; e = e.cause, i++) {
    text += `${e.name} ${e.message}\n`;
  }
  return text;
}
