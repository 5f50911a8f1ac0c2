/**
 * The child side of the agent sandbox: what runs inside the wall. The
 * process entry `agent_main.ts` (and a bundle's `__agent-process`) serves the
 * parent over stdin and stdout (`agent_stdio.ts`); the Worker entry
 * `agent_worker.ts` serves it over messages; both hand each request to
 * `AgentServer` (`agent_server.ts`), which runs the bridge calls.
 *
 * This code is untrusted by the parent and loaded with `--no-npm
 * --no-config --no-remote` and no read permission, so its static module
 * graph holds relative imports only, never an npm or bare specifier
 * (`tests/e2e/sandbox_test.ts` loads `agent_main.ts` that way).
 *
 * @example
 * ```ts
 * import { serveAgentStdio } from "./mod.ts";
 *
 * // Serve a parent on stdin and stdout until stdin closes.
 * await serveAgentStdio();
 * ```
 *
 * @module
 */

export { serveAgentStdio } from "./agent_stdio.ts";
