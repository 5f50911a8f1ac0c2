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
 * @module
 */

import { brotliDecompressSync, gunzipSync, inflateSync } from "node:zlib";
import { MANAGED_HEADERS as MANAGED } from "../../_util/http_headers.ts";

/** A request as the bridge sends it. */
export interface ClientRequest {
  /** The request method, upper case (`GET`, `POST`...). */
  method: string;
  url: URL;
  headers: Headers;
  /** The body text (sent as UTF-8), or null for none. */
  body: string | null;
  /** Aborting it closes the connection and ends the exchange. */
  signal: AbortSignal;
  /**
   * The addresses a destination check approved for the URL's host. Without
   * it, a new connection resolves the name itself.
   */
  pin?: ConnectionPin;
}

/**
 * Where a request's new connection may go. It is opened to one of
 * `addresses` directly when the runtime's permissions allow the host name
 * and that address, else to the host name (a sandbox that allows only
 * names); either way the
 * socket's remote address goes to `admit` before a byte is written (TLS
 * handshake included), and TLS is verified against the host name.
 */
export interface ConnectionPin {
  /** The checked addresses, in the order to try. */
  addresses: readonly string[];
  /**
   * Called with the connected socket's remote address; throws to refuse it
   * (the socket is then closed and the error is the request's).
   */
  admit(remote: string): void;
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
/** A body buffer starts this large (or at the cap) and doubles as it fills. */
const FIRST_BODY_BUFFER = 4096;
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
  /**
   * The read started when the connection went idle, and whether it is idle
   * now (see {@linkcode Connection.park}).
   */
  #parked: Promise<number | null> | null = null;
  #idle = false;
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

