/**
 * Turn a bridge and a tool call's arguments into an HTTP request, encoding
 * each value for the position it stands in (README.md, "A config", templates).
 *
 * Templates are parsed once per bridge object and cached; argument values are
 * never parsed as templates, so an argument holding `{{secret:x}}` is sent as
 * that literal text.
 *
 * @module
 */

import { InputError, PolicyError } from "../../errors.ts";
import { parseTemplate, type TemplatePart } from "../../_util/template.ts";
import type { BridgeSpec, HttpMethod } from "../../config/mod.ts";

/** A request ready to send. */
export interface RenderedRequest {
  method: HttpMethod;
  url: URL;
  /** A fresh `Headers` object owned by the caller. */
  headers: Headers;
  /** JSON text, or null for no body. */
  body: string | null;
  /** Names of the secrets resolved into this request (for redaction). */
  secretNames: string[];
}

/** Where a bridge may send requests, derived from its URL template. */
export interface BridgeTarget {
  /** `scheme://host[:port]` of the configured URL. */
  origin: string;
  /** `URL.hostname` of the configured URL (IPv6 in brackets). */
  hostname: string;
  /** The path text before the first placeholder; every rendered path starts with it. */
  pathPrefix: string;
  /**
   * True when the configured path holds no placeholder: the prefix is then
   * the whole path and is matched by whole segments (`/v1/items` admits
   * `/v1/items/7`, not `/v1/items2`). False when a placeholder cuts it, so
   * the path may go on inside the prefix's last segment.
   */
  pathIsLiteral: boolean;
}

/** Options of {@linkcode renderRequest}. */
export interface RenderOptions {
  /**
   * Returns the value of a secret this bridge names; may throw to refuse.
   * Without it, a template naming a secret cannot be rendered.
   */
  resolveSecret?: (name: string) => string;
}

type Where = "path" | "query";

type Piece = TemplatePart;

interface Segment {
  pieces: Piece[];
  /** Names of the parameters in this segment, for error messages. */
  params: string[];
}

interface CompiledHeader {
  name: string;
  parts: Piece[];
}

type BodyNode =
  | { kind: "literal"; value: unknown }
  | { kind: "param"; name: string }
  | { kind: "secret"; name: string }
  | { kind: "text"; parts: Piece[] }
  | { kind: "array"; items: BodyNode[] }
  | { kind: "object"; entries: [string, BodyNode][] };

interface CompiledBridge {
  target: BridgeTarget;
  protocol: string;
  head: string;
  segments: Segment[];
  query: Piece[] | null;
  fragment: Piece[] | null;
  queryParams: [param: string, key: string][];
  headers: CompiledHeader[];
  hasAccept: boolean;
  hasContentType: boolean;
  body: BodyNode | null;
}

const CACHE = new WeakMap<BridgeSpec, CompiledBridge>();

