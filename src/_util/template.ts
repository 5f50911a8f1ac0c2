/**
 * Template syntax shared by the loader (load-time checks) and the bridge
 * (rendering): `{{name}}` names a tool parameter, `{{secret:key}}` names a
 * brokered secret. Whitespace inside the braces is allowed (`{{ name }}`).
 *
 * Parsing is done once, on the config's own text; values substituted later are
 * never parsed again, so an argument holding `{{secret:x}}` stays literal.
 *
 * @example
 * ```ts
 * import { parseTemplate } from "./template.ts";
 * parseTemplate("/users/{{id}}?k={{secret:api}}");
 * // [{kind:"text",text:"/users/"},{kind:"param",name:"id"},{kind:"text",text:"?k="},{kind:"secret",name:"api"}]
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

/** Names a parameter placeholder may use. */
export const PARAM_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
/** Names a secret key may use. */
export const SECRET_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/**
 * Split a template into text, parameter and secret parts.
 *
 * @param template the config's text
 * @returns the parts in order; adjacent text is merged
 * @throws {SyntaxError} on an empty or malformed placeholder name (message names it)
 */
export function parseTemplate(template: string): TemplatePart[] {
  const parts: TemplatePart[] = [];
  let last = 0;
  for (const m of template.matchAll(PLACEHOLDER)) {
    const start = m.index!;
    if (start > last) parts.push({ kind: "text", text: template.slice(last, start) });
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
  if (last < template.length) parts.push({ kind: "text", text: template.slice(last) });
  return parts;
}

/** True when the text holds any `{{...}}` placeholder. */
export function hasPlaceholder(text: string): boolean {
  return /\{\{[^}]*\}\}/.test(text);
}
