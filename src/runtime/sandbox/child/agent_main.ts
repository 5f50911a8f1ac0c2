/**
 * Entry of the agent host process (`sandbox: deno`). LOOM starts it as
 *
 *     deno run --no-prompt --no-config --no-remote --no-npm
 *       --allow-net=<bridge origins> --deny-net=<private ranges>
 *       --v8-flags=--max-old-space-size=<MB> agent_main.ts
 *
 * with a cleared environment (see `../parent/launch.ts`), and speaks
 * newline-delimited JSON on stdin and stdout (`../protocol.ts`). stdout carries
 * protocol only. The process ends when stdin closes.
 *
 * Its static module graph is relative imports only, with no npm or bare
 * specifier, so it loads under `--no-npm --no-config` without read
 * permission. The work is in `agent_stdio.ts`.
 *
 * @module
 */

import { serveAgentStdio } from "./agent_stdio.ts";

if (import.meta.main) await serveAgentStdio();