  /**
   * Go idle with a read pending. Between exchanges an HTTP/1.1 server has
   * nothing to send, so that read settling while the connection is idle
   * (bytes, the end of the stream, an error) means the connection is out of
   * step, e.g. a late answer or the body of a HEAD answer: it is closed and
   * never reused. Otherwise the same read becomes the first read of the next
   * exchange, so watching costs no extra read. The socket is unref'd while
   * idle: a parked read does not keep the process alive.
   */
  park(): void {
    // Only a connection with nothing buffered is parked: read from the start.
    this.#start = 0;
    this.#end = 0;
    this.#scan = 0;
    this.#idle = true;
    this.#conn.unref();
    const parked = this.#conn.read(this.#buf);
    this.#parked = parked;
    parked.then(this.#settledWhileIdle, this.#settledWhileIdle);
  }

  readonly #settledWhileIdle = (): void => {
    if (this.#idle) this.close();
  };

  /** Leave the pool for an exchange; a read parked until now stays pending. */
  unpark(): void {
    this.#idle = false;
    this.#conn.ref();
  }

  async write(bytes: Uint8Array): Promise<void> {
    let done = 0;
    while (done < bytes.length) {
      done += await this.#conn.write(done === 0 ? bytes : bytes.subarray(done));
    }
  }

  /** Read more bytes into the buffer; false at the end of the stream. */
  async fill(): Promise<boolean> {
    const parked = this.#parked;
    if (parked !== null) {
      // Parked on an empty buffer: it reads into the buffer from the start.
      this.#parked = null;
      const n = await parked;
      if (n === null) return false;
      this.#end += n;
      this.received += n;
      return true;
    }
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
    const end = this.findEnd(blank, limit, what);
    if (end < 0) return null;
    const out = this.#buf.subarray(this.#start, end);
    this.#start = end;
    this.#scan = end;
    return out;
  }

  /**
   * Where the bytes up to and including the first `\r\n\r\n` (the first
   * `\r\n` unless `blank`) end in {@linkcode Connection.bytes}, or -1 when it
   * has not arrived yet; nothing is consumed. Throws past `limit` bytes.
   */
  findEnd(blank: boolean, limit: number, what: string): number {
    const buf = this.#buf;
    const need = blank ? 4 : 2;
    const from = this.#scanNeed === need ? Math.max(this.#start, this.#scan) : this.#start;
    for (let i = from; i + need <= this.#end; i++) {
      if (
        buf[i] === CR && buf[i + 1] === LF &&
        (!blank || (buf[i + 2] === CR && buf[i + 3] === LF))
      ) {
        if (i + need - this.#start > limit) throw new ProtocolError(`Upstream ${what} is too long`);
        return i + need;
      }
    }
    if (this.#end - this.#start > limit) throw new ProtocolError(`Upstream ${what} is too long`);
    // No terminator starts before here; the last need-1 bytes may begin one.
    this.#scan = Math.max(this.#start, this.#end - need + 1);
    this.#scanNeed = need;
    return -1;
  }

  /** The read buffer; valid until the next fill. */
  get bytes(): Uint8Array {
    return this.#buf;
  }

  /** Where the unconsumed bytes start in {@linkcode Connection.bytes}. */
  get offset(): number {
    return this.#start;
  }

  /** Consume buffered bytes up to index `end` of {@linkcode Connection.bytes}. */
  skipTo(end: number): void {
    this.#start = end;
    if (this.#scan < end) this.#scan = end;
  }

  /** Move up to `n` buffered bytes into `out` at `at`; returns how many. */
  moveTo(out: Uint8Array, at: number, n: number): number {
    const from = this.#start;
    const k = Math.min(n, this.#end - from);
    const buf = this.#buf;
    if (k > 16) {
      out.set(buf.subarray(from, from + k), at);
    } else {
      // Tiny chunks: a loop, not a subarray object per chunk.
      for (let i = 0; i < k; i++) out[at + i] = buf[from + i];
    }
    this.skipTo(from + k);
    return k;
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
    // An idle connection closed because bytes arrived stays listed until the
    // next checkout or sweep.
    for (const list of this.#idle.values()) for (const conn of list) if (!conn.closed) n++;
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
      const conn = reused ?? await this.#connect(req.url, req.signal, req.pin);
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
    conn.park();
    list.push(conn);
  }

  #checkout(origin: string): Connection | null {
    const list = this.#idle.get(origin);
    if (list === undefined) return null;
    const now = performance.now();
    while (list.length > 0) {
      const conn = list.pop()!;
      // A connection on which bytes arrived while idle was closed then.
      if (now - conn.idleSince <= this.#idleTimeoutMs && !conn.closed) {
        conn.unpark();
        return conn;
      }
      conn.close();
    }
    return null;
  }

  async #connect(url: URL, signal: AbortSignal, pin?: ConnectionPin): Promise<Connection> {
    const name = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
    const tls = url.protocol === "https:";
    const port = url.port === "" ? (tls ? 443 : 80) : Number(url.port);
    signal.throwIfAborted();
    const alpnProtocols = ["http/1.1"];
    let conn: Deno.Conn;
    if (pin === undefined) {
      conn = await untilAborted<Deno.Conn>(
        tls
          ? Deno.connectTls({ hostname: name, port, caCerts: this.#caCerts, alpnProtocols })
          : Deno.connect({ hostname: name, port }),
        signal,
      );
    } else {
      const tcp = await dialPinned(name, port, pin, signal);
      try {
        pin.admit(tcp.remoteAddr.hostname);
      } catch (error) {
        tcp.close();
        throw error;
      }
      conn = tls
        ? await untilAborted(
          Deno.startTls(tcp, { hostname: name, caCerts: this.#caCerts, alpnProtocols }),
          signal,
        )
        : tcp;
    }
    if (!tls) (conn as Deno.TcpConn).setNoDelay(true);
    return new Connection(url.origin, conn);
  }
}

/**
 * Wait for a connection, or reject as soon as `signal` aborts. A connect
 * cannot be interrupted: the socket is closed as soon as it exists.
 */
function untilAborted<T extends Deno.Conn>(
  connecting: Promise<T>,
  signal: AbortSignal,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
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
}

/** Whether the runtime lets this process connect to `host:port` without asking. */
function mayConnect(host: string, port: number): boolean {
  const target = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
  try {
    return Deno.permissions.querySync({ name: "net", host: target }).state === "granted";
  } catch {
    return false; // a form the permission parser refuses (a zone id): dial the name
  }
}

/**
 * Open TCP to the first checked address that connects, when the runtime
 * grants both the name and that address; else (a sandbox whose `--allow-net`
 * names only the host) to the name, which the caller's `admit` then judges
 * by the remote address. The name must be granted too, so that dialling an
 * address never lets a name through that the permission wall refuses.
 * Addresses are tried one after another, each at most once.
 */
async function dialPinned(
  name: string,
  port: number,
  pin: ConnectionPin,
  signal: AbortSignal,
): Promise<Deno.TcpConn> {
  let failure: unknown = null;
  if (mayConnect(name, port)) {
    for (const address of pin.addresses) {
      if (!mayConnect(address, port)) continue;
      try {
        return await untilAborted(Deno.connect({ hostname: address, port }), signal);
      } catch (error) {
        if (signal.aborted) throw error;
        failure = error;
      }
    }
  }
  if (failure !== null) throw failure;
  return await untilAborted(Deno.connect({ hostname: name, port }), signal);
}

interface Head {
  status: number;
  fields: Map<string, string>;
  framing: Framing;
  reusable: boolean;
  /** Bytes and fields of the header section, which trailer fields add to. */
  sectionBytes: number;
  fieldCount: number;
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

async function readHead(conn: Connection, method: string): Promise<Head> {
  let reusable = true;
  for (let informational = 0;; informational++) {
    let section = conn.takeUntil(true, MAX_HEADER_BYTES, "header section");
    while (section === null) {
      if (!(await conn.fill())) {
        throw new ConnectionClosedError("Upstream closed the connection before the response");
      }
      section = conn.takeUntil(true, MAX_HEADER_BYTES, "header section");
    }
    const head = parseHead(section, method);
    // An informational answer with framing may be followed by a body: then
    // the final answer does not leave the connection reusable either.
    reusable &&= head.reusable;
    if (head.status >= 200) {
      head.reusable &&= reusable;
      return head;
    }
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

function parseHead(section: Uint8Array, method: string): Head {
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
    if (name === "content-length") (lengths ??= []).push(value);
    const seen = fields.get(name);
    fields.set(name, seen === undefined ? value : `${seen}, ${value}`);
  }
  const connection = (fields.get("connection") ?? "").toLowerCase();
  let reusable = minor === "1" && !/(^|,)\s*close\s*(,|$)/.test(connection);
  let framing: Framing;
  const te = fields.get("transfer-encoding");
  // Both framings at once is how responses get smuggled (RFC 9112 section
  // 6.3 says to treat it as an error): refused, as llhttp does. One
  // Content-Length field with one decimal number: a repeated field or a list,
  // even of equal values, is refused (parsers disagree on them). Checked on
  // every answer, also those that carry no body.
  if (lengths !== null) {
    if (te !== undefined) {
      throw new ProtocolError("Upstream sent both Content-Length and Transfer-Encoding");
    }
    if (lengths.length !== 1 || !/^\d{1,15}$/.test(lengths[0])) {
      throw new ProtocolError("Upstream sent an invalid Content-Length");
    }
  }
  if (status < 200 || status === 204 || status === 304 || method === "HEAD") {
    framing = { kind: "none" };
    // No body follows such an answer (RFC 9112 section 6.3), yet some servers
    // send one anyway (a HEAD answered like a GET): one that announces a body
    // never leaves its connection reusable, so stray bytes cannot become the
    // next request's answer.
    if (te !== undefined || lengths !== null) reusable = false;
  } else if (te !== undefined) {
    if (te.trim().toLowerCase() !== "chunked") {
      throw new ProtocolError("Upstream used a transfer coding other than chunked");
    }
    framing = { kind: "chunked" };
  } else if (lengths !== null) {
    framing = { kind: "length", length: Number(lengths[0]) };
  } else {
    framing = { kind: "close" };
    reusable = false;
  }
  return {
    status,
    fields,
    framing,
    reusable,
    sectionBytes: section.length,
    fieldCount: lines.length - 1,
  };
}

async function readFramed(conn: Connection, head: Head, max: number): Promise<Uint8Array> {
  const framing = head.framing;
  switch (framing.kind) {
    case "none":
      return new Uint8Array(0);
    case "length":
      if (framing.length > max) throw new BodyLimitError(max);
      return await readLength(conn, framing.length);
    case "chunked":
      return await readChunked(conn, head, max);
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
    got += conn.moveTo(out, got, length - got);
  }
  return out;
}

/**
 * A buffer of at least `need` bytes holding `out`'s first `used` bytes: one
 * buffer per body, doubled as it fills (never past `max`), so the memory of a
 * response does not grow with the number of reads or chunks it came in.
 */
function grow(
  out: Uint8Array<ArrayBuffer>,
  used: number,
  need: number,
  max: number,
): Uint8Array<ArrayBuffer> {
  if (need <= out.length) return out;
  const grown = new Uint8Array(Math.min(max, Math.max(need, out.length * 2)));
  grown.set(out.subarray(0, used));
  return grown;
}

async function readToEnd(conn: Connection, max: number): Promise<Uint8Array> {
  let out = new Uint8Array(Math.min(max, FIRST_BODY_BUFFER));
  let total = 0;
  for (;;) {
    if (conn.buffered === 0 && !(await conn.fill())) break;
    const n = conn.buffered;
    if (total + n > max) throw new BodyLimitError(max);
    out = grow(out, total, total + n, max);
    total += conn.moveTo(out, total, n);
  }
  return out.subarray(0, total);
}

/**
 * Read a chunked body (RFC 9112 section 7.1) strictly: chunk-size is
 * 1*HEXDIG, then chunk extensions by their grammar, CRLF only (a bare CR or
 * LF is refused, as lenient parsers that disagree on it are how responses get
 * smuggled), CRLF after each chunk's data, and trailer fields parsed like
 * header fields and counted with them. Every byte after the header section
 * (size lines, extensions, CRLFs, trailers) counts against `max`.
 */
async function readChunked(conn: Connection, head: Head, max: number): Promise<Uint8Array> {
  let out = new Uint8Array(Math.min(max, FIRST_BODY_BUFFER));
  let total = 0;
  let wire = 0;
  for (;;) {
    const end = await lineEnd(conn, "chunk size line");
    wire += end - conn.offset;
    if (wire > max) throw new BodyLimitError(max);
    const size = parseChunkLine(conn.bytes, conn.offset, end - 2);
    conn.skipTo(end);
    if (size === 0) break;
    // The data and its CRLF.
    wire += size + 2;
    if (wire > max) throw new BodyLimitError(max);
    out = grow(out, total, total + size, max);
    const until = total + size;
    while (total < until) {
      if (conn.buffered === 0 && !(await conn.fill())) {
        throw new ConnectionClosedError("Upstream closed the connection before the body ended");
      }
      total += conn.moveTo(out, total, until - total);
    }
    while (conn.buffered < 2) {
      if (!(await conn.fill())) {
        throw new ConnectionClosedError("Upstream closed the connection before the body ended");
      }
    }
    const at = conn.offset;
    if (conn.bytes[at] !== CR || conn.bytes[at + 1] !== LF) {
      throw new ProtocolError("Upstream sent a malformed chunk");
    }
    conn.skipTo(at + 2);
  }
  // Trailer fields, then the empty line; counted with the header section.
  let fields = head.fieldCount;
  let sectionBytes = head.sectionBytes;
  for (;;) {
    const end = await lineEnd(conn, "trailer section");
    const length = end - conn.offset;
    wire += length;
    if (wire > max) throw new BodyLimitError(max);
    sectionBytes += length;
    if (sectionBytes > MAX_HEADER_BYTES) {
      throw new ProtocolError("Upstream trailer section is too long");
    }
    if (length === 2) {
      conn.skipTo(end);
      break;
    }
    if (++fields > MAX_HEADER_FIELDS) {
      throw new ProtocolError(
        `Upstream sent more than ${MAX_HEADER_FIELDS} header and trailer fields`,
      );
    }
    checkTrailerField(latin1(conn.bytes.subarray(conn.offset, end - 2)));
    conn.skipTo(end);
  }
  return out.subarray(0, total);
}

/** Where the next line (through its CRLF) ends in the connection's buffer. */
async function lineEnd(conn: Connection, what: string): Promise<number> {
  for (;;) {
    const end = conn.findEnd(false, MAX_CHUNK_LINE, what);
    if (end >= 0) return end;
    if (!(await conn.fill())) {
      throw new ConnectionClosedError("Upstream closed the connection before the body ended");
    }
  }
}

/** A trailer field is a header field: same name and value rules, no folding. */
function checkTrailerField(line: string): void {
  if (line.charCodeAt(0) === 32 || line.charCodeAt(0) === 9) {
    throw new ProtocolError("Upstream sent an obsolete folded trailer field");
  }
  const colon = line.indexOf(":");
  const value = line.slice(colon + 1).replace(/^[\t ]+|[\t ]+$/g, "");
  if (colon <= 0 || !TOKEN.test(line.slice(0, colon)) || !FIELD_VALUE.test(value)) {
    throw new ProtocolError("Upstream sent a malformed trailer field");
  }
}

/** Per byte: 1 for a token character (RFC 9110 section 5.6.2). */
const TOKEN_CHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") {
  TOKEN_CHAR[c.charCodeAt(0)] = 1;
}
/** Per byte: its value as a hex digit, or -1. */
const HEX_VALUE = new Int8Array(256).fill(-1);
for (let i = 0; i < 16; i++) {
  HEX_VALUE["0123456789abcdef".charCodeAt(i)] = i;
  HEX_VALUE["0123456789ABCDEF".charCodeAt(i)] = i;
}
/** At most 12 significant hex digits: sizes stay exact below 2^48. */
const MAX_SIZE_DIGITS = 12;

/**
 * The size of a chunk from its line `buf[from, to)` (without the CRLF):
 *
 * ```
 * chunk-size *( ";" chunk-ext-name [ "=" chunk-ext-val ] )
 * chunk-ext-val = token / quoted-string
 * ```
 *
 * This is RFC 9112 section 7.1.1 without its optional whitespace (BWS) around
 * `;` and `=`: llhttp, the parser of Node and undici, refuses that whitespace,
 * and an upstream whose chunk lines two parsers read differently is refused
 * rather than guessed at. Extensions are checked and ignored.
 */
function parseChunkLine(buf: Uint8Array, from: number, to: number): number {
  let i = from;
  let size = 0;
  let significant = 0;
  for (; i < to; i++) {
    const v = HEX_VALUE[buf[i]];
    if (v < 0) break;
    if ((size > 0 || v > 0) && ++significant > MAX_SIZE_DIGITS) {
      throw new ProtocolError("Upstream sent a chunk size too large");
    }
    size = size * 16 + v;
  }
  if (i === from) throw new ProtocolError("Upstream sent a malformed chunk size");
  if (i < to && buf[i] !== 59) throw new ProtocolError("Upstream sent a malformed chunk size");
  while (i < to) {
    // At a ";": a name, then an optional "=" and value.
    i = skipToken(buf, i + 1, to);
    if (i < to && buf[i] === 61) {
      i = i + 1 < to && buf[i + 1] === 34 ? skipQuoted(buf, i + 1, to) : skipToken(buf, i + 1, to);
    }
    if (i < to && buf[i] !== 59) {
      throw new ProtocolError("Upstream sent a malformed chunk extension");
    }
  }
  return size;
}

function skipToken(buf: Uint8Array, from: number, to: number): number {
  let i = from;
  while (i < to && TOKEN_CHAR[buf[i]] === 1) i++;
  if (i === from) throw new ProtocolError("Upstream sent a malformed chunk extension");
  return i;
}

/** Past a quoted-string starting at `from` (RFC 9110 section 5.6.4). */
function skipQuoted(buf: Uint8Array, from: number, to: number): number {
  for (let i = from + 1; i < to; i++) {
    const c = buf[i];
    if (c === 34) return i + 1;
    if (c === 92) {
      // quoted-pair: HTAB, SP, VCHAR or obs-text after the backslash.
      const next = buf[++i];
      if (i >= to || (next !== 9 && next < 32) || next === 127) break;
    } else if ((c < 32 && c !== 9) || c === 127) {
      break;
    }
  }
  throw new ProtocolError("Upstream sent a malformed chunk extension");
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
