/**
 * A lean HTTP/1.1 client for bridge requests.
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
 * - responses framed by `Content-Length`, `Transfer-Encoding: chunked` or the
 *   end of the connection (RFC 9112 section 6.3), with limits on the header
 *   section, the number of header fields and chunk lines;
 * - bodies capped twice: encoded bytes on the wire, and decoded bytes after
 *   `gzip`, `deflate` or `br` (a decoder stops at the cap, so a decompression
 *   bomb costs at most the cap in memory);
 * - cancellation: aborting the request's signal closes its connection, which
 *   ends any read in progress.
 *
 * What it refuses (as an error, never silently): a malformed status line or
 * header field, an obsolete folded header, conflicting `Content-Length`
 * values, a transfer coding other than `chunked`, an unknown content coding,
 * a `101 Switching Protocols`.
 *
 * Unlike `fetch`, it does not read `HTTP_PROXY`/`HTTPS_PROXY` from the
 * environment: a bridge talks to its configured origin directly.
 *
 * @module
 */

import { brotliDecompressSync, gunzipSync, inflateSync } from "node:zlib";
import type { HttpMethod } from "../config/mod.ts";
import { MANAGED_HEADERS as MANAGED } from "../_util/http_headers.ts";

/** A request as the bridge sends it. */
export interface ClientRequest {
  method: HttpMethod;
  url: URL;
  headers: Headers;
  /** The body text (sent as UTF-8), or null for none. */
  body: string | null;
  /** Aborting it closes the connection and ends the exchange. */
  signal: AbortSignal;
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

/** Options of {@linkcode HttpClient}. */
export interface HttpClientOptions {
  /** Keep connections alive between requests. Default true. */
  keepAlive?: boolean;
  /** Idle connections kept per origin. Default 32. */
  maxIdlePerOrigin?: number;
  /** An idle connection older than this is not reused. Default 4000 ms. */
  idleTimeoutMs?: number;
  /** Extra PEM root certificates for `https:` (tests). */
  caCerts?: string[];
}

/** The body went past the cap given to {@linkcode ClientResponse.read}. */
export class BodyLimitError extends Error {
  /** @param max the cap */
  constructor(max: number) {
    super(`Response body exceeds ${max} bytes`);
    this.name = "BodyLimitError";
  }
}

/** The upstream closed the connection before the exchange was complete. */
export class ConnectionClosedError extends Error {
  /** @param message when it closed */
  constructor(message: string) {
    super(message);
    this.name = "ConnectionClosedError";
  }
}

/** The upstream broke HTTP framing; the message says how. */
export class ProtocolError extends Error {
  /** @param message what was wrong */
  constructor(message: string) {
    super(message);
    this.name = "ProtocolError";
  }
}

const MAX_HEADER_BYTES = 64 * 1024;
const MAX_HEADER_FIELDS = 128;
const MAX_CHUNK_LINE = 4096;
const MAX_INFORMATIONAL = 8;
const READ_SIZE = 16 * 1024;
const IDEMPOTENT: ReadonlySet<string> = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE"]);
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const STATUS_LINE = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: [^\r\n]*)?$/;
const ENCODER = new TextEncoder();
const CR = 13;
const LF = 10;

/** One socket and what has been read from it but not consumed. */
class Connection {
  readonly origin: string;
  readonly #conn: Deno.Conn;
  #buf = new Uint8Array(READ_SIZE);
  #start = 0;
  #end = 0;
  /**
   * Where the next search for a line end resumes, and for which terminator
   * length: a header section trickled in byte by byte is scanned once, not
   * once per byte.
   */
  #scan = 0;
  #scanNeed = 0;
  #closed = false;
  /** Bytes ever received; 0 means the peer has not answered yet. */
  received = 0;
  /** Requests this connection has carried. */
  uses = 0;
  idleSince = 0;

  constructor(origin: string, conn: Deno.Conn) {
    this.origin = origin;
    this.#conn = conn;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Bytes read and not yet consumed. */
  get buffered(): number {
    return this.#end - this.#start;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // Already closed by the peer or the runtime.
    }
  }

  async write(bytes: Uint8Array): Promise<void> {
    let done = 0;
    while (done < bytes.length) {
      done += await this.#conn.write(done === 0 ? bytes : bytes.subarray(done));
    }
  }

