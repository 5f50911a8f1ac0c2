/**
 * OpenAPI security schemes as bridge headers holding `{{secret:NAME}}`:
 * `apiKey` in a header, HTTP `bearer` and `basic` (Swagger 2.0 `basic` too).
 * Keys in a query or a cookie, OAuth 2 flows and OpenID Connect are not
 * imported: each is reported, and the operations that need one are imported
 * without it.
 *
 * @module
 */

import { follow, type SpecFiles } from "./_refs.ts";

/** Headers for one scheme, or why it is not imported. */
export type SchemeHeaders = { headers: Record<string, string>; secret: string } | {
  problem: string;
};

type Node = Record<string, unknown>;

/** The secret name of a scheme: `AGENT_SCHEME`, upper case, in the vault's alphabet. */
export function secretName(agent: string, scheme: string): string {
  const raw = `${agent}_${scheme}`.toUpperCase().replace(/[^A-Z0-9_]+/g, "_");
  return raw.replace(/^[^A-Z0-9]+/, "").slice(0, 128) || "API_KEY";
}

/** The declared schemes (3.x `components.securitySchemes`, 2.0 `securityDefinitions`). */
export function declaredSchemes(spec: SpecFiles, doc: Node): Record<string, unknown> {
  const components = doc.components as Node | undefined;
  const schemes = components?.securitySchemes ?? doc.securityDefinitions;
  if (!schemes || typeof schemes !== "object") return {};
  const out: Record<string, unknown> = {};
  for (const [name, scheme] of Object.entries(schemes as Node)) {
    try {
      out[name] = follow(spec, scheme, spec.main).value;
    } catch {
      out[name] = undefined;
    }
  }
  return out;
}

/** How one scheme is sent, as headers. */
export function schemeHeaders(agent: string, name: string, scheme: unknown): SchemeHeaders {
  if (scheme === null || typeof scheme !== "object") return { problem: "not declared" };
  const s = scheme as Node;
  const secret = secretName(agent, name);
  if (s.type === "apiKey") {
    if (s.in !== "header") {
      return { problem: `API key in ${String(s.in)} is not imported (only in a header)` };
    }
    if (typeof s.name !== "string" || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(s.name)) {
      return { problem: "API key header name is not a valid header name" };
    }
    return { headers: { [s.name]: `{{secret:${secret}}}` }, secret };
  }
  const httpScheme = s.type === "basic" ? "basic" : String(s.scheme ?? "").toLowerCase();
  if ((s.type === "http" || s.type === "basic") && httpScheme === "bearer") {
    return { headers: { Authorization: `Bearer {{secret:${secret}}}` }, secret };
  }
  if ((s.type === "http" || s.type === "basic") && httpScheme === "basic") {
    return { headers: { Authorization: `Basic {{secret:${secret}}}` }, secret };
  }
  if (s.type === "oauth2" || s.type === "openIdConnect") {
    return { problem: `${s.type} flows are not imported` };
  }
  return { problem: `scheme type ${JSON.stringify(s.type)} is not imported` };
}

/**
 * The headers of an operation's security: the first alternative whose schemes
 * all import; none when the operation needs no credential or none imports.
 *
 * @returns the headers, the secret names, and the problems of the schemes left out
 */
export function operationSecurity(
  agent: string,
  requirement: unknown,
  schemes: Record<string, unknown>,
): { headers: Record<string, string>; secrets: string[]; problems: string[] } {
  const problems: string[] = [];
  if (!Array.isArray(requirement) || requirement.length === 0) {
    return { headers: {}, secrets: [], problems };
  }
  for (const alternative of requirement) {
    if (alternative === null || typeof alternative !== "object") continue;
    const names = Object.keys(alternative);
    if (names.length === 0) return { headers: {}, secrets: [], problems: [] };
    const headers: Record<string, string> = {};
    const secrets: string[] = [];
    let ok = true;
    for (const name of names) {
      const made = schemeHeaders(agent, name, schemes[name]);
      if ("problem" in made) {
        problems.push(`security scheme "${name}": ${made.problem}`);
        ok = false;
        break;
      }
      Object.assign(headers, made.headers);
      secrets.push(made.secret);
    }
    if (ok) return { headers, secrets, problems: [] };
  }
  return { headers: {}, secrets: [], problems };
}
