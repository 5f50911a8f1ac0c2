/**
 * A lean HTTP/1.1 client for upstream requests.
 *
 * Why not `fetch`: on this runtime a `fetch` of a small JSON body costs about
 * 100 µs of CPU (request and header objects, WebIDL conversions, streams); the
 * same exchange over a kept-alive socket costs about 15 µs. Bridges need only
 * a small part of HTTP: one request, one response read whole within a cap,
 * redirects handled by the caller. So this client speaks exactly that, and
 * refuses whatever it does not understand instead of guessing.
 *
 * What it does:
 * - HTTP/1.1 over TCP (`http:`) or TLS (`https:`, certificates verified by the
 *   runtime's root store, ALPN `http/1.1`);
 * - connections kept alive per origin and reused one request at a time; a
 *   request that is not idempotent (POST, PATCH) always gets a fresh
 *   connection, and an idempotent one is retried once on a fresh connection
 *   when a reused connection closes before any byte of the answer arrives;
 * - a connection is pooled only when its answer ended exactly where its
 *   framing said, and an idle one keeps a read pending: bytes that arrive
 *   while it is idle (a late answer, a body sent after a HEAD answer) close
 *   it, so one call's answer never becomes the next call's (HTTP/1.1 has no
 *   request ids; being out of step is the whole attack);
 * - responses framed by `Content-Length`, `Transfer-Encoding: chunked` or the
 *   end of the connection (RFC 9112 section 6.3), with limits on the header
 *   section, the number of header and trailer fields and chunk lines;
 * - bodies capped twice: encoded bytes on the wire (every byte after the
 *   header section, chunk framing and trailers included), and decoded bytes
 *   after `gzip`, `deflate` or `br` (a decoder stops at the cap, so a
 *   decompression bomb costs at most the cap in memory); a body is read into
 *   one buffer that doubles up to the cap, whatever the number of chunks;
 * - cancellation: aborting the request's signal closes its connection, which
 *   ends any read in progress.
 *
 * What it refuses (as an error, never silently): a malformed status line,
 * header or trailer field, an obsolete folded field, a `Content-Length` that
 * is not one field with one number, both `Content-Length` and
 * `Transfer-Encoding`, a transfer coding other than `chunked`, a chunk line
 * outside its grammar (whitespace, bare CR or LF, junk, more than 12
 * significant hex digits), an unknown content coding, a `101 Switching
 * Protocols`. It accepts nothing that llhttp (Node's and undici's parser)
 * refuses: `src/net/http1/client_diff_test.ts` checks that on generated responses and
 * lists where this client is stricter.
 *
 * Unlike `fetch`, it does not read `HTTP_PROXY`/`HTTPS_PROXY` from the
 * environment: a bridge talks to its configured origin directly.
 *
 * The pieces: `parser.ts` (the wire format), `pool.ts` (connections and the
 * pool), this module (requests, retries, responses).
 *
 * @module
 */

import {
  BodyLimitError,
  ConnectionClosedError,
  decodeContent,
  type Head,
  ProtocolError,
  readFramed,
  readHead,
  type RequestHead,
  serializeRequest,
} from "./parser.ts";
import { type Connection, type ConnectionPin, ConnectionPool, type PoolOptions } from "./pool.ts";

export { BodyLimitError, ConnectionClosedError, type ConnectionPin, ProtocolError };

/** A request as an upstream call sends it. */
export interface ClientRequest extends RequestHead {
  /** Aborting it closes the connection and ends the exchange. */
  signal: AbortSignal;
  /**
   * The addresses a destination check approved for the URL's host. Without
   * it, a new connection resolves the name itself.
   */
  pin?: ConnectionPin;
}

/** A response whose header section has been read. */
export interface ClientResponse {
  readonly status: number;
  /**
   * A header's value; repeated fields joined with ", ".
   *
   * @param name the field name, lower case
   */
  header(name: string): string | null;
  /**
   * Read the whole body, decoded per `Content-Encoding`.
   *
   * @param max cap on encoded and on decoded bytes
   * @returns the decoded bytes
   * @throws {BodyLimitError} past the cap (the connection is closed)
   */
  read(max: number): Promise<Uint8Array>;
  /** Give up the body: closes the connection unless the body was read. */
  discard(): void;
}

