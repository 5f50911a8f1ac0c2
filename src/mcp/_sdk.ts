/**
 * The one seam through which LOOM imports `@modelcontextprotocol/sdk`.
 *
 * On Deno, the SDK's `.js` subpath imports type-check as `any` unless a
 * `@ts-types` directive points at the declaration file, so every import here
 * carries one. Everything else imports from this file: `client.ts` (the SDK
 * client for the demo, the bench and the tests) and the test that checks the
 * engine's protocol versions against the SDK's. The server side (`mod.ts`)
 * never imports it, so serving does not pay for evaluating the SDK.
 *
 * @module
 */

// @ts-types="@modelcontextprotocol/sdk/types"
export {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  LATEST_PROTOCOL_VERSION,
  SUPPORTED_PROTOCOL_VERSIONS,
} from "@modelcontextprotocol/sdk/types.js";
// @ts-types="@modelcontextprotocol/sdk/client/index"
export { Client } from "@modelcontextprotocol/sdk/client/index.js";
// @ts-types="@modelcontextprotocol/sdk/client/streamableHttp"
export { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
// @ts-types="@modelcontextprotocol/sdk/client/stdio"
export { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
