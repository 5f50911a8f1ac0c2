/**
 * `agent.mcp_upstream`: gateway mode. Instead of HTTP bridges, an agent may
 * put an existing MCP server behind its gate: a program LOOM starts and
 * speaks to over stdio (`command`), or a server it reaches over streamable
 * HTTP (`url`). The upstream's tools are listed through the gate, optionally
 * only a chosen few (`tools`), renamed, with the access LOOM assumes for
 * each.
 *
 * A stdio command whose first word is a module (`npm:` or `jsr:` specifier,
 * or a `.ts`, `.js`, `.mjs`, `.mts` file) runs under Deno with the
 * permission flags `permissions` grants and nothing else; any other program
 * cannot be walled in by LOOM, so it needs `runtime.sandbox: none`, said out
 * loud (`_upstream_checks.ts`).
 *
 * @example
 * ```yaml
 * agent:
 *   name: memory
 *   mcp_upstream:
 *     command: ["npm:@modelcontextprotocol/server-memory"]
 * ```
 *
 * @module
 */

import { z } from "zod";
import { HEADER_NAME, SECRET_NAME } from "../_util/template.ts";
import * as limits from "./tool_limits.ts";
import { formatPath, type YamlSource } from "./_path.ts";
import { inputSchemaProblems } from "./input_schema.ts";

/** An environment variable name: letters, digits and `_`, not starting with a digit. */
export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/** A stdio command's first word that LOOM runs with Deno under permission flags. */
export function isDenoModule(program: string): boolean {
  return /^(?:npm|jsr):/.test(program) || /\.(?:ts|js|mjs|mts)$/.test(program);
}

/** One entry of a permission list: Deno joins each list with commas, so none may hold one. */
const PermissionEntry = (max: number) =>
  z.string().min(1).max(max).refine((text) => !text.includes(","), {
    error: "A permission entry may not contain a comma",
  });

const EnvName = z.string().regex(ENV_NAME, {
  error: "Environment variable name must be letters, digits and _ (not starting with a digit)",
});

/** Deno permission lists for a module upstream; each list is passed as one `--allow-*` flag. */
export const UpstreamPermissions = z.strictObject({
  read: z.array(PermissionEntry(4096)).max(64).default([]).meta({
    description: "Paths it may read (--allow-read)",
  }),
  write: z.array(PermissionEntry(4096)).max(64).default([]).meta({
    description: "Paths it may write (--allow-write)",
  }),
  net: z.array(PermissionEntry(300)).max(64).default([]).meta({
    description: "host[:port] it may reach (--allow-net)",
  }),
  env: z.array(EnvName).max(64).default([]).meta({
    description:
      "Further variables it may read (--allow-env); the names of env and env_secrets are added",
  }),
  sys: z.array(z.string().regex(/^[a-zA-Z]{1,32}$/)).max(16).default([]).meta({
    description: "System information it may read, such as hostname or osRelease (--allow-sys)",
  }),
});
/** What people write for `permissions`. */
export type UpstreamPermissions = z.input<typeof UpstreamPermissions>;

/** One upstream tool chosen for exposure. */
export const UpstreamTool = z.strictObject({
  name: z.string().min(1).max(128).meta({ description: "The upstream's own tool name" }),
  as: z.string().regex(limits.TOOL_NAME, { error: limits.toolNameError }).optional().meta({
    description: "The name LOOM lists it under (default: its own, which must then be valid)",
  }),
  access: z.enum(["read", "write"]).optional().meta({
    description:
      "read observes, write changes state; default: read only when the upstream marks it readOnlyHint",
  }),
  rate_limit: z.strictObject({ per_minute: z.int().min(1).max(1_000_000) }).optional(),
});
/** What people write for one chosen tool. */
export type UpstreamTool = z.input<typeof UpstreamTool>;

