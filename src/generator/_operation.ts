/**
 * One OpenAPI operation as one LOOM tool and its HTTP bridge: parameters of
 * the path, the query and headers, and a JSON request body whose top-level
 * properties become parameters (`body_template`). An operation that cannot be
 * imported says why.
 *
 * @module
 */

import { MANAGED_HEADERS } from "../_util/http_headers.ts";
import { follow, type SpecFiles } from "./_refs.ts";
import { type Param, toParam } from "./_schema.ts";
import { cleanText } from "./_text.ts";

/** HTTP methods an OpenAPI path item may hold, in document order. */
export const OPERATION_METHODS = ["get", "put", "post", "delete", "options", "head", "patch"];
const READ_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);
const PARAM_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
const RESERVED = new Set(Object.getOwnPropertyNames(Object.prototype));

type Node = Record<string, unknown>;

/** One operation found in the document. */
export interface Operation {
  method: string;
  path: string;
  /** `operationId`, or "" when absent. */
  id: string;
  /** How reports name it: the operation id, or `METHOD /path`. */
  label: string;
  tags: string[];
  node: Node;
  /** The path item's own parameters. */
  shared: unknown[];
  file: string;
}

/** A tool and its bridge, as written in a config. */
export interface Draft {
  operation: Operation;
  tool: {
    name: string;
    description: string;
    access: "read" | "write";
    parameters: Record<string, Param>;
  };
  bridge: {
    tool_name: string;
    method: string;
    url: string;
    query_params: Record<string, string>;
    headers: Record<string, string>;
    body_template: unknown;
  };
  /** Things left out of an imported operation. */
  notes: string[];
}

/** Every operation of the document's `paths`, in document order. */
export function listOperations(spec: SpecFiles, doc: Node): Operation[] {
  const out: Operation[] = [];
  const paths = doc.paths;
  if (!paths || typeof paths !== "object") return out;
  for (const [path, raw] of Object.entries(paths as Node)) {
    const item = follow(spec, raw, spec.main);
    if (!item.value || typeof item.value !== "object") continue;
    const node = item.value as Node;
    for (const method of OPERATION_METHODS) {
      const op = node[method];
      if (!op || typeof op !== "object") continue;
      const o = op as Node;
      const id = typeof o.operationId === "string" ? o.operationId : "";
      out.push({
        method: method.toUpperCase(),
        path,
        id,
        label: id || `${method.toUpperCase()} ${path}`,
        tags: Array.isArray(o.tags) ? o.tags.filter((t) => typeof t === "string") : [],
        node: o,
        shared: Array.isArray(node.parameters) ? node.parameters : [],
        file: item.file,
      });
    }
  }
  return out;
}

/** `getUserRepos`, `repos/get-content`: as snake_case. */
export function snakeCase(text: string): string {
  return text.replace(/([a-z0-9])([A-Z])/g, "$1_$2").replace(/([A-Z]+)([A-Z][a-z])/g, "$1_$2")
    .toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^_+|_+$/g, "");
}

/**
 * A unique name of at most `max` characters from `base`, suffixed `_2`, `_3`,
 * ... when taken; records it in `taken`.
 */
export function uniqueName(base: string, taken: Set<string>, max = 64): string {
  let name = base.slice(0, max).replace(/_+$/, "") || "x";
  for (let n = 2; taken.has(name); n++) {
    const suffix = `_${n}`;
    name = base.slice(0, max - suffix.length).replace(/_+$/, "") + suffix;
  }
  taken.add(name);
  return name;
}

/** The base of a tool name: the operation id, or method and path, in snake_case. */
export function toolBase(op: Operation): string {
  let base = snakeCase(op.id) || snakeCase(`${op.method}_${op.path}`) || "operation";
  if (base.startsWith("loom_")) base = `op_${base}`;
  return base;
}

function paramName(name: string, taken: Set<string>): string {
  let safe = name.replace(/[^A-Za-z0-9_]+/g, "_");
  if (!/^[A-Za-z_]/.test(safe)) safe = `_${safe}`;
  if (RESERVED.has(safe)) safe = `${safe}_`;
  safe = uniqueName(safe, taken);
  return PARAM_NAME.test(safe) ? safe : uniqueName("param", taken);
}

/** Why an operation is skipped. */
export class Skip extends Error {}

/**
 * Build the tool of one operation.
 *
 * @throws {Skip} with the reason when it cannot be imported
 */
