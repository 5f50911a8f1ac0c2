/**
 * Where the OAuth resource server of `oauth.ts` gets the issuer's signing
 * keys: discovery of `jwks_uri` from the issuer's metadata (RFC 8414, then
 * OpenID Connect Discovery), or an operator-given JWKS URL; the key set is
 * cached and refetched only when it is stale or a token names an unknown
 * `kid`, at most once per {@linkcode JwksSourceOptions.minRefetchMs}.
 *
 * Threats and the answer to each:
 * - A flood of tokens with made-up `kid`s making LOOM hammer the issuer (or
 *   wait on it): one fetch in flight at a time, shared by every waiting
 *   request, and at most one per `minRefetchMs` (default 30 s) whatever the
 *   outcome; between fetches an unknown `kid` is simply refused.
 * - Metadata pointing LOOM elsewhere (SSRF through a tampered or misconfigured
 *   document): a discovered `jwks_uri` must be on the issuer's origin, the
 *   document's `issuer` must equal the configured one (RFC 8414 §3.3), and
 *   redirects are never followed.
 * - Key material read in clear or from a slow or huge answer: https only
 *   (except loopback hosts), each fetch bounded in time (5 s) and size
 *   (256 KiB).
 * - A key the issuer retired (say after a compromise) staying trusted: the
 *   cached set is refetched once it is older than `maxAgeMs` (10 min).
 *
 * @module
 */

import { createLocalJWKSet, type JSONWebKeySet } from "jose";
import { isLoopbackHost } from "../net/mod.ts";

/** Options of {@linkcode JwksSource}. */
export interface JwksSourceOptions {
  /** The issuer identifier, exactly as tokens carry it in `iss`. */
  issuer: string;
  /** The JWKS URL; when absent it is discovered from the issuer's metadata. */
  jwksUrl?: string;
  /** Least time between two fetches, whatever their outcome (default 30 s). */
  minRefetchMs?: number;
  /** A key set older than this is refetched before use (default 10 min). */
  maxAgeMs?: number;
  /** Deadline of one HTTP fetch (default 5 s). */
  fetchTimeoutMs?: number;
  /** The clock, in milliseconds (tests move it). */
  now?: () => number;
}

/** Largest metadata document or key set read (bytes). */
const MAX_DOCUMENT_BYTES = 256 * 1024;

/** The key resolver `jose.jwtVerify` takes. */
export type KeyResolver = ReturnType<typeof createLocalJWKSet>;

/** The issuer's key set is unreachable or unusable (the request gets 503, not 401). */
export class KeySourceUnavailable extends Error {
  /** @param message what failed, naming URLs of the issuer, never a token */
  constructor(message: string) {
    super(message);
    this.name = "KeySourceUnavailable";
  }
}

/**
 * Whether `url` may carry key material: https, or http to a loopback host.
 *
 * @param url the URL to check
 * @returns true when it may be fetched
 */
export function isSecureOrLoopback(url: URL): boolean {
  if (url.protocol === "https:") return true;
  return url.protocol === "http:" && isLoopbackHost(url.hostname);
}

/**
 * The metadata URLs of an issuer, in the order they are tried: RFC 8414 §3.1
 * (the well-known suffix between host and path), then OpenID Connect
 * Discovery 1.0 §4 (appended to the issuer).
 *
 * @param issuer the issuer identifier
 * @returns the two URLs
 */
export function metadataUrls(issuer: string): URL[] {
  const url = new URL(issuer);
  const path = url.pathname === "/" ? "" : url.pathname.replace(/\/$/, "");
  return [
    new URL(`/.well-known/oauth-authorization-server${path}`, url.origin),
    new URL(`${path}/.well-known/openid-configuration`, url.origin),
  ];
}

/** The issuer's keys, fetched on demand, cached, refetched at a bounded rate. */
export class JwksSource {
  readonly #issuer: string;
  readonly #issuerOrigin: string;
  #jwksUrl: URL | null;
  readonly #minRefetchMs: number;
  readonly #maxAgeMs: number;
  readonly #timeoutMs: number;
  readonly #now: () => number;
  #keys: KeyResolver | null = null;
  #fetchedAt = -Infinity;
  #inFlight: Promise<void> | null = null;
  #fetches = 0;

  /** @param options the issuer and limits */
  constructor(options: JwksSourceOptions) {
    this.#issuer = options.issuer;
    this.#issuerOrigin = new URL(options.issuer).origin;
    this.#jwksUrl = options.jwksUrl === undefined ? null : new URL(options.jwksUrl);
    this.#minRefetchMs = options.minRefetchMs ?? 30_000;
    this.#maxAgeMs = options.maxAgeMs ?? 10 * 60_000;
    this.#timeoutMs = options.fetchTimeoutMs ?? 5_000;
    this.#now = options.now ?? (() => performance.now());
  }

