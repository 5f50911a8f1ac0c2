/**
 * LOOM's entry point: run the CLI and exit with its status. The only place
 * that calls `Deno.exit`.
 *
 * @module
 */

import { main, processIo } from "./src/cli/mod.ts";

if (import.meta.main) {
  Deno.exit(await main(Deno.args, processIo()));
}
