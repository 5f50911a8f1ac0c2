/**
 * MCP for LOOM: the protocol engine, the stdio transport, JSON-RPC helpers,
 * and (through the `_sdk.ts` seam) the SDK client used by `loom probe`, the
 * demo and the tests.
 *
 * @example
 * ```ts
 * import { McpEngine, serveStdio } from "./mod.ts";
 * const engine = new McpEngine({ listTools: () => [], callTool: () => { throw new Error() } },
 *   { name: "demo", version: "1.0.0" });
 * await serveStdio(engine, { input: Deno.stdin.readable, output: Deno.stdout.writable });
 * ```
 *
 * @module
 */

export * from "./engine.ts";
export * from "./jsonrpc.ts";
export * from "./stdio.ts";
export {
  Client,
  LATEST_PROTOCOL_VERSION,
  StdioClientTransport,
  StreamableHTTPClientTransport,
  SUPPORTED_PROTOCOL_VERSIONS,
} from "./_sdk.ts";