/** `agent.mcp_upstream`. */
export const McpUpstream = z.strictObject({
  command: z.array(z.string().min(1).max(4096)).min(1).max(64).optional().meta({
    description: "stdio: the program (or Deno module) and its arguments; never a shell line",
  }),
  url: z.string().min(1).max(4096).optional().meta({
    description: "Streamable HTTP: the server's MCP endpoint",
  }),
  era: z.enum(["auto", "2025", "2026-07-28"]).default("auto").meta({
    description: "HTTP only: which protocol revision to speak (auto tries 2026-07-28 first)",
  }),
  headers: z.record(
    z.string().regex(HEADER_NAME, { error: "Header name must be an RFC 9110 token" }),
    z.string().max(8192),
  ).default({}).meta({
    description: "HTTP only: headers sent on every request; credentials only as {{secret:NAME}}",
  }),
  env: z.record(EnvName, z.string().max(8192)).default({}).meta({
    description: "stdio only: literal environment values (not secrets); the rest is cleared",
  }),
  env_secrets: z.record(
    EnvName,
    z.string().regex(SECRET_NAME, { error: "Secret name must be 1-128 of A-Z a-z 0-9 _ . -" }),
  ).default({}).meta({
    description: "stdio only: environment variable -> secret name in the credential broker",
  }),
  cwd: z.string().min(1).max(4096).optional().meta({
    description: "stdio only: the working directory",
  }),
  permissions: UpstreamPermissions.prefault({}).meta({
    description: "stdio module only: what Deno lets it do; nothing else is allowed",
  }),
  tools: z.array(UpstreamTool).min(1).max(1000).optional().meta({
    description: "Which upstream tools to expose (default: all, write tools only from tier 2)",
  }),
  allow_sampling: z.boolean().default(false).meta({
    description: "Answer the upstream's sampling requests (refused by default; not yet served)",
  }),
  allow_elicitation: z.boolean().default(false).meta({
    description: "Pass the upstream's elicitation requests on (refused by default; not yet served)",
  }),
  start_timeout: z.string().regex(/^\d{1,6}(?:ms|s)$/).default("30s").meta({
    description: "How long starting and listing the upstream may take (default 30s)",
  }),
});
/** What people write for `mcp_upstream`. */
export type McpUpstream = z.input<typeof McpUpstream>;

/**
 * The name LOOM lists an upstream tool under when the config does not
 * rename it: lower case, with every character a tool name here may not hold
 * (`-`, `.`, `/`, ...) as `_`: `get-sum` is listed as `get_sum`.
 *
 * @param name the upstream's own name
 * @returns the listed name, or null when none can be made (empty, or over 64 characters)
 */
export function listedUpstreamName(name: string): string | null {
  const listed = name.toLowerCase().replace(/[^a-z0-9_]/g, "_");
  return limits.TOOL_NAME.test(listed) ? listed : null;
}

/** `$schema` values of dialects whose common keywords mean what they mean in 2020-12. */
const KNOWN_DIALECTS: ReadonlySet<string> = new Set([
  "http://json-schema.org/draft-07/schema#",
  "http://json-schema.org/draft-07/schema",
  "https://json-schema.org/draft/2019-09/schema",
  "https://json-schema.org/draft/2020-12/schema",
]);

/**
 * An upstream tool's input schema as the gate checks it, or the reason it
 * cannot be checked. MCP servers commonly label their schemas draft-07 while
 * using only keywords that mean the same in 2020-12 (`type`, `properties`,
 * `required`, `items`, `enum`, bounds): the label is dropped, and the schema
 * must then pass every rule a config's `input_schema` must
 * (`input_schema.ts`), so the gate's validator checks all of it. A schema
 * that does not is not guessed at: its tool is not served.
 *
 * @param schema the upstream's `inputSchema`
 * @returns the schema to check calls against, or the first problem found
 */
export function upstreamInputSchema(
  schema: Record<string, unknown>,
): { ok: true; schema: Record<string, unknown> } | { ok: false; problem: string } {
  const copy: Record<string, unknown> = { ...schema };
  const dialect = copy.$schema;
  if (typeof dialect === "string" && KNOWN_DIALECTS.has(dialect)) delete copy.$schema;
  const positionless: YamlSource = {
    locate: () => ({ line: 0, column: 0 }),
    at: (path, message) => ({ line: 0, column: 0, path: formatPath(path), message }),
  };
  const problems = inputSchemaProblems(copy, [], positionless);
  if (problems.length === 0) return { ok: true, schema: copy };
  const first = problems[0];
  return {
    ok: false,
    problem: first.path === "" ? first.message : `${first.path}: ${first.message}`,
  };
}
