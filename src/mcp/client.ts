/**
 * The MCP SDK's client, for the demo, the bench and the tests: a separate
 * entry point from `mod.ts` so that serving never loads the SDK (its modules
 * take tens of milliseconds to evaluate, a large share of start-up).
 *
 * @example
 * ```ts
 * import { Client, StreamableHTTPClientTransport } from "./client.ts";
 * const client = new Client({ name: "demo", version: "1.0.0" });
 * await client.connect(new StreamableHTTPClientTransport(new URL("http://127.0.0.1:8400/mcp")));
 * console.log(await client.listTools());
 * await client.close();
 * ```
 *
 * @module
 */

export {
  Client,
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  StdioClientTransport,
  StreamableHTTPClientTransport,
} from "./_sdk.ts";
