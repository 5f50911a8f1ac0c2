/**
 * A registry writer for `registry_test.ts`: registers the agent `shared`
 * (with this writer's own tool set and digest) and the agent `own-TAG`,
 * COUNT times each, through its own connection to `$HOME_DIR/loom.db`.
 * Prints `ready` once the store is open, waits for a line on stdin when the
 * fourth argument is `wait`, then prints `done N`.
 *
 * Usage: deno run --allow-read=DIR --allow-write=DIR register_loop.ts DIR COUNT TAG [wait]
 *
 * @module
 */

import { openStore, resolveHome } from "../mod.ts";
import type { AgentRegistration } from "../mod.ts";

const [dir, countText, tag, wait] = Deno.args;
const count = Number(countText);
const store = await openStore(resolveHome(new Map([["LOOM_HOME", dir]])), {
  busyTimeoutMs: 30_000,
});
console.log("ready");
if (wait === "wait") {
  const reader = Deno.stdin.readable.getReader();
  await reader.read();
  reader.releaseLock();
}

/** The registration of `name` with this writer's tool set. */
function registration(name: string): AgentRegistration {
  const tools = tag === "first" ? 5 : 3;
  return {
    name,
    version: null,
    declaredVersion: tag,
    description: `registered by ${tag}`,
    configPath: `/configs/${tag}.yaml`,
    configDigest: (tag === "first" ? "a" : "b").repeat(64),
    tier: 1,
    sandbox: "deno",
    signature: "unsigned",
    signatureFailure: null,
    status: "running",
    transport: "stdio",
    pid: Deno.pid,
    pidStart: null,
    tools: Array.from({ length: tools }, (_, i) => ({
      name: `${tag}_${i}`,
      title: null,
      description: `tool ${i} of ${tag}`,
      access: "read",
      method: "GET",
      origin: "http://127.0.0.1:9",
      parameters: [{ name: "q", type: "string", required: true }],
    })),
  };
}

let done = 0;
for (let i = 0; i < count; i++) {
  store.registry.register(registration("shared"), new Date());
  store.registry.register(registration(`own-${tag}`), new Date());
  done++;
}
store.close();
console.log(`done ${done}`);