const DEFAULT_ACCEPT = "application/json, */*;q=0.5";
const JSON_TYPE = "application/json";
/** RFC 9110 section 5.6.2 `token`. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Anything but HTAB, visible ASCII, space and obs-text (RFC 9110 section 5.5). */
const BAD_HEADER_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
/** Characters a path parameter may not hold, even encoded (see README.md, templates). */
// deno-lint-ignore no-control-regex
const BAD_PATH_CHAR = /[/\\?#\x00-\x1f\x7f-\x9f]/;
/** Percent-encoded dot, slash, backslash or control character, any case. */
const BAD_PATH_ESCAPE = /%(?:2e|2f|5c|[01][0-9a-f]|7f)/i;
/** `.` or `..`, alone or before a `;` (servlet containers drop `;...` then resolve). */
const DOT_SEGMENT = /^\.{1,2}(?:;|$)/;
const AUTHORITY_END = /[/?#]/;
const SLASH = 0x2f;
/**
 * In the path past the configured prefix: a percent-encoded dot, slash or
 * backslash, or a `.;`/`..;` segment. The URL parser leaves these alone but
 * servers may decode or normalise them into a path outside the prefix.
 */
const ESCAPING_PATH = /%(?:2e|2f|5c)|(?:^|\/)\.\.?;/i;
/** Characters `encodeURIComponent` leaves alone but RFC 3986 reserves. */
const SUB_DELIMS = /[!'()*]/g;

function hex(c: string): string {
  return "%" + c.charCodeAt(0).toString(16).toUpperCase();
}

function encodeStrict(text: string): string {
  return encodeURIComponent(text).replace(SUB_DELIMS, hex);
}

function configIssue(bridge: BridgeSpec, detail: string): PolicyError {
  return new PolicyError(`Cannot render bridge "${bridge.toolName}": ${detail}`);
}

function compileUrl(bridge: BridgeSpec): Pick<
  CompiledBridge,
  "target" | "protocol" | "head" | "segments" | "query" | "fragment"
> {
  let parts: TemplatePart[];
  try {
    parts = parseTemplate(bridge.url);
  } catch (e) {
    throw configIssue(bridge, (e as Error).message);
  }
  const first = parts[0];
  const schemeEnd = first?.kind === "text" ? first.text.indexOf("://") : -1;
  if (first?.kind !== "text" || schemeEnd < 0) {
    throw configIssue(bridge, "the URL must start with a literal scheme and host");
  }
  const afterScheme = first.text.slice(schemeEnd + 3);
  const authLen = afterScheme.search(AUTHORITY_END);
  if (authLen < 0 && parts.length > 1) {
    throw configIssue(bridge, "the URL origin must be literal");
  }
  const head = authLen < 0 ? first.text : first.text.slice(0, schemeEnd + 3 + authLen);
  const rest: Piece[] = [];
  if (head.length < first.text.length) {
    rest.push({ kind: "text", text: first.text.slice(head.length) });
  }
  rest.push(...parts.slice(1));

  const segments: Segment[] = [{ pieces: [], params: [] }];
  let query: Piece[] | null = null;
  let fragment: Piece[] | null = null;
  let where: Where | "fragment" = "path";
  let prefix = "";
  let prefixDone = false;
  let pathIsLiteral = true;
  const push = (list: Piece[], piece: Piece) => {
    const last = list[list.length - 1];
    if (piece.kind === "text" && last?.kind === "text") {
      list[list.length - 1] = { kind: "text", text: last.text + piece.text };
    } else list.push(piece);
  };
  for (const piece of rest) {
    if (piece.kind !== "text") {
      if (where === "path") {
        prefixDone = true;
        pathIsLiteral = false;
        const seg = segments[segments.length - 1];
        seg.pieces.push(piece);
        if (piece.kind === "param") seg.params.push(piece.name);
      } else push(where === "query" ? query! : fragment!, piece);
      continue;
    }
    for (const c of piece.text) {
      if (where === "path") {
        if (c === "?") {
          where = "query";
          query = [];
          prefixDone = true;
        } else if (c === "#") {
          where = "fragment";
          fragment = [];
          prefixDone = true;
        } else {
          if (c === "/") segments.push({ pieces: [], params: [] });
          else push(segments[segments.length - 1].pieces, { kind: "text", text: c });
          if (!prefixDone) prefix += c;
        }
      } else if (where === "query" && c === "#") {
        where = "fragment";
        fragment = [];
      } else {
        push(where === "query" ? query! : fragment!, { kind: "text", text: c });
      }
    }
  }
  let base: URL;
  try {
    base = new URL(head + prefix);
  } catch {
    throw configIssue(bridge, "the URL is not valid");
  }
  if (base.protocol !== "http:" && base.protocol !== "https:") {
    throw configIssue(bridge, `scheme "${base.protocol.slice(0, -1)}" is not allowed`);
  }
  if (base.username || base.password) {
    throw configIssue(bridge, "the URL must not hold a username or password");
  }
  return {
    target: {
      origin: base.origin,
      hostname: base.hostname,
      pathPrefix: base.pathname,
      pathIsLiteral,
    },
    protocol: base.protocol,
    head,
    segments,
    query,
    fragment,
  };
}

function compileBody(bridge: BridgeSpec, value: unknown, depth: number): BodyNode {
  if (depth > 64) throw configIssue(bridge, "the body template is nested too deeply");
  if (typeof value === "string") {
    let parts: TemplatePart[];
    try {
      parts = parseTemplate(value);
    } catch (e) {
      throw configIssue(bridge, (e as Error).message);
    }
    if (parts.length === 0) return { kind: "literal", value };
    if (parts.length === 1) {
      const only = parts[0];
      if (only.kind === "text") return { kind: "literal", value: only.text };
      return only.kind === "param"
        ? { kind: "param", name: only.name }
        : { kind: "secret", name: only.name };
    }
    return { kind: "text", parts };
  }
  if (Array.isArray(value)) {
    return { kind: "array", items: value.map((v) => compileBody(bridge, v, depth + 1)) };
  }
  if (value !== null && typeof value === "object") {
    return {
      kind: "object",
      entries: Object.entries(value).map(([k, v]) => [k, compileBody(bridge, v, depth + 1)]),
    };
  }
  return { kind: "literal", value };
}

function compile(bridge: BridgeSpec): CompiledBridge {
  const url = compileUrl(bridge);
  const headers: CompiledHeader[] = [];
  let hasAccept = false;
  let hasContentType = false;
  for (const [name, template] of Object.entries(bridge.headers)) {
    if (!TOKEN.test(name)) {
      throw configIssue(bridge, `header name "${name}" is not an RFC 9110 token`);
    }
    let parts: TemplatePart[];
    try {
      parts = parseTemplate(template);
    } catch (e) {
      throw configIssue(bridge, (e as Error).message);
    }
    for (const p of parts) {
      if (p.kind === "text" && BAD_HEADER_VALUE.test(p.text)) {
        throw configIssue(bridge, `header "${name}" holds a character not allowed in a header`);
      }
    }
    const lower = name.toLowerCase();
    if (lower === "accept") hasAccept = true;
    if (lower === "content-type") hasContentType = true;
    headers.push({ name, parts });
  }
  const hasBody = bridge.bodyTemplate !== null && bridge.bodyTemplate !== undefined;
  if (hasBody && (bridge.method === "GET" || bridge.method === "HEAD")) {
    throw configIssue(bridge, `a ${bridge.method} request cannot carry a body`);
  }
  return {
    ...url,
    queryParams: Object.entries(bridge.queryParams),
    headers,
    hasAccept,
    hasContentType,
    body: hasBody ? compileBody(bridge, bridge.bodyTemplate, 0) : null,
  };
}

function compiled(bridge: BridgeSpec): CompiledBridge {
  let c = CACHE.get(bridge);
  if (c === undefined) {
    c = compile(bridge);
    CACHE.set(bridge, c);
  }
  return c;
}

/**
 * Where a URL stands against a bridge's target: `null` inside it, `"origin"`
 * on another origin, `"path"` outside the configured path prefix. The one
 * rule for a rendered URL and for every redirect hop.
 *
 * The path must start with the prefix (by whole segments when the
 * configured path is literal), and the rest of it may hold no
 * percent-encoded dot, slash or backslash and no `.;`/`..;` segment: the URL
 * parser has already resolved `..`, `%2e%2e` and `\`, but a server may still
 * turn those forms into a path outside the prefix.
 *
 * @param url a parsed URL (dot segments resolved by the parser)
 * @param target the configured origin and path prefix
 * @returns null when inside, else which part it leaves
 */
export function leavesTarget(
  url: URL,
  target: Pick<BridgeTarget, "origin" | "pathPrefix" | "pathIsLiteral">,
): "origin" | "path" | null {
  if (url.origin !== target.origin) return "origin";
  const path = url.pathname;
  const prefix = target.pathPrefix;
  if (!path.startsWith(prefix)) return "path";
  const at = prefix.length;
  if (
    target.pathIsLiteral && at < path.length && !prefix.endsWith("/") &&
    path.charCodeAt(at) !== SLASH
  ) {
    return "path";
  }
  // Most paths hold neither `%` nor `;` past the prefix: no slice, no regex.
  if (path.indexOf("%", at) < 0 && path.indexOf(";", at) < 0) return null;
  return ESCAPING_PATH.test(path.slice(at)) ? "path" : null;
}

/**
 * The origin, host and path prefix a bridge's requests must stay within.
 *
 * @param bridge the bridge
 * @returns its target (computed once per bridge object)
 * @throws {PolicyError} when the bridge's templates are not valid
 */
export function bridgeTarget(bridge: BridgeSpec): BridgeTarget {
  return compiled(bridge).target;
}

/**
 * Names of every secret a bridge's templates use (headers and body), in first
 * appearance order. The gate resolves exactly these, and only for this
 * bridge's origin.
 *
 * @param bridge the bridge
 * @returns secret names, without duplicates
 */
export function bridgeSecretNames(bridge: BridgeSpec): readonly string[] {
  let names = SECRET_NAMES.get(bridge);
  if (names === undefined) {
    const found = new Set<string>();
    const visit = (value: unknown): void => {
      if (typeof value === "string") {
        for (const part of parseTemplate(value)) if (part.kind === "secret") found.add(part.name);
      } else if (Array.isArray(value)) value.forEach(visit);
      else if (value !== null && typeof value === "object") Object.values(value).forEach(visit);
    };
    visit(bridge.url);
    visit(Object.values(bridge.headers));
    visit(bridge.bodyTemplate);
    names = Object.freeze([...found]);
    SECRET_NAMES.set(bridge, names);
  }
  return names;
}

const SECRET_NAMES = new WeakMap<BridgeSpec, readonly string[]>();

/** Per-call state: arguments and the secrets resolved so far. */
class Scope {
  readonly #args: Record<string, unknown>;
  readonly #resolve: ((name: string) => string) | undefined;
  readonly #secrets = new Map<string, string>();

  constructor(args: Record<string, unknown>, resolve: ((name: string) => string) | undefined) {
    this.#args = args;
    this.#resolve = resolve;
  }

  arg(name: string): unknown {
    return Object.hasOwn(this.#args, name) ? this.#args[name] : undefined;
  }

  secret(name: string): string {
    let value = this.#secrets.get(name);
    if (value === undefined) {
      if (this.#resolve === undefined) throw new PolicyError(`Secret "${name}" is not available`);
      value = this.#resolve(name);
      if (typeof value !== "string") throw new PolicyError(`Secret "${name}" is not available`);
      this.#secrets.set(name, value);
    }
    return value;
  }

  get secretNames(): string[] {
    return [...this.#secrets.keys()];
  }
}

function scalarText(name: string, value: unknown, where: string): string {
  switch (typeof value) {
    case "string":
      return value;
    case "number":
    case "boolean":
      return String(value);
    default:
      throw new InputError(name, `must be a string, number or boolean in ${where}`);
  }
}

function pathValue(name: string, value: unknown): string {
  const text = value === undefined || value === null ? "" : scalarText(name, value, "a URL path");
  if (text === "") throw new InputError(name, "must not be empty in a URL path");
  if (!text.isWellFormed()) throw new InputError(name, "is not well-formed Unicode");
  if (DOT_SEGMENT.test(text)) throw new InputError(name, 'must not be "." or ".." in a URL path');
  if (BAD_PATH_CHAR.test(text)) {
    throw new InputError(
      name,
      'must not contain "/", "\\", "?", "#" or control characters in a URL path',
    );
  }
  if (BAD_PATH_ESCAPE.test(text)) {
    throw new InputError(
      name,
      "must not contain percent-encoded dots, slashes, backslashes or control characters in a URL path",
    );
  }
  return encodeStrict(text);
}

function queryValue(name: string, value: unknown): string {
  if (value === undefined || value === null) return "";
  const text = scalarText(name, value, "a URL query");
  if (!text.isWellFormed()) throw new InputError(name, "is not well-formed Unicode");
  return encodeStrict(text);
}

function renderUrl(c: CompiledBridge, scope: Scope): string {
  let out = c.head;
  for (let i = 0; i < c.segments.length; i++) {
    const seg = c.segments[i];
    let text = "";
    for (const p of seg.pieces) {
      if (p.kind === "text") text += p.text;
      else if (p.kind === "param") text += pathValue(p.name, scope.arg(p.name));
      else text += secretInUrl(p.name, scope);
    }
    // A placeholder next to literal dots could still form a dot segment (`.{{x}}`).
    if (seg.params.length > 0 && DOT_SEGMENT.test(text)) {
      throw new InputError(seg.params[0], 'must not form a "." or ".." path segment');
    }
    out += i === 0 ? text : "/" + text;
  }
  if (c.query !== null) out += "?" + renderQueryPieces(c.query, scope);
  const extra = renderQueryParams(c, scope);
  if (extra !== "") out += (c.query === null ? "?" : c.query.length > 0 ? "&" : "") + extra;
  if (c.fragment !== null) out += "#" + renderQueryPieces(c.fragment, scope);
  return out;
}

function renderQueryPieces(pieces: Piece[], scope: Scope): string {
  let text = "";
  for (const p of pieces) {
    if (p.kind === "text") text += p.text;
    else if (p.kind === "param") text += queryValue(p.name, scope.arg(p.name));
    else text += secretInUrl(p.name, scope);
  }
  return text;
}

function secretInUrl(name: string, scope: Scope): string {
  const value = scope.secret(name);
  if (!value.isWellFormed()) {
    throw new PolicyError(
      `Secret "${name}" cannot be sent in a URL: it is not well-formed Unicode`,
    );
  }
  return encodeStrict(value);
}

function renderQueryParams(c: CompiledBridge, scope: Scope): string {
  if (c.queryParams.length === 0) return "";
  const params = new URLSearchParams();
  for (const [param, key] of c.queryParams) {
    const value = scope.arg(param);
    if (value === undefined || value === null) continue;
    if (Array.isArray(value)) {
      for (const item of value) {
        if (item === undefined || item === null) continue;
        params.append(key, scalarText(param, item, "a URL query"));
      }
    } else {
      params.append(key, scalarText(param, value, "a URL query"));
    }
  }
  return params.toString();
}

function renderHeaders(c: CompiledBridge, scope: Scope): Headers {
  const headers = new Headers();
  for (const h of c.headers) {
    let value = "";
    for (const p of h.parts) {
      if (p.kind === "text") value += p.text;
      else if (p.kind === "param") {
        const raw = scope.arg(p.name);
        const text = raw === undefined || raw === null ? "" : scalarText(p.name, raw, "a header");
        if (BAD_HEADER_VALUE.test(text)) {
          throw new InputError(
            p.name,
            "contains a character not allowed in a header value (CR, LF, NUL or another control character)",
          );
        }
        value += text;
      } else {
        const text = scope.secret(p.name);
        if (BAD_HEADER_VALUE.test(text)) {
          throw new PolicyError(
            `Secret "${p.name}" cannot be sent in a header: it holds a character not allowed there`,
          );
        }
        value += text;
      }
    }
    headers.set(h.name, value);
  }
  if (!c.hasAccept) headers.set("accept", DEFAULT_ACCEPT);
  return headers;
}

function spliceText(name: string, value: unknown): string {
  if (value === undefined || value === null) return "";
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  try {
    return JSON.stringify(value);
  } catch {
    throw new InputError(name, "cannot be written as JSON");
  }
}

function renderBody(node: BodyNode, scope: Scope): unknown {
  switch (node.kind) {
    case "literal":
      return node.value;
    case "param":
      return scope.arg(node.name);
    case "secret":
      return scope.secret(node.name);
    case "text": {
      let text = "";
      for (const p of node.parts) {
        if (p.kind === "text") text += p.text;
        else if (p.kind === "param") text += spliceText(p.name, scope.arg(p.name));
        else text += scope.secret(p.name);
      }
      return text;
    }
    case "array":
      return node.items.map((item) => renderBody(item, scope) ?? null);
    case "object": {
      // A null prototype keeps a literal `__proto__` key an ordinary property.
      const out: Record<string, unknown> = Object.create(null);
      for (const [key, child] of node.entries) {
        const value = renderBody(child, scope);
        if (value !== undefined) out[key] = value;
      }
      return out;
    }
  }
}

/**
 * Render a bridge's request for one tool call.
 *
 * Each parameter is encoded for its position: percent-encoded in a path
 * segment (and refused when empty, `.`/`..`, or holding `/`, `\`, `?`, `#`,
 * control characters or percent-encoded dots, slashes, backslashes or control
 * characters); form-encoded in a query; refused in a header when it holds CR,
 * LF, NUL or another control character; in a body, a string that is exactly
 * `{{name}}` takes the argument's JSON value (an absent one drops the object
 * key, or becomes `null` in an array), any other string has the value spliced
 * in as text.
 *
 * The rendered URL is then checked against the configured URL: same origin,
 * path under the configured prefix, no userinfo, http or https only.
 *
 * @param bridge the bridge (its parsed templates are cached per object)
 * @param args the validated tool arguments
 * @param options how to resolve `{{secret:key}}` placeholders
 * @returns the request; `headers` is a fresh object
 * @throws {InputError} when an argument cannot be placed where the template puts it
 * @throws {PolicyError} when the rendered URL leaves the configured origin or prefix,
 *   a secret is unavailable, or the bridge's templates are invalid
 */
export function renderRequest(
  bridge: BridgeSpec,
  args: Record<string, unknown>,
  options: RenderOptions = {},
): RenderedRequest {
  const c = compiled(bridge);
  const scope = new Scope(args, options.resolveSecret);
  const text = renderUrl(c, scope);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new PolicyError(`Cannot render bridge "${bridge.toolName}": the URL is not valid`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new PolicyError("Rendered URL must use http or https");
  }
  if (url.username !== "" || url.password !== "") {
    throw new PolicyError("Rendered URL must not hold a username or password");
  }
  const leaves = leavesTarget(url, c.target);
  if (leaves !== null) throw new PolicyError(`Rendered URL leaves the configured ${leaves}`);
  const headers = renderHeaders(c, scope);
  let body: string | null = null;
  if (c.body !== null) {
    const value = renderBody(c.body, scope);
    if (value !== undefined) {
      body = JSON.stringify(value);
      if (!c.hasContentType) headers.set("content-type", JSON_TYPE);
    }
  }
  return { method: bridge.method, url, headers, body, secretNames: scope.secretNames };
}