export function draftOperation(
  spec: SpecFiles,
  op: Operation,
  name: string,
  baseUrl: string,
  auth: Record<string, string>,
): Draft {
  const notes: string[] = [];
  const taken = new Set<string>();
  const parameters: Record<string, Param> = {};
  const query: Record<string, string> = {};
  const headers: Record<string, string> = { ...auth };
  let path = op.path;
  let bodySchema: { schema: unknown; file: string; required: boolean } | undefined;
  for (const p of mergedParameters(spec, op)) {
    const where = p.node.in;
    const original = String(p.node.name ?? "");
    const required = where === "path" || p.node.required === true;
    if (where === "body") {
      bodySchema = { schema: p.node.schema, file: p.file, required };
      continue;
    }
    if (where === "formData" || where === "cookie") {
      if (required) throw new Skip(`required ${where} parameter "${original}" is not supported`);
      notes.push(`optional ${where} parameter "${original}" left out`);
      continue;
    }
    if (where === "header" && MANAGED_HEADERS.has(original.toLowerCase())) {
      if (required) throw new Skip(`required header "${original}" is set by LOOM`);
      continue;
    }
    if (where === "header" && !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(original)) {
      throw new Skip(`header parameter "${original}" is not a valid header name`);
    }
    const schema = p.node.schema ?? p.node; // Swagger 2.0 puts type on the parameter
    const converted = toParam(spec, schema, p.file);
    if ("problem" in converted) {
      if (required) throw new Skip(`parameter "${original}": ${converted.problem}`);
      notes.push(`optional parameter "${original}" left out: ${converted.problem}`);
      continue;
    }
    const safe = paramName(original, taken);
    const param: Param = { ...converted.param, required };
    const description = cleanText(p.node.description, 1024);
    if (description) param.description = description;
    if (where === "path") {
      if (param.type === "array" || param.type === "object") param.type = "string";
      delete param.default;
      if (!path.includes(`{${original}}`)) continue;
      path = path.replaceAll(`{${original}}`, `{{${safe}}}`);
    } else if (where === "query") {
      query[safe] = original;
    } else if (where === "header") {
      headers[original] = `{{${safe}}}`;
    } else {
      throw new Skip(`parameter "${original}" is in ${JSON.stringify(where)}`);
    }
    parameters[safe] = param;
  }
  if (/\{[^{}]*\}/.test(path.replace(/\{\{[A-Za-z0-9_]+\}\}/g, ""))) {
    throw new Skip("the path names a parameter the operation does not declare");
  }
  bodySchema ??= requestBody(spec, op);
  let body: unknown = null;
  if (bodySchema && op.method !== "GET" && op.method !== "HEAD") {
    body = mapBody(spec, bodySchema, parameters, taken, notes);
  }
  const summary = cleanText(op.node.summary, 4096);
  const long = cleanText(op.node.description, 4096);
  const text = [summary, long && long !== summary ? long : ""].filter(Boolean).join("\n\n");
  return {
    operation: op,
    tool: {
      name,
      description: cleanText(text, 4096) || `${op.method} ${op.path}`,
      access: READ_METHODS.has(op.method) ? "read" : "write",
      parameters,
    },
    bridge: {
      tool_name: name,
      method: op.method,
      url: `${baseUrl}${path}`,
      query_params: query,
      headers,
      body_template: body,
    },
    notes,
  };
}

/** Path-item and operation parameters, the operation's winning on (name, in). */
function mergedParameters(spec: SpecFiles, op: Operation): { node: Node; file: string }[] {
  const byKey = new Map<string, { node: Node; file: string }>();
  for (
    const raw of [...op.shared, ...(Array.isArray(op.node.parameters) ? op.node.parameters : [])]
  ) {
    const f = follow(spec, raw, op.file);
    if (!f.value || typeof f.value !== "object") continue;
    const node = f.value as Node;
    byKey.set(`${String(node.in)}:${String(node.name)}`, { node, file: f.file });
  }
  return [...byKey.values()];
}

/** A 3.x JSON request body's schema. */
function requestBody(
  spec: SpecFiles,
  op: Operation,
): { schema: unknown; file: string; required: boolean } | undefined {
  if (op.node.requestBody === undefined) return undefined;
  const f = follow(spec, op.node.requestBody, op.file);
  const rb = f.value as Node | null;
  if (!rb || typeof rb !== "object") return undefined;
  const content = (rb.content ?? {}) as Node;
  const type = Object.keys(content).find((t) => /^application\/([\w.-]+\+)?json\b/i.test(t));
  const required = rb.required === true;
  if (type === undefined) {
    if (required) {
      throw new Skip(`request body is not JSON (${Object.keys(content).join(", ") || "none"})`);
    }
    return undefined;
  }
  return { schema: (content[type] as Node | null)?.schema ?? {}, file: f.file, required };
}

function mapBody(
  spec: SpecFiles,
  body: { schema: unknown; file: string; required: boolean },
  parameters: Record<string, Param>,
  taken: Set<string>,
  notes: string[],
): unknown {
  const converted = toParam(spec, body.schema, body.file);
  if ("problem" in converted || converted.param.type !== "object") {
    const why = "problem" in converted ? converted.problem : `type ${converted.param.type}`;
    if (body.required) throw new Skip(`request body is not a JSON object (${why})`);
    notes.push(`optional request body left out: it is not a JSON object (${why})`);
    return null;
  }
  const properties = converted.param.properties;
  if (properties === undefined) {
    const safe = paramName("body", taken);
    parameters[safe] = { type: "object", required: body.required, description: "Request body" };
    return `{{${safe}}}`;
  }
  const template: Record<string, string> = {};
  for (const [name, child] of Object.entries(properties)) {
    const safe = paramName(name, taken);
    parameters[safe] = { ...child, required: body.required && child.required === true };
    template[name] = `{{${safe}}}`;
  }
  return template;
}
