/**
 * Turn a bridge and a tool call's arguments into an HTTP request, encoding
 * each value for the position it stands in (README.md, "A config", templates).
 *
 * Templates are checked against the config's template grammar
 * (`src/_util/template.ts`, the same checks the loader runs) and parsed once
 * per bridge object, then cached: a bridge the loader would refuse is never
 * rendered, however it was made, and its target (origin, host, path prefix)
 * is the one the loader and the sandbox flags derive. Argument values are
 * never parsed as templates, so an argument holding `{{secret:x}}` is sent as
 * that literal text.
 *
 * @module
 */

import { InputError, PolicyError } from "../../errors.ts";
import {
  checkBodyTemplate,
  checkHeaderTemplate,
  checkUrlTemplate,
  HEADER_NAME,
  isHeaderText,
  parseTemplate,
  queryKeyProblem,
  type TemplatePart,
  type UrlTarget,
} from "../../_util/template.ts";
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

/**
 * Where a bridge may send requests: the origin, host, port and path prefix
 * of its URL template, derived by the template grammar (`src/_util/template.ts`),
 * the one place the loader and the sandbox flags derive them too.
 */
export type BridgeTarget = UrlTarget;

/** Options of {@linkcode renderRequest}. */
export interface RenderOptions {
  /**
   * Returns the value of a secret this bridge names; may throw to refuse.
   * Without it, a template naming a secret cannot be rendered.
   */
  resolveSecret?: (name: string) => string;
}

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
  head: string;
  segments: Segment[];
  /** The template's literal query, or null. */
  query: string | null;
  queryParams: [param: string, key: string][];
  headers: CompiledHeader[];
  hasAccept: boolean;
  hasContentType: boolean;
  body: BodyNode | null;
}

const CACHE = new WeakMap<BridgeSpec, CompiledBridge>();

const DEFAULT_ACCEPT = "application/json, */*;q=0.5";
const JSON_TYPE = "application/json";
/** Characters a path parameter may not hold, even encoded (see README.md, templates). */
// deno-lint-ignore no-control-regex
const BAD_PATH_CHAR = /[/\\?#\x00-\x1f\x7f-\x9f]/;
/** Percent-encoded dot, slash, backslash or control character, any case. */
const BAD_PATH_ESCAPE = /%(?:2e|2f|5c|[01][0-9a-f]|7f)/i;
/** `.` or `..`, alone or before a `;` (servlet containers drop `;...` then resolve). */
const DOT_SEGMENT = /^\.{1,2}(?:;|$)/;
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

function compileUrl(
  bridge: BridgeSpec,
): Pick<CompiledBridge, "target" | "head" | "segments" | "query"> {
  const checked = checkUrlTemplate(bridge.url);
  const url = checked.template;
  if (url === undefined) throw configIssue(bridge, checked.problems[0]);
  return {
    target: url.target,
    head: url.head,
    segments: url.segments.map((pieces) => ({
      pieces: [...pieces],
      params: pieces.flatMap((p) => (p.kind === "param" ? [p.name] : [])),
    })),
    query: url.query,
  };
}

function compileBody(value: unknown): BodyNode {
  if (typeof value === "string") {
    // checkBodyTemplate() accepted the whole body first, so this parses.
    const parts = parseTemplate(value);
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
  if (Array.isArray(value)) return { kind: "array", items: value.map(compileBody) };
  if (value !== null && typeof value === "object") {
    return {
      kind: "object",
      entries: Object.entries(value).map(([k, v]) => [k, compileBody(v)]),
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
    if (!HEADER_NAME.test(name)) {
      throw configIssue(bridge, `header name "${name}" is not an RFC 9110 token`);
    }
    const checked = checkHeaderTemplate(template);
    if (checked.parts === undefined || checked.problems.length > 0) {
      throw configIssue(bridge, `header "${name}": ${checked.problems[0]}`);
    }
    const lower = name.toLowerCase();
    if (lower === "accept") hasAccept = true;
    if (lower === "content-type") hasContentType = true;
    headers.push({ name, parts: checked.parts });
  }
  for (const key of Object.values(bridge.queryParams)) {
    const problem = queryKeyProblem(key);
    if (problem !== undefined) throw configIssue(bridge, problem);
  }
  const hasBody = bridge.bodyTemplate !== null && bridge.bodyTemplate !== undefined;
  if (hasBody && (bridge.method === "GET" || bridge.method === "HEAD")) {
    throw configIssue(bridge, `a ${bridge.method} request cannot carry a body`);
  }
  if (hasBody) {
    const problem = checkBodyTemplate(bridge.bodyTemplate)[0];
    if (problem !== undefined) throw configIssue(bridge, problem.message);
  }
  return {
    ...url,
    queryParams: Object.entries(bridge.queryParams),
    headers,
    hasAccept,
    hasContentType,
    body: hasBody ? compileBody(bridge.bodyTemplate) : null,
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

function renderUrl(c: CompiledBridge, scope: Scope): string {
  let out = c.head;
  for (let i = 0; i < c.segments.length; i++) {
    const seg = c.segments[i];
    let text = "";
    for (const p of seg.pieces) {
      if (p.kind === "text") text += p.text;
      else if (p.kind === "param") text += pathValue(p.name, scope.arg(p.name));
      // The grammar keeps secrets out of URLs (they end up in logs).
      else throw new TypeError(`Cannot render secret "${p.name}" in a URL`);
    }
    // A placeholder next to literal dots could still form a dot segment (`.{{x}}`).
    if (seg.params.length > 0 && DOT_SEGMENT.test(text)) {
      throw new InputError(seg.params[0], 'must not form a "." or ".." path segment');
    }
    out += i === 0 ? text : "/" + text;
  }
  if (c.query !== null) out += "?" + c.query;
  const extra = renderQueryParams(c, scope);
  if (extra !== "") out += (c.query === null ? "?" : c.query.length > 0 ? "&" : "") + extra;
  return out;
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
        if (!isHeaderText(text)) {
          throw new InputError(
            p.name,
            "contains a character not allowed in a header value (CR, LF, NUL or another control character)",
          );
        }
        value += text;
      } else {
        const text = scope.secret(p.name);
        if (!isHeaderText(text)) {
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
