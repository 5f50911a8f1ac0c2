/**
 * Upstreams: where a tool call goes once the gate has let it through.
 *
 * - `http/`: the HTTP bridge, a tool described as one HTTP request (render,
 *   execute, shape; {@linkcode runBridge}).
 * - An MCP server behind LOOM (gateway mode) will be the second kind, beside
 *   it, behind the same gate.
 *
 * The network itself (destination policy, the HTTP/1.1 client) is
 * `src/net/`, below this layer.
 *
 * @module
 */

export * from "./http/mod.ts";
export * from "./mcp/mod.ts";