  /** How many key-set refreshes were started (metadata and JWKS count as one). */
  get fetches(): number {
    return this.#fetches;
  }

  /**
   * The current key resolver, fetching first when there is none or it is
   * stale (and the rate limit allows).
   *
   * @throws {KeySourceUnavailable} when no key set could ever be fetched
   */
  async keys(): Promise<KeyResolver> {
    const stale = this.#now() - this.#fetchedAt > this.#maxAgeMs;
    if (this.#keys === null || stale) await this.refresh().catch(() => {});
    if (this.#keys === null) throw new KeySourceUnavailable("Issuer keys unavailable");
    return this.#keys;
  }

  /**
   * Fetch the key set again, unless a fetch is in flight (then wait for it)
   * or the last one started less than `minRefetchMs` ago (then do nothing).
   *
   * @returns whether a fetch was started or joined
   */
  refresh(): Promise<boolean> {
    if (this.#inFlight !== null) return this.#inFlight.then(() => true, () => true);
    if (this.#now() - this.#fetchedAt < this.#minRefetchMs) return Promise.resolve(false);
    this.#fetchedAt = this.#now(); // counts even when it fails: a dead issuer is not hammered
    this.#fetches++;
    const run = this.#load().finally(() => this.#inFlight = null);
    this.#inFlight = run;
    return run.then(() => true);
  }

  async #load(): Promise<void> {
    const jwksUrl = this.#jwksUrl ?? await this.#discover();
    this.#jwksUrl = jwksUrl;
    const jwks = await this.#getJson(jwksUrl) as JSONWebKeySet;
    if (jwks === null || typeof jwks !== "object" || !Array.isArray(jwks.keys)) {
      throw new KeySourceUnavailable(`JWKS at ${jwksUrl.href} has no "keys" array`);
    }
    this.#keys = createLocalJWKSet(jwks);
  }

  /** The `jwks_uri` of the issuer's metadata (RFC 8414, then OpenID Connect). */
  async #discover(): Promise<URL> {
    let lastError: unknown = null;
    for (const url of metadataUrls(this.#issuer)) {
      let doc: Record<string, unknown>;
      try {
        doc = await this.#getJson(url) as Record<string, unknown>;
      } catch (error) {
        lastError = error;
        continue;
      }
      if (doc?.issuer !== this.#issuer) {
        throw new KeySourceUnavailable(`Metadata at ${url.href} names another issuer`);
      }
      if (typeof doc.jwks_uri !== "string" || !URL.canParse(doc.jwks_uri)) {
        throw new KeySourceUnavailable(`Metadata at ${url.href} has no valid "jwks_uri"`);
      }
      const jwksUrl = new URL(doc.jwks_uri);
      if (jwksUrl.origin !== this.#issuerOrigin || !isSecureOrLoopback(jwksUrl)) {
        throw new KeySourceUnavailable(
          `Metadata at ${url.href}: "jwks_uri" must be on the issuer's origin ` +
            `${this.#issuerOrigin} (or pass --jwks-url)`,
        );
      }
      return jwksUrl;
    }
    throw lastError ?? new KeySourceUnavailable("No issuer metadata");
  }

  /** GET a JSON document: no redirects, bounded in time and size. */
  async #getJson(url: URL): Promise<unknown> {
    if (!isSecureOrLoopback(url)) {
      throw new KeySourceUnavailable(`Refusing to fetch ${url.href}: https required`);
    }
    const signal = AbortSignal.timeout(this.#timeoutMs);
    const res = await fetch(url, {
      redirect: "manual",
      signal,
      headers: { accept: "application/json" },
    }).catch(() => {
      throw new KeySourceUnavailable(`Fetching ${url.href} failed`);
    });
    if (res.status !== 200 || res.body === null) {
      await res.body?.cancel();
      throw new KeySourceUnavailable(`Fetching ${url.href}: HTTP ${res.status}`);
    }
    const chunks: Uint8Array[] = [];
    let size = 0;
    try {
      for await (const chunk of res.body) {
        size += chunk.byteLength;
        if (size > MAX_DOCUMENT_BYTES) {
          throw new KeySourceUnavailable(`${url.href} is over ${MAX_DOCUMENT_BYTES} bytes`);
        }
        chunks.push(chunk);
      }
      return JSON.parse(new TextDecoder().decode(concat(chunks, size)));
    } catch (error) {
      if (error instanceof KeySourceUnavailable) throw error;
      throw new KeySourceUnavailable(`${url.href} is not a JSON document`);
    }
  }
}

function concat(chunks: Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}
