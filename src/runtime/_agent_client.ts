/**
 * The HTTP client an agent's bridge calls use, in whichever process they run:
 * the gate's in-process executor (`sandbox: none`) and the agent's own host
 * process (`sandbox: deno`) build it the same way, so both keep the same
 * connections alive.
 *
 * @module
 */

import { HttpClient } from "../net/mod.ts";

/**
 * Idle upstream connections an agent keeps per origin. As many as a busy
 * agent has calls in flight: with fewer, every burst closes connections
 * and the next one opens them again (the client's default of 32 made most
 * calls at 64 in flight pay for a new TCP connection).
 */
export const IDLE_CONNECTIONS_PER_ORIGIN = 128;

/**
 * The HTTP client of one agent's executor, in process or in its host
 * process: connections kept alive per origin, closed with the executor.
 *
 * @returns a new client
 */
export function agentHttpClient(): HttpClient {
  return new HttpClient({ maxIdlePerOrigin: IDLE_CONNECTIONS_PER_ORIGIN });
}
