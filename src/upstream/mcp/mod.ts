/**
 * LOOM's client of an upstream MCP server (gateway mode): a program run
 * over stdio (its environment cleared, its process group killed on close,
 * restarted with backoff after a crash), or a streamable HTTP endpoint of
 * either protocol era behind the same destination check as a bridge.
 *
 * @example
 * ```ts
 * import { McpUpstream } from "./mod.ts";
 *
 * const upstream = new McpUpstream(
 *   { kind: "stdio", command: ["npm:@modelcontextprotocol/server-everything", "stdio"],
 *     denoFlags: ["--no-prompt", "--allow-env"], env: {} },
 *   { name: "everything" },
 * );
 * try {
 *   const tools = await upstream.listTools(AbortSignal.timeout(30_000));
 *   const result = await upstream.callTool("echo", { message: "hi" }, {
 *     signal: AbortSignal.timeout(10_000),
 *   });
 * } finally {
 *   await upstream.close();
 * }
 * ```
 *
 * @module
 */

export * from "./types.ts";
export {
  ACCEPTED_PROTOCOL_VERSIONS,
  CLIENT_PROTOCOL_VERSION,
  DEFAULT_MAX_MESSAGE_BYTES,
  MAX_PAGES,
  MAX_TOOLS,
  McpUpstream,
} from "./upstream.ts";
export { UpstreamRpcError } from "./_errors.ts";
export { HttpStatusError } from "./_http.ts";
export { stdioCommand } from "./_stdio.ts";
