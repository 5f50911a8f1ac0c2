/**
 * The HTTP/1.1 wire format as LOOM's client speaks it: requests serialized,
 * response header sections parsed, bodies read by their framing
 * (`Content-Length`, chunked, or to the end of the connection) within a cap
 * on wire bytes, and content codings decoded within a cap on decoded bytes.
 * What it refuses, and why, is listed in `client.ts`.
 *
 * @module
 */

import { brotliDecompressSync, gunzipSync, inflateSync } from "node:zlib";
import { MANAGED_HEADERS as MANAGED } from "../../_util/http_headers.ts";
import type { Connection } from "./pool.ts";

/** What {@linkcode serializeRequest} writes. */
export interface RequestHead {
  /** The request method, upper case (`GET`, `POST`...). */
  method: string;
  url: URL;
  headers: Headers;
  /** The body text (sent as UTF-8), or null for none. */
  body: string | null;
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
/** A body buffer starts this large (or at the cap) and doubles as it fills. */
const FIRST_BODY_BUFFER = 4096;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const STATUS_LINE = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: [^\r\n]*)?$/;
const ENCODER = new TextEncoder();
const CR = 13;
const LF = 10;

/** How a response body is delimited. */
export type Framing =
  | { kind: "none" }
  | { kind: "length"; length: number }
  | { kind: "chunked" }
  | { kind: "close" };

/** A parsed header section. */
export interface Head {
  status: number;
  fields: Map<string, string>;
  framing: Framing;
  reusable: boolean;
  /** Bytes and fields of the header section, which trailer fields add to. */
  sectionBytes: number;
  fieldCount: number;
}

/**
 * The bytes of a request: request line, `host`, the caller's headers but the
 * ones LOOM manages, defaults for `user-agent` and `accept-encoding`, and a
 * `content-length` for a body (and for an empty POST, PUT or PATCH).
 */
export function serializeRequest(req: RequestHead): Uint8Array {
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

export async function readHead(conn: Connection, method: string): Promise<Head> {
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
  // HTTP/1.0 defines no 1xx status (RFC 9110 section 15.2); what follows one is read as
  // another response by some parsers and as data after the end of the connection by others.
  if (status < 200 && minor === "0") {
    throw new ProtocolError("Upstream sent an HTTP/1.0 informational response");
  }
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
    // A tab is optional whitespace (RFC 9110 section 5.5), but llhttp reads
    // `chunked<TAB>` as another coding and frames the body differently:
    // parsers that disagree on framing can be made to see different bodies.
    if (name === "transfer-encoding" && line.includes("\t", colon)) {
      throw new ProtocolError("Upstream sent a Transfer-Encoding with a tab");
    }
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

export async function readFramed(conn: Connection, head: Head, max: number): Promise<Uint8Array> {
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
export function decodeContent(body: Uint8Array, encoding: string | null, max: number): Uint8Array {
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
