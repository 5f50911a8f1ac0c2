/**
 * Entry of the agent Worker, used where LOOM runs as a compiled binary and
 * cannot start `deno run` with its own flags (see `../parent/worker_host.ts`). The
 * Worker is created with every permission key given explicitly; it serves
 * the same protocol as `agent_main.ts`, one message per `postMessage`.
 *
 * @module
 */

import { AgentServer, removeDiskGlobals } from "./agent_server.ts";
import type { ParentMessage } from "../protocol.ts";

/** The part of a worker's global scope used here (no `deno.worker` lib in a shared check). */
interface WorkerScope {
  postMessage(message: unknown): void;
  onmessage: ((event: MessageEvent<ParentMessage>) => void) | null;
}

const scope = globalThis as unknown as WorkerScope;
removeDiskGlobals();
const server = new AgentServer((message) => scope.postMessage(message));
scope.onmessage = (event) => server.handle(event.data);
