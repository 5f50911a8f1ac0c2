/**
 * The bench's seam for the MCP SDK's server side (LOOM's own seam,
 * `src/mcp/_sdk.ts`, exposes only the client). On Deno the SDK's `.js`
 * subpaths type-check as `any` without a `@ts-types` line, so each import
 * carries one.
 *
 * @module
 */

// @ts-types="@modelcontextprotocol/sdk/server/mcp"
export { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
// @ts-types="@modelcontextprotocol/sdk/server/streamableHttp"
export { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
// @ts-types="@modelcontextprotocol/sdk/server/express"
export { createMcpExpressApp } from "@modelcontextprotocol/sdk/server/express.js";
// @ts-types="@modelcontextprotocol/sdk/types"
export { isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";
