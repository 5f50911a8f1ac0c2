/**
 * The template grammar of a bridge, in one place: the loader checks a config
 * against it (`src/config/_checks.ts`, positioning each problem) and the
 * bridge renders only what it accepts (`src/upstream/http/render.ts`,
 * refusing anything else before a byte is sent). A template the loader would
 * refuse is never rendered, however the bridge object was made.
 *
 * - `{{name}}` names a tool parameter, `{{secret:key}}` a brokered secret;
 *   whitespace inside the braces is allowed (`{{ name }}`). Any other `{{` or
 *   `}}` is malformed.
 * - The URL ({@linkcode checkUrlTemplate}) is absolute http or https with a
 *   literal origin, no userinfo, backslash or fragment, no secret, and
 *   placeholders only in the path, each filling a segment or beside literal
 *   text other than dots; {@linkcode UrlTarget} is the origin and path prefix
 *   every request of the bridge must stay within, derived here and nowhere else.
 * - Header values ({@linkcode checkHeaderTemplate}) hold only what a header
 *   may carry; body templates ({@linkcode checkBodyTemplate}) have literal
 *   keys and finite numbers.
 *
 * Parsing is done once, on the config's own text; values substituted later are
 * never parsed again, so an argument holding `{{secret:x}}` stays literal.
 *
 * Nothing here imports the rest of LOOM: the sandboxed agent host renders
 * requests and loads this module without the config loader.
 *
 * @example
 * ```ts
 * import { checkUrlTemplate, parseTemplate } from "./template.ts";
 * parseTemplate("/users/{{id}}?k={{secret:api}}");
 * // [{kind:"text",text:"/users/"},{kind:"param",name:"id"},{kind:"text",text:"?k="},{kind:"secret",name:"api"}]
 * checkUrlTemplate("https://api.example.com/v1/users/{{id}}").template?.target.pathPrefix;
 * // "/v1/users/"
 * ```
 *
 * @module
 */

/** One piece of a parsed template. */
export type TemplatePart =
  | { kind: "text"; text: string }
  | { kind: "param"; name: string }
  | { kind: "secret"; name: string };

const PLACEHOLDER = /\{\{\s*(secret:)?([A-Za-z0-9_.-]*)\s*\}\}/g;
const BRACES = /\{\{|\}\}/;

/** Names a parameter placeholder may use. */
export const PARAM_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
/** Names a secret key may use. */
export const SECRET_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
/** A header name: an RFC 9110 section 5.6.2 `token`. */
export const HEADER_NAME: RegExp = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Anything but HTAB, visible ASCII, space and obs-text (RFC 9110 section 5.5). */
const BAD_HEADER_TEXT = /[^\t\x20-\x7e\x80-\xff]/;

/** What a template with a malformed placeholder is told. */
export const MALFORMED_PLACEHOLDER =
  'Malformed placeholder: use "{{name}}" for a parameter or "{{secret:NAME}}" for a secret';

/**
 * Split a template into text, parameter and secret parts.
 *
 * @param template the config's text
 * @returns the parts in order; adjacent text is merged
 * @throws {SyntaxError} on an empty or malformed placeholder name, or a `{{`
 *   or `}}` that is not part of a placeholder (message names the name)
 */
export function parseTemplate(template: string): TemplatePart[] {
  const parts: TemplatePart[] = [];
  let last = 0;
  const text = (end: number): void => {
    if (end <= last) return;
    const slice = template.slice(last, end);
    if (BRACES.test(slice)) throw new SyntaxError("Malformed placeholder in template");
    parts.push({ kind: "text", text: slice });
  };
  for (const m of template.matchAll(PLACEHOLDER)) {
    const start = m.index!;
    text(start);
    const name = m[2];
    if (m[1]) {
      if (!SECRET_NAME.test(name)) {
        throw new SyntaxError(`Invalid secret name "${name}" in template`);
      }
      parts.push({ kind: "secret", name });
    } else {
      if (!PARAM_NAME.test(name)) {
        throw new SyntaxError(`Invalid parameter name "${name}" in template`);
      }
      parts.push({ kind: "param", name });
    }
    last = start + m[0].length;
  }
  text(template.length);
  return parts;
}

/** True when the text holds any `{{...}}` placeholder. */
export function hasPlaceholder(text: string): boolean {
  return /\{\{[^}]*\}\}/.test(text);
}

/** Whether literal text may stand in a header value (HTAB, visible ASCII, space, obs-text). */
export function isHeaderText(text: string): boolean {
  return !BAD_HEADER_TEXT.test(text);
}

// --- URL ---------------------------------------------------------------------

