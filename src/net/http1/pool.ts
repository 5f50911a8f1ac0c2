/**
 * Connections for LOOM's HTTP/1.1 client: one socket with its read buffer
 * ({@linkcode Connection}), and the pool that dials, lends and takes back
 * connections per origin ({@linkcode ConnectionPool}).
 *
 * A connection is pooled only when its answer ended exactly where its
 * framing said, and an idle one keeps a read pending: bytes that arrive while
 * it is idle close it, so one call's answer never becomes the next call's.
 * A new connection goes to an address the destination check approved when
 * the runtime's permissions allow it, and its remote address is admitted
 * before a byte is written.
 *
 * @module
 */

import { ProtocolError } from "./parser.ts";

const READ_SIZE = 16 * 1024;
const CR = 13;
const LF = 10;

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

/** One socket and what has been read from it but not consumed. */
export class Connection {
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

/** Options of {@linkcode ConnectionPool}. */
export interface PoolOptions {
  /** Keep connections alive between requests. Default true. */
  keepAlive?: boolean;
  /** Idle connections kept per origin. Default 32. */
  maxIdlePerOrigin?: number;
  /** An idle connection older than this is not reused. Default 4000 ms. */
  idleTimeoutMs?: number;
  /** Extra PEM root certificates for `https:` (tests). */
  caCerts?: string[];
}

/**
 * Idle connections per origin and the busy ones; every connection it hands
 * out comes back through {@linkcode ConnectionPool.release} or
 * {@linkcode ConnectionPool.drop}.
 */
export class ConnectionPool {
  readonly #keepAlive: boolean;
  readonly #maxIdle: number;
  readonly #idleTimeoutMs: number;
  readonly #caCerts: string[] | undefined;
  readonly #idle = new Map<string, Connection[]>();
  readonly #busy = new Set<Connection>();
  #closed = false;

  /** @param options pooling limits and extra root certificates */
  constructor(options: PoolOptions = {}) {
    this.#keepAlive = options.keepAlive ?? true;
    this.#maxIdle = options.maxIdlePerOrigin ?? 32;
    this.#idleTimeoutMs = options.idleTimeoutMs ?? 4000;
    this.#caCerts = options.caCerts;
  }

  /** True once closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Connections open now, idle and busy. */
  get openConnections(): number {
    let n = this.#busy.size;
    // An idle connection closed because bytes arrived stays listed until the
    // next checkout or sweep.
    for (const list of this.#idle.values()) for (const conn of list) if (!conn.closed) n++;
    return n;
  }

  /** An idle connection to `origin`, now busy, or null. */
  checkout(origin: string): Connection | null {
    const list = this.#idle.get(origin);
    if (list === undefined) return null;
    const now = performance.now();
    while (list.length > 0) {
      const conn = list.pop()!;
      // A connection on which bytes arrived while idle was closed then.
      if (now - conn.idleSince <= this.#idleTimeoutMs && !conn.closed) {
        conn.unpark();
        this.#busy.add(conn);
        return conn;
      }
      conn.close();
    }
    return null;
  }

  /**
   * A new connection for `url`, busy.
   *
   * @param url the request's URL (scheme, host, port)
   * @param signal ends the connect
   * @param pin the checked addresses and the remote-address check
   * @returns the connection
   */
  async connect(url: URL, signal: AbortSignal, pin?: ConnectionPin): Promise<Connection> {
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
    const connection = new Connection(url.origin, conn);
    this.#busy.add(connection);
    return connection;
  }

  /** Take back a connection whose exchange is over; pool it when it is reusable. */
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

  /** Close a busy connection and forget it. */
  drop(conn: Connection): void {
    this.#busy.delete(conn);
    conn.close();
  }

  /** Close every connection. */
  close(): void {
    this.#closed = true;
    for (const list of this.#idle.values()) for (const conn of list) conn.close();
    this.#idle.clear();
    for (const conn of this.#busy) conn.close();
    this.#busy.clear();
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