/** Options of {@linkcode HttpClient}: the pool's limits. */
export type HttpClientOptions = PoolOptions;

const IDEMPOTENT: ReadonlySet<string> = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE"]);

/**
 * A pool of HTTP/1.1 connections. One per agent (or per process); close it
 * when done so no socket outlives its owner.
 */
export class HttpClient {
  readonly #pool: ConnectionPool;

  /** @param options pooling limits */
  constructor(options: HttpClientOptions = {}) {
    this.#pool = new ConnectionPool(options);
  }

  /** Connections open now, idle and busy. */
  get openConnections(): number {
    return this.#pool.openConnections;
  }

  /**
   * Send a request and read the response's header section.
   *
   * @param req method, URL, headers, body and signal
   * @returns the response; read or discard its body
   * @throws {ProtocolError} on a response that breaks HTTP/1.1 framing
   * @throws {Error} the runtime's connection errors (refused, reset, TLS)
   */
  async request(req: ClientRequest): Promise<ClientResponse> {
    if (this.#pool.closed) throw new TypeError("Cannot send request: the HTTP client is closed");
    if (req.url.protocol !== "http:" && req.url.protocol !== "https:") {
      throw new TypeError(`Cannot send request: unsupported scheme "${req.url.protocol}"`);
    }
    req.signal.throwIfAborted();
    const head = serializeRequest(req);
    const idempotent = IDEMPOTENT.has(req.method);
    for (let attempt = 0;; attempt++) {
      const reused = attempt === 0 && idempotent ? this.#pool.checkout(req.url.origin) : null;
      const conn = reused ?? await this.#pool.connect(req.url, req.signal, req.pin);
      conn.uses++;
      const receivedBefore = conn.received;
      const onAbort = () => conn.close();
      req.signal.addEventListener("abort", onAbort, { once: true });
      try {
        await conn.write(head);
        const response = await readHead(conn, req.method);
        return new Response1(this.#pool, conn, response, req.signal, onAbort);
      } catch (error) {
        req.signal.removeEventListener("abort", onAbort);
        this.#pool.drop(conn);
        // A kept-alive connection the server closed meanwhile: nothing was
        // answered, so an idempotent request is safe to send once more.
        if (reused !== null && conn.received === receivedBefore && !req.signal.aborted) continue;
        throw error;
      }
    }
  }

  /** Close every connection; later requests throw. */
  close(): void {
    this.#pool.close();
  }
}

class Response1 implements ClientResponse {
  readonly status: number;
  readonly #pool: ConnectionPool;
  readonly #conn: Connection;
  readonly #head: Head;
  readonly #signal: AbortSignal;
  readonly #onAbort: () => void;
  #done = false;

  constructor(
    pool: ConnectionPool,
    conn: Connection,
    head: Head,
    signal: AbortSignal,
    onAbort: () => void,
  ) {
    this.#pool = pool;
    this.#conn = conn;
    this.#head = head;
    this.#signal = signal;
    this.#onAbort = onAbort;
    this.status = head.status;
    if (head.framing.kind === "none") this.#finish(head.reusable);
  }

  header(name: string): string | null {
    return this.#head.fields.get(name) ?? null;
  }

  async read(max: number): Promise<Uint8Array> {
    if (this.#done && this.#head.framing.kind !== "none") {
      throw new TypeError("Cannot read response: its body was already read or discarded");
    }
    let wire: Uint8Array;
    try {
      wire = await readFramed(this.#conn, this.#head, max);
    } catch (error) {
      this.#finish(false);
      throw error;
    }
    this.#finish(this.#head.reusable);
    // An empty body has nothing to decode (a HEAD answer, a 204).
    if (wire.length === 0) return wire;
    return decodeContent(wire, this.#head.fields.get("content-encoding") ?? null, max);
  }

  discard(): void {
    this.#finish(false);
  }

  #finish(reusable: boolean): void {
    if (this.#done) return;
    this.#done = true;
    this.#signal.removeEventListener("abort", this.#onAbort);
    this.#pool.release(this.#conn, reusable && !this.#signal.aborted);
  }
}
