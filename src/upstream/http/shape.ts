/**
 * Shape an upstream response into a tool result: refuse error statuses,
 * parse JSON, and follow the bridge's `response_path`.
 *
 * An error status keeps the upstream's own error text (a model needs
 * Prometheus's `parse error: unclosed left parenthesis` to fix its query),
 * but that text is untrusted: it is read only from the JSON error fields or
 * a text-like body, put on one line with control, bidi and zero-width
 * characters escaped (they could drive a terminal or hide text), and cut to
 * a bound. The gate redacts it before anyone sees it.
 *
 * @module
 */

import { UpstreamError } from "../../errors.ts";
import type { BridgeSpec } from "../../config/mod.ts";
import type { BridgeResponse } from "./execute.ts";

/** A shaped tool result: text for the model, the JSON value when there is one. */
export interface ShapedResult {
  text: string;
  structured?: unknown;
}

/**
 * An upstream answered with an error status. The message names the status
 * and, after a colon, the upstream's own error text cut to
 * {@linkcode EXCERPT_MAX} characters (`Upstream answered 400 Bad Request:
 * parse error: unclosed left parenthesis`), so a model can correct its call.
 * The longer {@linkcode detail} is what the message was cut from: the gate
 * redacts it and builds a new error from the redacted text, so a secret cut
 * in two by the first cut is still caught by the redactor's near-match.
 */
export class UpstreamStatusError extends UpstreamError {
  /** The HTTP status. */
  readonly status: number;
  /**
   * The upstream's error text on one line, control characters escaped, at
   * most {@linkcode DETAIL_MAX} characters; not yet redacted.
   */
  readonly detail: string;
  /** The message without the upstream's text: `Upstream answered 400 Bad Request`. */
  readonly statusLine: string;

  /**
   * @param status the HTTP status (>= 400)
   * @param detail the upstream's error text (cleaned and cut again here, so
   *   text from the agent process is held to the same rules)
   */
  constructor(status: number, detail: string) {
    const phrase = REASON_PHRASES[status];
    const statusLine = `Upstream answered ${status}${phrase ? ` ${phrase}` : ""}`;
    const clean = cleanText(detail, DETAIL_MAX);
    const shown = cut(clean, EXCERPT_MAX);
    super("UPSTREAM_FAILED", shown === "" ? statusLine : `${statusLine}: ${shown}`);
    this.name = "UpstreamStatusError";
    this.status = status;
    this.detail = clean;
    this.statusLine = statusLine;
  }

  /** The upstream's text as the message shows it ("" when there is none). */
  get excerpt(): string {
    return this.message.length > this.statusLine.length
      ? this.message.slice(this.statusLine.length + 2)
      : "";
  }
}

/** RFC 9110 section 15 reason phrases for the statuses upstreams commonly send. */
const REASON_PHRASES: Readonly<Record<number, string>> = {
  400: "Bad Request",
  401: "Unauthorized",
  402: "Payment Required",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  406: "Not Acceptable",
  408: "Request Timeout",
  409: "Conflict",
  410: "Gone",
  411: "Length Required",
  412: "Precondition Failed",
  413: "Content Too Large",
  414: "URI Too Long",
  415: "Unsupported Media Type",
  416: "Range Not Satisfiable",
  417: "Expectation Failed",
  421: "Misdirected Request",
  422: "Unprocessable Content",
  425: "Too Early",
  426: "Upgrade Required",
  428: "Precondition Required",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  451: "Unavailable For Legal Reasons",
  500: "Internal Server Error",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
  505: "HTTP Version Not Supported",
};

/**
 * At most this many characters of the upstream's text are shown in a message
 * (with the longest status line, the message stays within 300).
 */
export const EXCERPT_MAX = 240;
/** At most this many are carried to the redactor (a secret cut here is still near-matched). */
const DETAIL_MAX = 1000;
/** A JSON error body larger than this is shown as text, not parsed. */
const JSON_PARSE_MAX = 64 * 1024;
/** Whitespace, line and paragraph separators included: one space. */
const SPACE_RUN = /\s+/g;
/**
 * What a terminal or a renderer acts on: C0 and C1 controls, DEL, bidi
 * controls, zero-width characters, lone surrogates. Written as `\xNN` or
 * `\uNNNN` (backslashes are kept as they are: the text is for reading).
 */
