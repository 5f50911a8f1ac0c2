/**
 * Send a rendered bridge request with the limits SPEC section 3 step 8 asks
 * for: a deadline over the whole exchange (headers and body), a cap on
 * decompressed response bytes, and redirects followed by hand, each hop
 * re-checked.
 *
 * @module
 */

import { LoomError, PolicyError, UpstreamError } from "../errors.ts";
import { formatDuration } from "../_util/units.ts";
import type { HttpMethod } from "../config/mod.ts";
import { checkDestination, checkLiteralDestination, type HostLookup } from "./net_policy.ts";
import type { RenderedRequest } from "./render.ts";

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
  /** The bridge's configured host (`URL.hostname`). */
  configuredHost: string;
  /** Redirects to follow at most. Default 5. */
  maxRedirects?: number;
  /** Resolver seam for {@linkcode checkDestination}; defaults to the system resolver. */
  lookup?: HostLookup;
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
 * Decide whether a redirect may be followed. Secrets ride in headers, so a
 * redirect may never leave the configured origin (SPEC section 3 step 8).
 *
 * @param from the URL that answered with a redirect
 * @param to the resolved `Location`
 * @param options the configured origin
 * @returns `{ allow: true }` or `{ allow: false, reason }`
 */
export function decideRedirect(
  from: URL,
  to: URL,
  options: { configuredOrigin: string },
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
  if (to.origin !== options.configuredOrigin) {
    return { allow: false, reason: "Redirect to another origin refused" };
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

async function discard(res: Response): Promise<void> {
  try {
    await res.body?.cancel();
  } catch {
    // The body is not needed; a failure to cancel it changes nothing.
  }
}

const SCRATCH_BYTES = 64 * 1024;

/** A growing byte buffer that never holds more than `max` bytes. */
class ByteSink {
  readonly #max: number;
  #buf = new Uint8Array(0);
  #len = 0;

  constructor(max: number) {
    this.#max = max;
  }

  get length(): number {
    return this.#len;
  }

  /** Append; the caller has checked that the total stays within `max`. */
  push(chunk: Uint8Array): void {
    const need = this.#len + chunk.byteLength;
    if (need > this.#buf.byteLength) {
      const grown = new Uint8Array(
        Math.min(this.#max, Math.max(need, this.#buf.byteLength * 2, 16384)),
      );
      grown.set(this.#buf.subarray(0, this.#len));
      this.#buf = grown;
    }
    this.#buf.set(chunk, this.#len);
    this.#len = need;
  }

  bytes(): Uint8Array {
    return this.#buf.subarray(0, this.#len);
  }
}

/**
 * Read chunks into `sink`. A BYOB reader reuses one scratch buffer: Deno's
 * fetch hands out each 4 KiB decompressed chunk in its own 64 KiB buffer, so
 * keeping default-reader chunks would hold 16 times the cap in memory.
 */
async function pump(
  body: ReadableStream<Uint8Array>,
  sink: ByteSink,
  max: number,
  tooLarge: () => LoomError,
): Promise<void> {
  let byob: ReadableStreamBYOBReader | null = null;
  try {
    byob = body.getReader({ mode: "byob" });
  } catch {
    byob = null;
  }
  if (byob !== null) {
    const reader = byob;
    let scratch = new Uint8Array(SCRATCH_BYTES);
    try {
      for (;;) {
        const { done, value } = await reader.read(scratch);
        if (done || value === undefined) break;
        if (sink.length + value.byteLength > max) throw tooLarge();
        sink.push(value);
        scratch = new Uint8Array(value.buffer, 0, SCRATCH_BYTES);
      }
    } catch (e) {
      reader.cancel().catch(() => {});
      throw e;
    }
    return;
  }
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (sink.length + value.byteLength > max) throw tooLarge();
      sink.push(value);
    }
  } catch (e) {
    reader.cancel().catch(() => {});
    throw e;
  }
}

async function readCapped(
  res: Response,
  max: number,
  url: URL,
  failure: Failure,
): Promise<{ text: string; bytes: number }> {
  const tooLarge = () =>
    new UpstreamError("RESPONSE_TOO_LARGE", `Response exceeds ${formatSize(max)}`);
  // Content-Length counts encoded bytes: only trust it when nothing is encoded.
  const declared = res.headers.get("content-length");
  if (declared !== null && !res.headers.has("content-encoding") && Number(declared) > max) {
    await discard(res);
    throw tooLarge();
  }
  if (res.body === null) return { text: "", bytes: 0 };
  if (declared !== null && !res.headers.has("content-encoding")) {
    // The length is within the cap and the HTTP framing holds the body to it,
    // so one read is enough; the check below only guards that promise.
    let body: Uint8Array;
    try {
      body = await res.bytes();
    } catch (e) {
      throw failure.map(e, url, "body");
    }
    if (body.byteLength > max) throw tooLarge();
    return { text: DECODER.decode(body), bytes: body.byteLength };
  }
  const sink = new ByteSink(max);
  try {
    // Cancelling on the first byte past the cap stops the transfer and the
    // decompressor at once (security requirements 7.27).
    await pump(res.body, sink, max, tooLarge);
  } catch (e) {
    throw failure.map(e, url, "body");
  }
  return { text: DECODER.decode(sink.bytes()), bytes: sink.length };
}

/**
 * Send a request and read its response within the limits.
 *
 * Every hop, the first included, is checked with
 * {@linkcode checkDestination}. Redirects (301, 302, 303, 307, 308) are
 * followed only to the configured origin, never from https to http, and at
 * most `maxRedirects` times; a 303, or a 301/302 answering a POST, becomes a
 * GET without a body, a 307/308 keeps method and body. The response body is
 * read as a stream and counted after decompression.
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
  if (req.url.origin !== options.configuredOrigin) {
    throw new PolicyError("Request URL is outside the configured origin");
  }

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

    let res: Response;
    try {
      res = await fetch(url, { method, headers, body, redirect: "manual", signal });
    } catch (e) {
      throw failure.map(e, url, "connect");
    }

    const location = REDIRECT_STATUSES.has(res.status) ? res.headers.get("location") : null;
    if (location === null) {
      const { text, bytes } = await readCapped(res, options.maxResponseBytes, url, failure);
      return {
        status: res.status,
        contentType: res.headers.get("content-type") ?? "",
        bodyText: text,
        bytes,
        redirects,
        url: url.href,
      };
    }

    await discard(res);
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
