/**
 * Shape an upstream response into a tool result: refuse error statuses,
 * parse JSON, and follow the bridge's `response_path`.
 *
 * @module
 */

import { UpstreamError } from "../errors.ts";
import type { BridgeSpec } from "../config/mod.ts";
import type { BridgeResponse } from "./execute.ts";

/** A shaped tool result: text for the model, the JSON value when there is one. */
export interface ShapedResult {
  text: string;
  structured?: unknown;
}

/**
 * An upstream answered with an error status. The message names the status
 * only; the start of the body is kept apart in {@linkcode detail} so the
 * caller decides whether to show it (after redacting secrets).
 */
export class UpstreamStatusError extends UpstreamError {
  /** The HTTP status. */
  readonly status: number;
  /** At most 200 characters of the body on one line, control characters removed. */
  readonly detail: string;

  /**
   * @param status the HTTP status (>= 400)
   * @param detail the start of the body, already shortened
   */
  constructor(status: number, detail: string) {
    const phrase = REASON_PHRASES[status];
    super("UPSTREAM_FAILED", `Upstream answered ${status}${phrase ? ` ${phrase}` : ""}`);
    this.name = "UpstreamStatusError";
    this.status = status;
    this.detail = detail;
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

const DETAIL_MAX = 200;
// deno-lint-ignore no-control-regex
const CONTROL_OR_SPACE_RUN = /[\s\x00-\x1f\x7f-\x9f]+/g;
/** `application/json`, `application/problem+json`, `text/json`, with parameters. */
const JSON_CONTENT_TYPE = /^[^;]*[/+]json\s*(?:;|$)/i;
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

function excerpt(text: string): string {
  const flat = text.slice(0, DETAIL_MAX * 4).replace(CONTROL_OR_SPACE_RUN, " ").trim();
  return flat.length > DETAIL_MAX ? flat.slice(0, DETAIL_MAX) : flat;
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
 * @throws {UpstreamStatusError} for a status of 400 or more
 * @throws {UpstreamError} `UPSTREAM_FAILED` for invalid JSON or a missing path
 */
export function shapeResponse(res: BridgeResponse, bridge: BridgeSpec): ShapedResult {
  if (res.status >= 400) throw new UpstreamStatusError(res.status, excerpt(res.bodyText));
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
