/**
 * LOOM's web edge: the streamable HTTP MCP transport (Hono), its guards and,
 * later, the dashboard. The only importer of `hono`.
 *
 * @example
 * ```ts
 * import { serveMcpHttp } from "./mod.ts";
 * import { McpEngine } from "../mcp/mod.ts";
 * const engine = new McpEngine({ listTools: () => [], callTool: () => { throw new Error() } },
 *   { name: "demo", version: "1.0.0" });
 * const server = await serveMcpHttp(engine, { port: 0 });
 * console.log(server.url);
 * await server.shutdown();
 * ```
 *
 * @module
 */

export * from "./guard.ts";
export * from "./mcp_http.ts";
export * from "./oauth.ts";
export * from "./serve.ts";
export * as dashboard from "./dashboard/mod.ts";
