/**
 * Send a rendered bridge request with the limits the gate's step 8 asks (`docs/architecture.md`)
 * for: a deadline over the whole exchange (headers and body), a cap on
 * decompressed response bytes, and redirects followed by hand, each hop
 * re-checked.
 *
 * Each hop's destination check hands its approved addresses to the HTTP
 * client, which connects to one of them (or, in a sandbox that allows only
 * names, checks where the name led) and refuses a socket whose remote
 * address fails {@linkcode checkConnectedAddress} before writing a byte: a
 * name cannot be rebound between the check and the connection.
 *
 * @module
 */

import { LoomError, PolicyError, UpstreamError } from "../../errors.ts";
import { formatDuration } from "../../_util/units.ts";
import type { HttpMethod } from "../../config/mod.ts";
import {
  BodyLimitError,
  checkDestination,
  checkLiteralDestination,
  type ClientResponse,
  destinationPin,
  type HostLookup,
  HttpClient,
  ProtocolError,
} from "../../net/mod.ts";
import { leavesTarget, type RenderedRequest } from "./render.ts";

/** What came back from upstream, body read within the cap. */
export interface BridgeResponse {
  status: number;
  /** The `content-type` header, or "" when absent. */
  contentType: string;
  /** The body decoded as UTF-8 (invalid sequences replaced). */
  bodyText: string;
  /** Decompressed body bytes read. */
  bytes: number;
  /** Redirects followed. */
  redirects: number;
  /** The final URL (may hold secrets in its query: redact before showing). */
  url: string;
}

/** Options of {@linkcode executeRequest}. */
export interface ExecuteOptions {
  /**
   * The call deadline. Aborting it (with `AbortSignal.timeout` or a
   * `TimeoutError` reason) ends the call with `UPSTREAM_TIMEOUT`; any other
   * abort reason ends it as cancelled.
   */
  signal: AbortSignal;
  /** Cap on decompressed response bytes. Threat: size bombs (gzip, endless bodies). */
  maxResponseBytes: number;
  /** Per-request timeout over headers and body, or null/undefined for none. */
  timeoutMs?: number | null;
  /** Private or special networks (CIDR) the config names on purpose. */
  allowNetworks: readonly string[];
  /** The bridge's configured origin; every hop must stay on it. */
  configuredOrigin: string;
  /** The bridge's configured path prefix (`bridgeTarget().pathPrefix`); every hop must keep it. */
  pathPrefix: string;
  /** Whether the configured path is literal (`bridgeTarget().pathIsLiteral`): match by segments. */
  pathIsLiteral: boolean;
  /** The bridge's configured host (`URL.hostname`). */
  configuredHost: string;
  /** Redirects to follow at most. Default 5. */
  maxRedirects?: number;
  /** Resolver seam for {@linkcode checkDestination}; defaults to the system resolver. */
  lookup?: HostLookup;
  /**
   * Connections to reuse (one client per agent). Without one, the call opens
   * its own connection and closes it when done.
   */
  client?: HttpClient;
  /**
   * Called once, with the status, when the headers of the final response
   * (not a redirect that is followed) have arrived, before its body is read.
   * Must not throw.
   */
  onResponseHead?: (status: number) => void;
}

/** Outcome of {@linkcode decideRedirect}. */
export type RedirectVerdict = { allow: true } | { allow: false; reason: string };

const REDIRECT_STATUSES: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);
const DECODER = new TextDecoder("utf-8", { fatal: false });

const REFUSED = /refused/i;
const DNS = /dns error|lookup address|name or service|no such host|nodename|resolve/i;
const TLS = /certificate|tls|ssl|handshake/i;
const RESET = /reset|closed|eof|incomplete|broken pipe|aborted|body/i;

/**
 * Decide whether a redirect may be followed, whatever the status and method.
 * Secrets ride in headers, so a redirect may never leave the configured
 * origin (the gate's step 8), nor its path prefix: the same rule as a
 * rendered URL ({@linkcode leavesTarget}), encoded dot segments included.
 *
 * @param from the URL that answered with a redirect
 * @param to the resolved `Location`
 * @param options the configured origin and path prefix
 * @returns `{ allow: true }` or `{ allow: false, reason }`
 */
export function decideRedirect(
  from: URL,
  to: URL,
  options: { configuredOrigin: string; pathPrefix: string; pathIsLiteral: boolean },
): RedirectVerdict {
  if (to.protocol !== "http:" && to.protocol !== "https:") {
    return { allow: false, reason: "Redirect to a non-HTTP scheme refused" };
  }
  if (from.protocol === "https:" && to.protocol === "http:") {
    return { allow: false, reason: "Redirect from https to http refused" };
  }
  if (to.username !== "" || to.password !== "") {
    return { allow: false, reason: "Redirect to a URL with credentials refused" };
  }
  const leaves = leavesTarget(to, {
    origin: options.configuredOrigin,
    pathPrefix: options.pathPrefix,
    pathIsLiteral: options.pathIsLiteral,
  });
  if (leaves === "origin") return { allow: false, reason: "Redirect to another origin refused" };
  if (leaves === "path") {
    return { allow: false, reason: "Redirect outside the configured path refused" };
  }
  return { allow: true };
}

