/**
 * LOOM's entry point: run the CLI and exit with its status. The only place
 * that calls `Deno.exit`.
 *
 * The CLI is imported dynamically so that a dependency Deno cannot fetch
 * (an empty cache and no route to the package registry) ends in one line on
 * stderr naming the package and the cause, with exit status 69
 * (unavailable), instead of Deno's multi-line trace. The specifier stays
 * literal, so `deno bundle` and `deno compile` still include the CLI.
 *
 * @module
 */

import { dependencyFailure } from "./src/cli/load_failure.ts";

if (import.meta.main) {
  let cli: typeof import("./src/cli/mod.ts");
  try {
    cli = await import("./src/cli/mod.ts");
  } catch (error) {
    console.error(dependencyFailure(error));
    Deno.exit(69);
  }
  Deno.exit(await cli.main(Deno.args, cli.processIo()));
}
