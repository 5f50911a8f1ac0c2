/**
 * What the upstream lists and says of itself, read defensively: a malformed
 * tool is left out, names and versions are bounded.
 *
 * @module
 */

import { isObject } from "./_rpc.ts";
import type { UpstreamServerInfo, UpstreamToolDefinition } from "./types.ts";

/** A listed tool, or null when malformed. */
export function toolOf(entry: unknown): UpstreamToolDefinition | null {
  if (!isObject(entry) || typeof entry.name !== "string" || entry.name === "") return null;
  if (!isObject(entry.inputSchema)) return null;
  const tool: UpstreamToolDefinition = { name: entry.name, inputSchema: entry.inputSchema };
  if (typeof entry.title === "string") tool.title = entry.title;
  if (typeof entry.description === "string") tool.description = entry.description;
  if (isObject(entry.outputSchema)) tool.outputSchema = entry.outputSchema;
  if (isObject(entry.annotations)) tool.annotations = entry.annotations;
  return tool;
}

/** What the handshake learned, bounded. */
export function describe(
  version: string,
  serverInfo: unknown,
  instructions: unknown,
): UpstreamServerInfo {
  const info: UpstreamServerInfo = { protocolVersion: version };
  if (isObject(serverInfo)) {
    if (typeof serverInfo.name === "string") info.serverName = serverInfo.name.slice(0, 128);
    if (typeof serverInfo.version === "string") {
      info.serverVersion = serverInfo.version.slice(0, 64);
    }
  }
  if (typeof instructions === "string") info.instructions = instructions;
  return info;
}
