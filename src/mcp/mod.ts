/**
 * MCP for LOOM: the protocol engine, the stdio transport and JSON-RPC helpers.
 *
 * This module does not load the MCP SDK, so serving (`loom run`) never pays
 * for it; the SDK client used by the demo, the bench and the tests lives in
 * `client.ts`.
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