/** Where a bridge may send requests: the literal origin and path prefix of its URL template. */
export interface UrlTarget {
  scheme: "http" | "https";
  /** `scheme://host[:port]` (`URL.origin`). */
  origin: string;
  /** `URL.hostname`: lower case, punycode, IPv6 in brackets. */
  hostname: string;
  /** The port, explicit even when the URL leaves it out (80 / 443). */
  port: number;
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

/** A URL template the grammar accepts, split where the renderer needs it. */
export interface UrlTemplate {
  target: UrlTarget;
  /** `scheme://authority` as written. */
  head: string;
  /** The path after `head`, split at `/`; the first segment is the (empty) text before the first `/`. */
  segments: readonly (readonly TemplatePart[])[];
  /** The literal query after `?` (placeholders are not allowed there), or null. */
  query: string | null;
  /** Names of the parameters in the path, in order. */
  pathParams: readonly string[];
}

/** The verdict of {@linkcode checkUrlTemplate}. */
export interface UrlTemplateCheck {
  /** Why the template is refused, in the order found; empty when it is accepted. */
  problems: string[];
  /** Its parts, when its placeholders parse (also when other problems were found). */
  parts?: TemplatePart[];
  /** The template, only when there is no problem. */
  template?: UrlTemplate;
}

const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//;

function quoted(text: string): string {
  return JSON.stringify(text.length > 64 ? `${text.slice(0, 61)}...` : text);
}

/**
 * Check a bridge URL template against the grammar and, when it holds, split it
 * and derive its target (origin, host, port, path prefix). Placeholders are
 * checked for form here; whether each names a declared parameter is the
 * loader's check.
 *
 * @param url the configured URL template
 * @returns the problems (each a sentence), the parts, and the template when accepted
 */
export function checkUrlTemplate(url: string): UrlTemplateCheck {
  const scheme = SCHEME.exec(url);
  if (!scheme) return { problems: ['URL must be absolute and start with "https://" or "http://"'] };
  const protocol = scheme[1].toLowerCase();
  if (protocol !== "https" && protocol !== "http") {
    return { problems: [`URL scheme ${quoted(scheme[1])} is not allowed: use https or http`] };
  }
  const problems: string[] = [];
  const rest = url.slice(scheme[0].length);
  const slash = rest.indexOf("/");
  // Conservative: anything before the first "/" counts as the origin.
  const authority = slash < 0 ? rest : rest.slice(0, slash);
  // The origin is what the sandbox allows and what secrets are bound to, so it
  // must be fixed by the config: no placeholder before the path starts.
  if (BRACES.test(authority)) {
    problems.push(
      "URL origin must be literal: scheme, host and port cannot hold a placeholder " +
        "(placeholders may only stand in the path)",
    );
  }
  if (authority.includes("@")) {
    problems.push("URL must not contain userinfo (user:password@): use a header");
  }
  if (url.includes("\\")) problems.push("URL must not contain a backslash");
  if (url.includes("#")) problems.push("URL must not contain a fragment (#...)");
  const queryStart = url.indexOf("?");
  if (queryStart >= 0 && BRACES.test(url.slice(queryStart))) {
    problems.push(
      "Placeholders are not allowed in the URL query: map parameters with query_params",
    );
  }
  const blocking = problems.length > 0;
  let parts: TemplatePart[];
  try {
    parts = parseTemplate(url);
  } catch {
    problems.push(MALFORMED_PLACEHOLDER);
    return { problems };
  }
  for (const part of parts) {
    if (part.kind === "secret") {
      problems.push(
        "Secret placeholder is not allowed in the URL: secrets in URLs end up in logs and " +
          "history; send it in a header instead",
      );
    }
  }
  // The rest needs the origin, query and fragment checks passed; a secret
  // alone does not stop it, so every problem of the path is still reported.
  if (blocking) return { problems, parts };
  // Replace each placeholder by a dummy segment and let the WHATWG parser judge.
  const dummy = parts.map((p) => (p.kind === "text" ? p.text : "loom-param")).join("");
  let parsed: URL;
  try {
    parsed = new URL(dummy);
  } catch {
    return { problems: [...problems, "URL is not valid"], parts };
  }
  if (parsed.hostname === "") return { problems: [...problems, "URL has no host"], parts };
  const pathEnd = queryStart >= 0 ? queryStart : url.length;
  const pathText = slash < 0 ? "" : url.slice(scheme[0].length + slash, pathEnd);
  const pathParams = checkPath(pathText, problems);
  if (problems.length > 0) return { problems, parts };
  return { problems, parts, template: splitUrl(url, scheme[0].length, pathParams) };
}

/**
 * Each placeholder in the path must form a whole segment or sit beside
 * literal text in one segment, so that no argument can make a `.` or `..`
 * segment out of the template (`.{{x}}`, `{{a}}{{b}}`).
 *
 * @returns the path's parameter names
 */
function checkPath(pathText: string, problems: string[]): string[] {
  const names: string[] = [];
  for (const segment of pathText.split("/")) {
    const decoded = segment.replace(/%2e/gi, ".");
    if (decoded === "." || decoded === "..") {
      problems.push('URL path must not contain "." or ".." segments');
      return names;
    }
    if (/%(?:2f|5c)/i.test(segment)) {
      problems.push("URL path must not contain an encoded slash or backslash");
      return names;
    }
    const parts = parseTemplate(segment);
    const params = parts.filter((p) => p.kind === "param");
    if (params.length === 0) continue;
    const literal = parts.map((p) => (p.kind === "text" ? p.text : "")).join("");
    const whole = params.length === 1 && parts.length === 1;
    if (!whole && literal.replaceAll(".", "") === "") {
      problems.push(
        `URL path segment ${quoted(segment)} is ambiguous: a placeholder must fill a whole ` +
          'segment or sit beside literal text other than "."',
      );
    }
    for (const p of params) names.push(p.name);
  }
  return names;
}

/** Split an accepted template and derive its target. */
function splitUrl(url: string, schemeLength: number, pathParams: string[]): UrlTemplate {
  const authEnd = url.slice(schemeLength).search(/[/?]/);
  const head = authEnd < 0 ? url : url.slice(0, schemeLength + authEnd);
  const afterHead = url.slice(head.length);
  const q = afterHead.indexOf("?");
  const path = q < 0 ? afterHead : afterHead.slice(0, q);
  const cut = path.indexOf("{{");
  const base = new URL(head + (cut < 0 ? path : path.slice(0, cut)));
  const scheme = base.protocol === "https:" ? "https" : "http";
  return {
    target: {
      scheme,
      origin: base.origin,
      hostname: base.hostname,
      port: base.port === "" ? (scheme === "https" ? 443 : 80) : Number(base.port),
      pathPrefix: base.pathname,
      pathIsLiteral: cut < 0,
    },
    head,
    segments: path.split("/").map(parseTemplate),
    query: q < 0 ? null : afterHead.slice(q + 1),
    pathParams,
  };
}

// --- query keys, headers and body ------------------------------------------------

/**
 * Why an outgoing query key (`query_params` maps a parameter to one) is
 * refused, or undefined: it is sent as written, so it may not look like a
 * template.
 */
export function queryKeyProblem(key: string): string | undefined {
  return BRACES.test(key)
    ? "Query key must be literal: it is the outgoing key, not a template"
    : undefined;
}

/**
 * Check a header value template: placeholders well-formed, literal text
 * only what a header value may hold (no CR, LF, NUL or other control
 * character, nothing above U+00FF).
 *
 * @param value the configured header value
 * @returns the problems and, when the placeholders parse, the parts
 */
export function checkHeaderTemplate(value: string): { problems: string[]; parts?: TemplatePart[] } {
  const problems: string[] = [];
  if (!isHeaderText(value.replace(PLACEHOLDER, ""))) {
    problems.push(
      "Header value must not contain CR, LF or NUL, another control character, or a " +
        "character above U+00FF",
    );
  }
  try {
    return { problems, parts: parseTemplate(value) };
  } catch {
    problems.push(MALFORMED_PLACEHOLDER);
    return { problems };
  }
}

/** A problem at a place inside a body template. */
export interface BodyTemplateProblem {
  /** Keys and indexes from the body's root. */
  path: (string | number)[];
  message: string;
  /** True when the problem is the key at `path`, not its value. */
  key: boolean;
}

/** Deepest a body template may nest. */
export const MAX_BODY_DEPTH = 64;

/**
 * Check a JSON body template: keys are literal, numbers finite, nesting
 * bounded, each string's placeholders well-formed.
 *
 * @param body the configured body template
 * @param onString called with each string's parts and path (for the loader's
 *   own checks of the names)
 * @returns the problems, in document order
 */
export function checkBodyTemplate(
  body: unknown,
  onString?: (parts: TemplatePart[], path: (string | number)[]) => void,
): BodyTemplateProblem[] {
  const problems: BodyTemplateProblem[] = [];
  const visit = (value: unknown, path: (string | number)[], depth: number): void => {
    if (depth > MAX_BODY_DEPTH) {
      problems.push({ path, message: "Body template is nested too deeply", key: false });
    } else if (typeof value === "string") {
      let parts: TemplatePart[];
      try {
        parts = parseTemplate(value);
      } catch {
        problems.push({ path, message: MALFORMED_PLACEHOLDER, key: false });
        return;
      }
      onString?.(parts, path);
    } else if (typeof value === "number") {
      if (!Number.isFinite(value)) {
        problems.push({ path, message: "Body numbers must be finite", key: false });
      }
    } else if (Array.isArray(value)) {
      value.forEach((item, i) => visit(item, [...path, i], depth + 1));
    } else if (value !== null && typeof value === "object") {
      for (const [key, item] of Object.entries(value)) {
        if (BRACES.test(key)) {
          problems.push({
            path: [...path, key],
            message: "Body keys must be literal: placeholders go in values",
            key: true,
          });
        }
        visit(item, [...path, key], depth + 1);
      }
    }
  };
  visit(body, [], 0);
  return problems;
}
