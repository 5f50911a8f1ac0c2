/**
 * `deno run` entry of the compiled-binary path (`AgentHost` mode `worker`):
 * what `loom __agent-host` does inside a compiled executable, run from
 * source so the same tests cover it. The process must exit even while a
 * read of stdin is pending, hence `Deno.exit` here (like `main.ts`).
 *
 * @module
 */

import { runAgentHostMain } from "./worker_host.ts";

if (import.meta.main) Deno.exit(await runAgentHostMain(Deno.args));
