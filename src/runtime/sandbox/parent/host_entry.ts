/**
 * Which program a sandboxed agent host process runs: LOOM's own module
 * graph decides, so every way of running LOOM finds its host.
 *
 * - From source (`deno run main.ts`, `deno task loom`, the installed `loom`
 *   command): `../child/agent_main.ts`, a small graph of relative imports.
 * - From a single-file bundle (`deno task bundle`): every module of the
 *   bundle shares the bundle's URL, so `agent_main.ts` is not there to find.
 *   The bundle is its own agent host: the child runs the same file with the
 *   hidden argument {@linkcode AGENT_PROCESS_ARG}, and a copied bundle needs
 *   nothing beside it. The child's flags are the same either way (the
 *   module itself loads without read permission).
 *
 * A compiled executable uses its own path instead (`__agent-host`, a Worker,
 * see `worker_host.ts`).
 *
 * @module
 */

import { fileURLToPath } from "node:url";

/** The hidden CLI argument that makes a bundled LOOM serve as an agent host. */
export const AGENT_PROCESS_ARG = "__agent-process";

/** This module's URL; inside a bundle, the bundle's. */
const SELF = import.meta.url;

/** The program of an agent host process, and where it came from. */
export interface HostEntry {
  /** `source`: `agent_main.ts` of a checkout; `bundle`: the bundle file itself. */
  kind: "source" | "bundle";
  /** Path of the module to run (a URL when it is not a local file). */
  module: string;
  /** Arguments after the module. */
  args: string[];
}

/** Whether this module runs from a bundle: its URL is not its own file's. */
export function isBundled(url: string = SELF): boolean {
  return !/\/runtime\/sandbox\/parent\/host_entry\.ts$/.test(url);
}

function pathOf(url: URL): string {
  return url.protocol === "file:" ? fileURLToPath(url) : url.href;
}

/**
 * The agent host program of this LOOM.
 *
 * @param url the URL this module was loaded from (tests pass a bundle's)
 * @returns the module to run and its arguments
 */
export function hostEntry(url: string = SELF): HostEntry {
  if (isBundled(url)) {
    return { kind: "bundle", module: pathOf(new URL(url)), args: [AGENT_PROCESS_ARG] };
  }
  return { kind: "source", module: pathOf(new URL("../child/agent_main.ts", url)), args: [] };
}
