/**
 * The one seam through which LOOM imports `@modelcontextprotocol/sdk`.
 *
 * On Deno, the SDK's `.js` subpath imports type-check as `any` unless a
 * `@ts-types` directive points at the declaration file, so every import here
 * carries one. Everything else imports from this file.
 *
 * @module
 */

// @ts-types="@modelcontextprotocol/sdk/types"
export {
  LATEST_PROTOCOL_VERSION,
  SUPPORTED_PROTOCOL_VERSIONS,
} from "@modelcontextprotocol/sdk/types.js";
// @ts-types="@modelcontextprotocol/sdk/client/index"
export { Client } from "@modelcontextprotocol/sdk/client/index.js";
// @ts-types="@modelcontextprotocol/sdk/client/streamableHttp"
export { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
// @ts-types="@modelcontextprotocol/sdk/client/stdio"
export { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