const UNSAFE =
  // deno-lint-ignore no-control-regex
  /[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
/** A script or style element, or any other tag (HTML is read crudely, for a hint only). */
const TAG = /<(script|style)\b[^]*?<\/\1\s*>|<[^>]*>?/gi;
/** `application/json`, `application/problem+json`, `text/json`, with parameters. */
const JSON_CONTENT_TYPE = /^[^;]*[/+]json\s*(?:;|$)/i;
const HTML_CONTENT_TYPE = /^\s*(?:text\/html|application\/xhtml\+xml)\s*(?:;|$)/i;
/** Text an error body may be read as: `text/*`, JSON, XML, form data, or no type. */
const TEXT_CONTENT_TYPE =
  /^\s*(?:$|;|text\/|[^;]*[/+](?:json|xml)\s*(?:;|$)|application\/x-www-form-urlencoded)/i;
/** JSON fields that carry an error's text, in the order they are joined. */
const ERROR_FIELDS = ["error", "message", "error_description", "detail", "title"] as const;
const ARRAY_INDEX = /^(?:0|[1-9][0-9]*)$/;

const PATHS = new WeakMap<BridgeSpec, string[]>();

function pathSegments(bridge: BridgeSpec, path: string): string[] {
  let segments = PATHS.get(bridge);
  if (segments === undefined) {
    segments = path.split(".");
    PATHS.set(bridge, segments);
  }
  return segments;
}

function escapeOne(ch: string): string {
  const code = ch.charCodeAt(0);
  return code < 0x100
    ? "\\x" + code.toString(16).padStart(2, "0")
    : "\\u" + code.toString(16).padStart(4, "0");
}

/** One line, unsafe characters escaped, at most `max` characters. Idempotent. */
function cleanText(text: string, max: number): string {
  const flat = text.slice(0, max * 2).replace(SPACE_RUN, " ").trim().replace(UNSAFE, escapeOne);
  return cut(flat, max);
}

/** `text` cut to `max` characters with an ellipsis, never inside a surrogate pair. */
function cut(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = max - 1;
  const code = text.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end--;
  return text.slice(0, end).trimEnd() + "\u2026";
}

/** The string error fields of a parsed JSON error body, joined with "; ". */
function jsonErrorText(value: unknown): string {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return "";
  const body = value as Record<string, unknown>;
  const parts: string[] = [];
  const add = (v: unknown) => {
    if (typeof v === "string" && v.trim() !== "" && !parts.includes(v)) parts.push(v);
  };
  for (const field of ERROR_FIELDS) {
    if (!Object.hasOwn(body, field)) continue;
    const v = body[field];
    // `{"error": {"message": "..."}}`, as several APIs nest it.
    if (v !== null && typeof v === "object" && !Array.isArray(v)) {
      add(Object.hasOwn(v, "message") ? (v as Record<string, unknown>).message : undefined);
    } else add(v);
  }
  const errors = Object.hasOwn(body, "errors") ? body.errors : undefined;
  if (Array.isArray(errors) && errors[0] !== null && typeof errors[0] === "object") {
    add(Object.hasOwn(errors[0], "message") ? errors[0].message : undefined);
  }
  return parts.join("; ");
}

/**
 * The upstream's own error text, for the message of an error status: the
 * JSON error fields when there are any, else the body as text (HTML with its
 * tags removed), else only the content type. Cleaned and cut by
 * {@linkcode UpstreamStatusError}.
 */
function errorText(res: BridgeResponse): string {
  const body = res.bodyText;
  if (body.trim() === "") return "";
  if (JSON_CONTENT_TYPE.test(res.contentType) && body.length <= JSON_PARSE_MAX) {
    try {
      const fields = jsonErrorText(JSON.parse(body));
      if (fields !== "") return fields;
    } catch {
      // Not JSON after all: shown as text.
    }
  }
  if (HTML_CONTENT_TYPE.test(res.contentType)) {
    return body.slice(0, DETAIL_MAX * 4).replace(TAG, " ");
  }
  if (TEXT_CONTENT_TYPE.test(res.contentType)) return body.slice(0, DETAIL_MAX * 2);
  return `(${cleanText(res.contentType, 100)} body)`;
}

function follow(value: unknown, segments: readonly string[], path: string): unknown {
  let current = value;
  for (const seg of segments) {
    if (Array.isArray(current)) {
      if (!ARRAY_INDEX.test(seg) || Number(seg) >= current.length) return missing(path);
      current = current[Number(seg)];
    } else if (current !== null && typeof current === "object" && Object.hasOwn(current, seg)) {
      current = (current as Record<string, unknown>)[seg];
    } else {
      return missing(path);
    }
  }
  return current;
}

function missing(path: string): never {
  throw new UpstreamError("UPSTREAM_FAILED", `Response has no "${path}"`);
}

/**
 * Turn an upstream response into a tool result.
 *
 * A JSON response (by content type, or any response when the bridge has a
 * `response_path`) is parsed; the path is followed (dotted, numeric segments
 * index arrays); the result text is the JSON of the selected value and
 * `structured` the value itself. Other content is returned as text.
 *
 * @param res the response read by `executeRequest`
 * @param bridge the bridge (its `responsePath`)
 * @returns the text and, for JSON, the structured value
 * @throws {UpstreamStatusError} for a status of 400 or more, with the
 *   upstream's error text
 * @throws {UpstreamError} `UPSTREAM_FAILED` for invalid JSON or a missing path
 */
export function shapeResponse(res: BridgeResponse, bridge: BridgeSpec): ShapedResult {
  if (res.status >= 400) throw new UpstreamStatusError(res.status, errorText(res));
  const path = bridge.responsePath;
  const isJson = JSON_CONTENT_TYPE.test(res.contentType);
  if (!isJson && !path) return { text: res.bodyText };
  if (res.bodyText.trim() === "") {
    if (path) throw new UpstreamError("UPSTREAM_FAILED", "Upstream sent an empty response");
    return { text: "" };
  }
  let value: unknown;
  try {
    value = JSON.parse(res.bodyText);
  } catch {
    throw new UpstreamError("UPSTREAM_FAILED", "Upstream sent invalid JSON");
  }
  if (path) value = follow(value, pathSegments(bridge, path), path);
  return { text: JSON.stringify(value) ?? "null", structured: value };
}