  /** Read more bytes into the buffer; false at the end of the stream. */
  async fill(): Promise<boolean> {
    if (this.#start > 0 && this.#start === this.#end) {
      this.#start = 0;
      this.#end = 0;
      this.#scan = 0;
    }
    if (this.#end === this.#buf.length) {
      if (this.#start > 0) {
        this.#buf.copyWithin(0, this.#start, this.#end);
        this.#end -= this.#start;
        this.#scan -= this.#start;
        this.#start = 0;
      } else {
        const grown = new Uint8Array(this.#buf.length * 2);
        grown.set(this.#buf);
        this.#buf = grown;
      }
    }
    const n = await this.#conn.read(this.#buf.subarray(this.#end));
    if (n === null) return false;
    this.#end += n;
    this.received += n;
    return true;
  }

  /**
   * Take the bytes up to and including the first `\r\n\r\n` (the first
   * `\r\n` unless `blank`), or null when it has not arrived yet. Throws past
   * `limit` bytes.
   */
  takeUntil(blank: boolean, limit: number, what: string): Uint8Array | null {
    const buf = this.#buf;
    const need = blank ? 4 : 2;
    const from = this.#scanNeed === need ? Math.max(this.#start, this.#scan) : this.#start;
    for (let i = from; i + need <= this.#end; i++) {
      if (
        buf[i] === CR && buf[i + 1] === LF &&
        (!blank || (buf[i + 2] === CR && buf[i + 3] === LF))
      ) {
        const out = buf.subarray(this.#start, i + need);
        if (out.length > limit) throw new ProtocolError(`Upstream ${what} is too long`);
        this.#start = i + need;
        this.#scan = this.#start;
        return out;
      }
    }
    if (this.#end - this.#start > limit) throw new ProtocolError(`Upstream ${what} is too long`);
    // No terminator starts before here; the last need-1 bytes may begin one.
    this.#scan = Math.max(this.#start, this.#end - need + 1);
    this.#scanNeed = need;
    return null;
  }

  /** Consume up to `n` buffered bytes (a view valid until the next fill). */
  take(n: number): Uint8Array {
    const k = Math.min(n, this.#end - this.#start);
    const out = this.#buf.subarray(this.#start, this.#start + k);
    this.#start += k;
    if (this.#scan < this.#start) this.#scan = this.#start;
    return out;
  }
}

type Framing =
  | { kind: "none" }
  | { kind: "length"; length: number }
  | { kind: "chunked" }
  | { kind: "close" };

/**
 * A pool of HTTP/1.1 connections. One per agent (or per process); close it
 * when done so no socket outlives its owner.
 */
export class HttpClient {
  readonly #keepAlive: boolean;
  readonly #maxIdle: number;
  readonly #idleTimeoutMs: number;
  readonly #caCerts: string[] | undefined;
  readonly #idle = new Map<string, Connection[]>();
  readonly #busy = new Set<Connection>();
  #closed = false;

  /** @param options pooling limits */
  constructor(options: HttpClientOptions = {}) {
    this.#keepAlive = options.keepAlive ?? true;
    this.#maxIdle = options.maxIdlePerOrigin ?? 32;
    this.#idleTimeoutMs = options.idleTimeoutMs ?? 4000;
    this.#caCerts = options.caCerts;
  }

  /** Connections open now, idle and busy. */
  get openConnections(): number {
    let n = this.#busy.size;
    for (const list of this.#idle.values()) n += list.length;
    return n;
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
    if (this.#closed) throw new TypeError("Cannot send request: the HTTP client is closed");
    if (req.url.protocol !== "http:" && req.url.protocol !== "https:") {
      throw new TypeError(`Cannot send request: unsupported scheme "${req.url.protocol}"`);
    }
    req.signal.throwIfAborted();
    const head = serializeRequest(req);
    const idempotent = IDEMPOTENT.has(req.method);
    for (let attempt = 0;; attempt++) {
      const reused = attempt === 0 && idempotent ? this.#checkout(req.url.origin) : null;
      const conn = reused ?? await this.#connect(req.url, req.signal);
      this.#busy.add(conn);
      conn.uses++;
      const receivedBefore = conn.received;
      const onAbort = () => conn.close();
      req.signal.addEventListener("abort", onAbort, { once: true });
      try {
        await conn.write(head);
        const response = await readHead(conn, req.method);
        return new Response1(this, conn, response, req.signal, onAbort);
      } catch (error) {
        req.signal.removeEventListener("abort", onAbort);
        this.#busy.delete(conn);
        conn.close();
        // A kept-alive connection the server closed meanwhile: nothing was
        // answered, so an idempotent request is safe to send once more.
        if (reused !== null && conn.received === receivedBefore && !req.signal.aborted) continue;
        throw error;
      }
    }
  }

  /** Close every connection; later requests throw. */
  close(): void {
    this.#closed = true;
    for (const list of this.#idle.values()) for (const conn of list) conn.close();
    this.#idle.clear();
    for (const conn of this.#busy) conn.close();
    this.#busy.clear();
  }

  /** Called by a response when its exchange is over. */
  release(conn: Connection, reusable: boolean): void {
    this.#busy.delete(conn);
    if (!reusable || !this.#keepAlive || this.#closed || conn.closed || conn.buffered > 0) {
      conn.close();
      return;
    }
    let list = this.#idle.get(conn.origin);
    if (list === undefined) this.#idle.set(conn.origin, list = []);
    const now = performance.now();
    // The oldest idle connections are at the front: drop those past the idle
    // timeout, so no more than the busiest burst's worth stay half-closed.
    let expired = 0;
    while (expired < list.length && now - list[expired].idleSince > this.#idleTimeoutMs) {
      list[expired++].close();
    }
    if (expired > 0) list.splice(0, expired);
    if (list.length >= this.#maxIdle) {
      conn.close();
      return;
    }
    conn.idleSince = now;
    list.push(conn);
  }

  #checkout(origin: string): Connection | null {
    const list = this.#idle.get(origin);
    if (list === undefined) return null;
    const now = performance.now();
    while (list.length > 0) {
      const conn = list.pop()!;
      if (now - conn.idleSince <= this.#idleTimeoutMs && !conn.closed) return conn;
      conn.close();
    }
    return null;
  }

  async #connect(url: URL, signal: AbortSignal): Promise<Connection> {
    const hostname = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
    const tls = url.protocol === "https:";
    const port = url.port === "" ? (tls ? 443 : 80) : Number(url.port);
    signal.throwIfAborted();
    const connecting: Promise<Deno.Conn> = tls
      ? Deno.connectTls({ hostname, port, caCerts: this.#caCerts, alpnProtocols: ["http/1.1"] })
      : Deno.connect({ hostname, port });
    // A connect cannot be interrupted: an abort ends the wait at once, and the
    // socket is closed as soon as it exists.
    const conn = await new Promise<Deno.Conn>((resolve, reject) => {
      const onAbort = () => reject(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
      connecting.then((c) => {
        signal.removeEventListener("abort", onAbort);
        if (signal.aborted) {
          c.close();
          reject(signal.reason);
        } else {
          resolve(c);
        }
      }, (error) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      });
    });
    if (!tls) (conn as Deno.TcpConn).setNoDelay(true);
    return new Connection(url.origin, conn);
  }
}

interface Head {
  status: number;
  fields: Map<string, string>;
  framing: Framing;
  reusable: boolean;
}

class Response1 implements ClientResponse {
  readonly status: number;
  readonly #client: HttpClient;
  readonly #conn: Connection;
  readonly #head: Head;
  readonly #signal: AbortSignal;
  readonly #onAbort: () => void;
  #done = false;

  constructor(
    client: HttpClient,
    conn: Connection,
    head: Head,
    signal: AbortSignal,
    onAbort: () => void,
  ) {
    this.#client = client;
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
      wire = await readFramed(this.#conn, this.#head.framing, max);
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
    this.#client.release(this.#conn, reusable && !this.#signal.aborted);
  }
}

function serializeRequest(req: ClientRequest): Uint8Array {
  const body = req.body === null ? null : ENCODER.encode(req.body);
  let head =
    `${req.method} ${req.url.pathname}${req.url.search} HTTP/1.1\r\nhost: ${req.url.host}\r\n`;
  let hasUserAgent = false;
  let hasAcceptEncoding = false;
  for (const [name, value] of req.headers) {
    if (MANAGED.has(name)) continue;
    if (name === "user-agent") hasUserAgent = true;
    if (name === "accept-encoding") hasAcceptEncoding = true;
    head += `${name}: ${value}\r\n`;
  }
  if (!hasUserAgent) head += "user-agent: LOOM\r\n";
  if (!hasAcceptEncoding) head += "accept-encoding: gzip, br\r\n";
  if (body !== null) head += `content-length: ${body.length}\r\n`;
  else if (req.method === "POST" || req.method === "PUT" || req.method === "PATCH") {
    head += "content-length: 0\r\n";
  }
  head += "\r\n";
  const headBytes = ENCODER.encode(head);
  if (body === null || body.length === 0) return headBytes;
  const all = new Uint8Array(headBytes.length + body.length);
  all.set(headBytes);
  all.set(body, headBytes.length);
  return all;
}

async function readHead(conn: Connection, method: HttpMethod): Promise<Head> {
  for (let informational = 0;; informational++) {
    let section = conn.takeUntil(true, MAX_HEADER_BYTES, "header section");
    while (section === null) {
      if (!(await conn.fill())) {
        throw new ConnectionClosedError("Upstream closed the connection before the response");
      }
      section = conn.takeUntil(true, MAX_HEADER_BYTES, "header section");
    }
    const head = parseHead(section, method);
    if (head.status >= 200) return head;
    if (head.status === 101) throw new ProtocolError("Upstream switched protocols");
    if (informational >= MAX_INFORMATIONAL) {
      throw new ProtocolError("Upstream sent too many informational responses");
    }
  }
}

function latin1(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    out += String.fromCharCode(...bytes.subarray(i, Math.min(bytes.length, i + 8192)));
  }
  return out;
}

function parseHead(section: Uint8Array, method: HttpMethod): Head {
  const lines = latin1(section.subarray(0, section.length - 4)).split("\r\n");
  const statusLine = STATUS_LINE.exec(lines[0]);
  if (statusLine === null) throw new ProtocolError("Upstream sent a malformed status line");
  const minor = statusLine[1];
  const status = Number(statusLine[2]);
  if (lines.length - 1 > MAX_HEADER_FIELDS) {
    throw new ProtocolError(`Upstream sent more than ${MAX_HEADER_FIELDS} header fields`);
  }
  const fields = new Map<string, string>();
  let lengths: string[] | null = null;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    if (line.charCodeAt(0) === 32 || line.charCodeAt(0) === 9) {
      throw new ProtocolError("Upstream sent an obsolete folded header field");
    }
    const colon = line.indexOf(":");
    const name = colon > 0 ? line.slice(0, colon).toLowerCase() : "";
    const value = line.slice(colon + 1).replace(/^[\t ]+|[\t ]+$/g, "");
    if (!TOKEN.test(name) || !FIELD_VALUE.test(value)) {
      throw new ProtocolError("Upstream sent a malformed header field");
    }
    if (name === "content-length") (lengths ??= []).push(...value.split(","));
    const seen = fields.get(name);
    fields.set(name, seen === undefined ? value : `${seen}, ${value}`);
  }
  const connection = (fields.get("connection") ?? "").toLowerCase();
  let reusable = minor === "1" && !/(^|,)\s*close\s*(,|$)/.test(connection);
  let framing: Framing;
  const te = fields.get("transfer-encoding");
  if (status < 200 || status === 204 || status === 304 || method === "HEAD") {
    framing = { kind: "none" };
  } else if (te !== undefined) {
    if (te.trim().toLowerCase() !== "chunked") {
      throw new ProtocolError("Upstream used a transfer coding other than chunked");
    }
    framing = { kind: "chunked" };
    // Both framings at once is how requests get smuggled: use chunked, then close.
    if (lengths !== null) reusable = false;
  } else if (lengths !== null) {
    const values = new Set(lengths.map((v) => v.trim()));
    const [only] = values;
    if (values.size !== 1 || !/^\d{1,15}$/.test(only)) {
      throw new ProtocolError("Upstream sent an invalid Content-Length");
    }
    framing = { kind: "length", length: Number(only) };
  } else {
    framing = { kind: "close" };
    reusable = false;
  }
  return { status, fields, framing, reusable };
}

async function readFramed(conn: Connection, framing: Framing, max: number): Promise<Uint8Array> {
  switch (framing.kind) {
    case "none":
      return new Uint8Array(0);
    case "length":
      if (framing.length > max) throw new BodyLimitError(max);
      return await readLength(conn, framing.length);
    case "chunked":
      return await readChunked(conn, max);
    case "close":
      return await readToEnd(conn, max);
  }
}

async function readLength(conn: Connection, length: number): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  let got = 0;
  while (got < length) {
    if (conn.buffered === 0 && !(await conn.fill())) {
      throw new ConnectionClosedError("Upstream closed the connection before the body ended");
    }
    const part = conn.take(length - got);
    out.set(part, got);
    got += part.length;
  }
  return out;
}

async function readToEnd(conn: Connection, max: number): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    if (conn.buffered === 0 && !(await conn.fill())) break;
    const part = conn.take(conn.buffered);
    total += part.length;
    if (total > max) throw new BodyLimitError(max);
    parts.push(part.slice());
  }
  return concat(parts, total);
}

async function readChunked(conn: Connection, max: number): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const line = await readLine(conn, "chunk size line");
    const size = parseChunkSize(line);
    if (size === 0) break;
    if (total + size > max) throw new BodyLimitError(max);
    parts.push(await readLength(conn, size));
    total += size;
    const end = await readLine(conn, "chunk");
    if (end.length !== 2) throw new ProtocolError("Upstream sent a malformed chunk");
  }
  // Trailer fields, then the empty line.
  let trailerBytes = 0;
  for (;;) {
    const line = await readLine(conn, "trailer section");
    if (line.length === 2) break;
    trailerBytes += line.length;
    if (trailerBytes > MAX_HEADER_BYTES) {
      throw new ProtocolError("Upstream trailer section is too long");
    }
  }
  return concat(parts, total);
}

async function readLine(conn: Connection, what: string): Promise<Uint8Array> {
  for (;;) {
    const line = conn.takeUntil(false, MAX_CHUNK_LINE, what);
    if (line !== null) return line;
    if (!(await conn.fill())) {
      throw new ConnectionClosedError("Upstream closed the connection before the body ended");
    }
  }
}

function parseChunkSize(line: Uint8Array): number {
  let size = 0;
  let digits = 0;
  for (let i = 0; i < line.length - 2; i++) {
    const c = line[i];
    const v = c >= 48 && c <= 57
      ? c - 48
      : c >= 97 && c <= 102
      ? c - 87
      : c >= 65 && c <= 70
      ? c - 55
      : -1;
    if (v < 0) {
      // Chunk extensions (`;name=value`) and whitespace before them are ignored.
      if (digits > 0 && (c === 59 || c === 32 || c === 9)) break;
      throw new ProtocolError("Upstream sent a malformed chunk size");
    }
    if (++digits > 12) throw new ProtocolError("Upstream sent a chunk size too large");
    size = size * 16 + v;
  }
  if (digits === 0) throw new ProtocolError("Upstream sent a malformed chunk size");
  return size;
}

function concat(parts: Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Undo the content codings, last applied first, stopping past `max` bytes. */
function decodeContent(body: Uint8Array, encoding: string | null, max: number): Uint8Array {
  if (encoding === null) return body;
  const codings = encoding.split(",").map((c) => c.trim().toLowerCase()).filter((c) =>
    c !== "" && c !== "identity"
  );
  if (codings.length > 2) throw new ProtocolError("Upstream applied too many content codings");
  let out = body;
  for (let i = codings.length - 1; i >= 0; i--) {
    const coding = codings[i];
    const options = { maxOutputLength: max + 1 };
    let decoded: Uint8Array;
    try {
      if (coding === "gzip" || coding === "x-gzip") decoded = gunzipSync(out, options);
      else if (coding === "deflate") decoded = inflateSync(out, options);
      else if (coding === "br") decoded = brotliDecompressSync(out, options);
      else throw new ProtocolError(`Upstream used an unsupported content coding`);
    } catch (error) {
      if (error instanceof RangeError) throw new BodyLimitError(max);
      if (error instanceof ProtocolError) throw error;
      throw new ProtocolError("Upstream sent a body that does not decompress");
    }
    if (decoded.length > max) throw new BodyLimitError(max);
    out = decoded;
  }
  return out;
}