function formatSize(bytes: number): string {
  const MiB = 1024 * 1024;
  if (bytes % MiB === 0) return `${bytes / MiB}MiB`;
  if (bytes % 1024 === 0) return `${bytes / 1024}KiB`;
  return `${bytes} bytes`;
}

/** Turns whatever `fetch` or a stream threw into a LOOM error, without leaking it. */
class Failure {
  readonly #options: ExecuteOptions;
  readonly #timeout: AbortSignal | null;

  constructor(options: ExecuteOptions, timeout: AbortSignal | null) {
    this.#options = options;
    this.#timeout = timeout;
  }

  /** The error for an aborted signal, or null when nothing aborted. */
  aborted(): LoomError | null {
    if (this.#timeout?.aborted) {
      return new UpstreamError(
        "UPSTREAM_TIMEOUT",
        `Upstream did not answer within ${formatDuration(this.#options.timeoutMs!)}`,
      );
    }
    const signal = this.#options.signal;
    if (!signal.aborted) return null;
    const reason = signal.reason;
    if (reason instanceof LoomError) return reason;
    if (reason instanceof DOMException && reason.name === "AbortError") {
      return new UpstreamError("UPSTREAM_FAILED", "Upstream call was cancelled");
    }
    return new UpstreamError(
      "UPSTREAM_TIMEOUT",
      "Upstream did not answer within the call deadline",
    );
  }

  /**
   * Map an error. The raw message is only matched, never copied: Deno's
   * messages quote the full URL, which may carry a secret in its query.
   */
  map(error: unknown, url: URL, phase: "connect" | "body"): LoomError {
    const abort = this.aborted();
    if (abort) return abort;
    if (error instanceof LoomError) return error;
    const denied = sandboxDenial(error);
    if (denied !== null) {
      return new PolicyError(`Sandbox refused network access to "${denied}": not declared`);
    }
    if (error instanceof ProtocolError) {
      // Our own words, free of URLs and upstream text.
      const what = error.message.charAt(0).toLowerCase() + error.message.slice(1);
      return new UpstreamError(
        "UPSTREAM_FAILED",
        `Cannot read response from "${url.host}": ${what}`,
      );
    }
    let text = "";
    for (let e: unknown = error, i = 0; e instanceof Error && i < 4; e = e.cause, i++) {
      text += e.message + "\n";
    }
    let what: string;
    if (REFUSED.test(text)) what = "connection refused";
    else if (DNS.test(text)) what = "cannot resolve the host";
    else if (TLS.test(text)) what = "TLS handshake failed";
    else if (RESET.test(text)) what = "connection reset";
    else what = phase === "body" ? "the body could not be read" : "the request failed";
    return phase === "body"
      ? new UpstreamError("UPSTREAM_FAILED", `Cannot read response from "${url.host}": ${what}`)
      : new UpstreamError("UPSTREAM_FAILED", `Cannot reach "${url.host}": ${what}`);
  }
}

const NET_DENIAL = /Requires net access to "([^"]{1,300})"/;

/**
 * The host:port Deno's permission wall refused, when an error is such a
 * refusal: `NotCapable` (checked on the name before connecting, and on the
 * address after resolution against `--deny-net`), or an error whose cause
 * says "Requires net access" (as `fetch` wraps it). Null otherwise.
 *
 * @param error what a connection attempt threw
 * @returns `host:port`, or null
 */
export function sandboxDenial(error: unknown): string | null {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    const m = NET_DENIAL.exec(e.message);
    if (m && (depth > 0 || e instanceof Deno.errors.NotCapable)) return m[1];
  }
  return null;
}

/** Resolve `promise`, or reject as soon as `signal` aborts. */
function raceSignal<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
}

async function readCapped(
  res: ClientResponse,
  max: number,
  url: URL,
  failure: Failure,
): Promise<{ text: string; bytes: number }> {
  const tooLarge = () =>
    new UpstreamError("RESPONSE_TOO_LARGE", `Response exceeds ${formatSize(max)}`);
  let body: Uint8Array;
  try {
    // Encoded and decoded bytes are both held to the cap; a decoder stops at
    // the first byte past it (docs/security-requirements.md, NET-9).
    body = await res.read(max);
  } catch (e) {
    const abort = failure.aborted();
    if (abort) throw abort;
    if (e instanceof BodyLimitError) throw tooLarge();
    throw failure.map(e, url, "body");
  }
  return { text: DECODER.decode(body), bytes: body.byteLength };
}

