/**
 * `loom generate --discover URL`: find the target's OpenAPI document and sum
 * it up for the model (`src/generator/discover.ts`), saying on stderr what
 * was found.
 *
 * @module
 */

import { findOpenApi, summarizeOpenApi } from "../generator/mod.ts";
import { NotFoundError } from "../errors.ts";
import type { CliIo } from "./_io.ts";

/** What discovery gives the generator. */
export interface Discovered {
  summary: string;
  /** `URL.host` values the bridges may use. */
  hosts: string[];
}

/**
 * Discover `url`'s OpenAPI document.
 *
 * @throws {NotFoundError} when it has none at the usual paths
 */
export async function discover(
  url: string,
  allowNetworks: readonly string[],
  io: CliIo,
): Promise<Discovered> {
  const found = await findOpenApi(url, { allowNetworks });
  if (found === null) {
    throw new NotFoundError(
      `No OpenAPI document at ${url.slice(0, 200)} or the usual paths under it ` +
        "(/openapi.json, /swagger.json, ...): describe the API in words instead, with its base URL",
    );
  }
  const summary = summarizeOpenApi(found);
  io.err(`Discovered ${summary.operations} operations in ${found.url}\n`);
  const target = new URL(found.url).host.toLowerCase();
  const hosts = summary.hosts.includes(target) ? summary.hosts : [...summary.hosts, target];
  return { summary: summary.summary, hosts };
}
