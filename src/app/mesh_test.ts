/**
 * The mesh as a tool host, with real parts: configs in a temp directory
 * loaded by the real loader, a real audit log and home, real sandboxed agent
 * host processes and real upstreams on loopback. Refusals first: colliding
 * tool names and duplicate agents refuse the mesh naming both files, a
 * namespaced name over the limit and an invalid config are left out with
 * their problems, an empty directory serves nothing; then routing,
 * namespacing, lazy start, idle stop, crash isolation and a clean close;
 * the agent registry (one batch at open, touched by calls, marked stopped at
 * close; a registry that cannot be written never stops the mesh). Hot reload
 * is `mesh_reload_test.ts`.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ConfigError, NotFoundError } from "../errors.ts";
import { readAuditRecords } from "../security/audit/mod.ts";
import { AgentRegistry, openStore, resolveHome } from "../store/mod.ts";
import { UnknownToolError } from "../mcp/mod.ts";
import { Mesh, type MeshOptions } from "./mesh.ts";
import { MAX_TOOL_NAME_LENGTH } from "./mesh_load.ts";
import { agentYaml, alive, ctx, eventually, fixture, textOf } from "./_mesh_testing.ts";

Deno.test("mesh: two configs serving the same tool name refuse to start, naming both files", async () => {
  await using f = await fixture();
  await f.write("a.yaml", agentYaml("alpha", f.api.url, ["lookup"]));
  await f.write("b.yaml", agentYaml("beta", f.api.url, ["lookup", "other"]));
  const error = await f.open().then(() => null, (e) => e);
  assert.ok(error instanceof ConfigError, String(error));
  const text = error.issues.map((i) => `${i.file}: ${i.message}`).join("\n");
  assert.match(text, /b\.yaml: tool "lookup" is also served by .*a\.yaml/);
  assert.match(text, /--namespace/);
  // Nothing started: no agent lifecycle record was written.
  const records = await readAuditRecords(f.home.audit, {});
  assert.equal(records.filter((r) => r.event === "agent_lifecycle").length, 0);
});

Deno.test("mesh: two configs of the same agent refuse to start, naming both files", async () => {
  await using f = await fixture();
  await f.write("a.yaml", agentYaml("alpha", f.api.url, ["one"]));
  await f.write("b.yml", agentYaml("alpha", f.api.url, ["two"]));
  await assert.rejects(
    () => f.open({ namespace: true }),
    (e: unknown) =>
      e instanceof ConfigError &&
      /b\.yml/.test(e.issues[0].file) &&
      /agent "alpha" is also defined in .*a\.yaml/.test(e.issues[0].message),
  );
});

Deno.test("mesh: an invalid config, a bad signature and a namespaced name over the limit are left out; the others serve", async () => {
  await using f = await fixture();
  await f.write("a.yaml", agentYaml("alpha", f.api.url, ["lookup"]));
  await f.write("broken.yaml", "agent:\n  name: broken\n  exposes: 3\n");
  const long = "x".repeat(MAX_TOOL_NAME_LENGTH - 4);
  await f.write("long.yaml", agentYaml("long-agent", f.api.url, [long]));
  await f.write("notes.txt", "not a config");
  // A signature that does not parse: the config is refused as `loom run` would refuse it.
  await f.write("signed.yaml", agentYaml("signed", f.api.url, ["other"]));
  await f.write("signed.yaml.sig", "not a signature");
  const mesh = await f.open({ namespace: true });
  assert.deepEqual(mesh.listTools().map((t) => t.name), ["alpha__lookup"]);
  const skipped = Object.fromEntries(mesh.skipped.map((s) => [s.file, s.problems.join("\n")]));
  assert.deepEqual(Object.keys(skipped).sort(), [
    join(f.dir, "broken.yaml"),
    join(f.dir, "long.yaml"),
    join(f.dir, "signed.yaml"),
  ]);
  assert.match(skipped[join(f.dir, "signed.yaml")], /signed\.yaml\.sig/);
  // As `loom validate` prints it: file:line:column.
  assert.match(skipped[join(f.dir, "broken.yaml")], /broken\.yaml:3:\d+: agent\.exposes/);
  assert.match(skipped[join(f.dir, "long.yaml")], /long_agent__x+" is 72 characters, over 64/);
});

Deno.test("mesh: a directory with nothing left to serve is an error; a missing one too", async () => {
  await using f = await fixture();
  await assert.rejects(() => f.open(), NotFoundError);
  await f.write("broken.yaml", "agent: {}\n");
  await assert.rejects(
    () => f.open(),
    (e: unknown) => e instanceof NotFoundError && /every config was left out/.test(e.message),
  );
  await assert.rejects(
    () => Mesh.open(join(f.dir, "nope"), {} as MeshOptions),
    (e: unknown) => e instanceof NotFoundError && /does not exist/.test(e.message),
  );
});

Deno.test("mesh: calls are routed to the owning agent's gate; an unknown name is refused", async () => {
  await using f = await fixture();
  await f.write("a.yaml", agentYaml("alpha", f.api.url, ["ping"]));
  await f.write("b.yml", agentYaml("beta", f.api.url, ["pong"]));
  const mesh = await f.open();
  assert.deepEqual(mesh.listTools().map((t) => t.name), ["ping", "pong"]);
  // Listing started no process.
  assert.deepEqual(mesh.agents().map((a) => [a.name, a.hostPid, a.host]), [
    ["alpha", null, "idle"],
    ["beta", null, "idle"],
  ]);
  const pong = await mesh.callTool("pong", {}, ctx());
  assert.equal(pong.isError, undefined, textOf(pong));
  assert.deepEqual(JSON.parse(textOf(pong)), { path: "/beta/pong" });
  // Only beta's process was started by its call.
  assert.equal(mesh.agents()[0].hostPid, null);
  assert.equal(typeof mesh.agents()[1].hostPid, "number");
  const ping = await mesh.callTool("ping", {}, ctx());
  assert.deepEqual(JSON.parse(textOf(ping)), { path: "/alpha/ping" });
  await assert.rejects(() => mesh.callTool("alpha__ping", {}, ctx()), UnknownToolError);
  const outcomes = (await readAuditRecords(f.home.audit, {}))
    .filter((r) => r.event === "tool_call" && r.phase === "outcome").map((r) => [r.agent, r.tool]);
  assert.deepEqual(outcomes, [["beta", "pong"], ["alpha", "ping"]]);
  const starts = (await readAuditRecords(f.home.audit, {}))
    .filter((r) => r.event === "agent_lifecycle").map((r) => [r.agent, r.action, r.transport]);
  // Agents open in parallel: their start records come in either order.
  assert.deepEqual(starts.sort(), [["alpha", "start", "mesh"], ["beta", "start", "mesh"]]);
});

Deno.test("mesh: namespaced names are agent__tool whichever other agents are present", async () => {
  await using f = await fixture();
  await f.write("a.yaml", agentYaml("data-api", f.api.url, ["lookup"]));
  const alone = await f.open({ namespace: true });
  assert.deepEqual(alone.listTools().map((t) => t.name), ["data_api__lookup"]);
  await alone.close();
  await f.write("b.yaml", agentYaml("beta", f.api.url, ["lookup"]));
  const both = await f.open({ namespace: true });
  const names = both.listTools().map((t) => t.name);
  assert.deepEqual(names, ["data_api__lookup", "beta__lookup"]);
  for (const name of names) assert.match(name, /^[a-z0-9_]{1,64}$/);
  const result = await both.callTool("data_api__lookup", {}, ctx());
  assert.deepEqual(JSON.parse(textOf(result)), { path: "/data-api/lookup" });
  // An unknown tool under a known agent's prefix is refused and recorded by that agent's gate.
  await assert.rejects(
    () => both.callTool("data_api__nope", {}, ctx()),
    (e: unknown) => e instanceof UnknownToolError && /"data_api__nope"/.test(e.message),
  );
  await assert.rejects(() => both.callTool("nobody__lookup", {}, ctx()), UnknownToolError);
  const invalid = (await readAuditRecords(f.home.audit, {}))
    .filter((r) => r.event === "tool_call" && r.phase === "outcome" && r.status === "invalid")
    .map((r) => r.agent);
  assert.deepEqual(invalid, ["data-api"]);
});

Deno.test("mesh: an idle agent's host process is stopped; the next call starts it again", async () => {
  await using f = await fixture();
  await f.write("a.yaml", agentYaml("alpha", f.api.url, ["ping"]));
  const mesh = await f.open({ idleMs: 200 });
  await mesh.callTool("ping", {}, ctx());
  const pid = mesh.agents()[0].hostPid;
  assert.equal(typeof pid, "number");
  await eventually(() => mesh.agents()[0].hostPid === null, "host not stopped when idle");
  await eventually(() => !alive(pid!), "idle host process still alive");
  const again = await mesh.callTool("ping", {}, ctx());
  assert.equal(again.isError, undefined, textOf(again));
  const stops = (await readAuditRecords(f.home.audit, {}))
    .filter((r) => r.event === "sandbox_lifecycle" && r.action === "stop").map((r) => r.detail);
  assert.deepEqual(stops, ["idle"]);
});

Deno.test("mesh: one agent's host process killed: the other answers, the killed one comes back", async () => {
  await using f = await fixture();
  await f.write("a.yaml", agentYaml("alpha", f.api.url, ["ping"]));
  await f.write("b.yaml", agentYaml("beta", f.api.url, ["pong"]));
  const mesh = await f.open();
  await mesh.callTool("ping", {}, ctx());
  await mesh.callTool("pong", {}, ctx());
  const [alphaPid, betaPid] = mesh.agents().map((a) => a.hostPid!);
  Deno.kill(alphaPid, "SIGKILL");
  await eventually(() => mesh.agents()[0].host === "down", "crash not noticed");
  const pong = await mesh.callTool("pong", {}, ctx());
  assert.deepEqual(JSON.parse(textOf(pong)), { path: "/beta/pong" });
  assert.equal(mesh.agents()[1].hostPid, betaPid, "beta's process was touched");
  // The killed agent answers again: a clean tool error while its restart backs off, then results.
  let ping = await mesh.callTool("ping", {}, ctx());
  for (let i = 0; i < 50 && ping.isError; i++) {
    await new Promise((r) => setTimeout(r, 100));
    ping = await mesh.callTool("ping", {}, ctx());
  }
  assert.deepEqual(JSON.parse(textOf(ping)), { path: "/alpha/ping" });
  assert.notEqual(mesh.agents()[0].hostPid, alphaPid);
});

Deno.test("mesh: closing stops every agent's host process and records each stop", async () => {
  await using f = await fixture();
  await f.write("a.yaml", agentYaml("alpha", f.api.url, ["ping"]));
  await f.write("b.yaml", agentYaml("beta", f.api.url, ["pong"]));
  const mesh = await f.open();
  await mesh.callTool("ping", {}, ctx());
  await mesh.callTool("pong", {}, ctx());
  const pids = mesh.agents().map((a) => a.hostPid!);
  await mesh.close();
  for (const pid of pids) assert.equal(alive(pid), false, `host ${pid} outlived the mesh`);
  const stops = (await readAuditRecords(f.home.audit, {}))
    .filter((r) => r.event === "agent_lifecycle" && r.action === "stop").map((r) => r.agent);
  assert.deepEqual(stops.sort(), ["alpha", "beta"]);
});

Deno.test("mesh: registers every agent in one batch (transport mesh, a refused signature as skipped), touches on calls, marks each stopped on close", async () => {
  await using f = await fixture();
  await f.write("a.yaml", agentYaml("alpha", f.api.url, ["ping"]));
  await f.write("b.yaml", agentYaml("beta", f.api.url, ["pong"]));
  await f.write("c.yaml", agentYaml("gamma", f.api.url, ["other"]));
  await f.write("c.yaml.sig", "not a signature");
  let clock = Date.parse("2026-12-01T10:00:00Z");
  const errors: string[] = [];
  await using registry = await AgentRegistry.open(f.home, {
    onError: (e) => errors.push(e),
    now: () => clock,
  });
  const mesh = await f.open({ registry });
  using store = await openStore(f.home);
  const row = (name: string) => store.registry.get(name)!;
  for (const name of ["alpha", "beta"]) {
    assert.equal(row(name).status, "running");
    assert.equal(row(name).transport, "mesh");
    assert.equal(row(name).pid, Deno.pid);
  }
  assert.equal(row("gamma").status, "skipped");
  assert.equal(row("gamma").signature, "failed");
  assert.equal(row("gamma").signatureFailure, "malformed");
  const registeredAt = row("alpha").lastSeen;
  clock += 120_000; // past the touch interval
  await mesh.callTool("ping", {}, ctx());
  assert.equal(row("alpha").lastSeen, new Date(clock).toISOString());
  assert.equal(row("beta").lastSeen, registeredAt, "beta was touched without a call");
  await mesh.close();
  assert.equal(row("alpha").status, "stopped");
  assert.equal(row("beta").status, "stopped");
  assert.equal(row("gamma").status, "skipped");
  assert.deepEqual(errors, []);
});

Deno.test("mesh: a registry that cannot be written warns once and the mesh serves on", async () => {
  await using f = await fixture();
  await f.write("a.yaml", agentYaml("alpha", f.api.url, ["ping"]));
  // The registry's state database is a directory: it cannot be opened. (The mesh's own home
  // stays usable: tool pins need it, and a mesh whose pins cannot be kept does not start.)
  const broken = resolveHome(new Map([["LOOM_HOME", join(f.dir, "..", "broken-home")]]));
  await Deno.mkdir(broken.db, { recursive: true });
  const errors: string[] = [];
  await using registry = await AgentRegistry.open(broken, { onError: (e) => errors.push(e) });
  const mesh = await f.open({ registry });
  const ping = await mesh.callTool("ping", {}, ctx());
  assert.deepEqual(JSON.parse(textOf(ping)), { path: "/alpha/ping" });
  await mesh.close();
  assert.equal(errors.length, 1, errors.join("\n"));
  assert.match(errors[0], /serving goes on/);
});