/**
 * Send a request and read its response within the limits.
 *
 * Every hop, the first included, is checked with
 * {@linkcode checkDestination}, and its connection held to the addresses
 * that check approved. Redirects (301, 302, 303, 307, 308) are followed only
 * within the configured origin and path prefix, never from https to http, and at
 * most `maxRedirects` times; a 303, or a 301/302 answering a POST, becomes a
 * GET without a body, a 307/308 keeps method and body. The response body is
 * read by {@linkcode HttpClient} and counted before and after decompression.
 *
 * @param req the rendered request
 * @param options deadline, limits and the configured destination
 * @returns the final response, body decoded
 * @throws {PolicyError} when a hop is refused (origin, scheme, private address)
 * @throws {UpstreamError} `UPSTREAM_TIMEOUT` at the deadline, `RESPONSE_TOO_LARGE`
 *   beyond the cap, `UPSTREAM_FAILED` for connection and redirect failures
 */
export async function executeRequest(
  req: RenderedRequest,
  options: ExecuteOptions,
): Promise<BridgeResponse> {
  const maxRedirects = options.maxRedirects ?? 5;
  if (!Number.isSafeInteger(maxRedirects) || maxRedirects < 0) {
    throw new RangeError(`Cannot execute request: invalid maxRedirects ${maxRedirects}`);
  }
  if (!Number.isSafeInteger(options.maxResponseBytes) || options.maxResponseBytes < 0) {
    throw new RangeError(
      `Cannot execute request: invalid maxResponseBytes ${options.maxResponseBytes}`,
    );
  }
  const timeoutMs = options.timeoutMs;
  const timeout = timeoutMs === null || timeoutMs === undefined
    ? null
    : AbortSignal.timeout(timeoutMs);
  const signal = timeout ? AbortSignal.any([options.signal, timeout]) : options.signal;
  const failure = new Failure(options, timeout);
  const early = failure.aborted();
  if (early) throw early;
  const leaves = leavesTarget(req.url, {
    origin: options.configuredOrigin,
    pathPrefix: options.pathPrefix,
    pathIsLiteral: options.pathIsLiteral,
  });
  if (leaves !== null) throw new PolicyError(`Request URL is outside the configured ${leaves}`);
  const client = options.client ?? new HttpClient({ keepAlive: false });
  try {
    return await follow(req, options, client, signal, failure);
  } finally {
    if (client !== options.client) client.close();
  }
}

/** The exchange and its redirects; see {@linkcode executeRequest}. */
async function follow(
  req: RenderedRequest,
  options: ExecuteOptions,
  client: HttpClient,
  signal: AbortSignal,
  failure: Failure,
): Promise<BridgeResponse> {
  const maxRedirects = options.maxRedirects ?? 5;
  let url = req.url;
  let method: HttpMethod = req.method;
  let headers = req.headers;
  let body = req.body;
  const seen = new Set<string>([`${method} ${url.href}`]);
  for (let redirects = 0;; redirects++) {
    const policy = {
      allowNetworks: options.allowNetworks,
      configuredHost: options.configuredHost,
      lookup: options.lookup,
    };
    // An IP literal is judged at once; only a name waits for the resolver.
    let verdict = checkLiteralDestination(url, policy);
    if (verdict === null) {
      try {
        verdict = await raceSignal(checkDestination(url, policy), signal);
      } catch (e) {
        throw failure.map(e, url, "connect");
      }
    }
    if (!verdict.allow) throw new PolicyError(verdict.reason);
    // A refused socket is a PolicyError, audited as a destination refusal.
    const pin = destinationPin(url.hostname, verdict.addresses, policy);

    let res: ClientResponse;
    try {
      res = await client.request({ method, url, headers, body, signal, pin });
    } catch (e) {
      throw failure.map(e, url, "connect");
    }

    const location = REDIRECT_STATUSES.has(res.status) ? res.header("location") : null;
    if (location === null) {
      options.onResponseHead?.(res.status);
      const { text, bytes } = await readCapped(res, options.maxResponseBytes, url, failure);
      return {
        status: res.status,
        contentType: res.header("content-type") ?? "",
        bodyText: text,
        bytes,
        redirects,
        url: url.href,
      };
    }

    res.discard();
    if (redirects >= maxRedirects) {
      throw new UpstreamError("UPSTREAM_FAILED", `Too many redirects: more than ${maxRedirects}`);
    }
    let next: URL;
    try {
      next = new URL(location, url);
    } catch {
      throw new UpstreamError("UPSTREAM_FAILED", "Upstream sent an invalid redirect location");
    }
    const decision = decideRedirect(url, next, options);
    if (!decision.allow) throw new PolicyError(decision.reason);
    // RFC 9110 section 15.4: 303 always, and 301/302 after POST (as browsers do), become GET.
    if (
      (res.status === 303 && method !== "GET" && method !== "HEAD") ||
      ((res.status === 301 || res.status === 302) && method === "POST")
    ) {
      method = "GET";
      body = null;
      headers = new Headers(headers);
      headers.delete("content-type");
      headers.delete("content-length");
    }
    const key = `${method} ${next.href}`;
    if (seen.has(key)) throw new UpstreamError("UPSTREAM_FAILED", "Redirect loop refused");
    seen.add(key);
    url = next;
  }
}
