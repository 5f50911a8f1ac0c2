/**
 * Hot reload of the mesh, with real files in a temp directory watched by
 * the real watcher, real agent host processes, real upstreams on loopback,
 * and real clients over HTTP: the SDK client (a 2025-11-25 session) and a
 * 2026-07-28 `subscriptions/listen` stream. Refusals first: a broken edit,
 * an edit whose signature does not match (or is missing when signatures are
 * required) and a collision-creating edit never replace the serving
 * version; then a good edit (written as editors do, to a temporary file
 * renamed over the config), added and removed files, and a call in flight
 * that finishes on the version it started with. Every wait is bounded.
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { readAuditRecords } from "../security/audit/mod.ts";
import { generateSigningKey, loadSigningKey, signConfig } from "../security/signing/mod.ts";
import { AgentRegistry, openStore } from "../store/mod.ts";
import { approveToolPin } from "../security/pinning/mod.ts";
import { META, MODERN_PROTOCOL_VERSION } from "../mcp/mod.ts";
import { Client, StreamableHTTPClientTransport } from "../mcp/client.ts";
import { serveMcpHttp } from "../web/mod.ts";
import type { Mesh, MeshReloadReport } from "./mesh.ts";
import {
  agentYaml,
  alive,
  ctx,
  eventually,
  type Fixture,
  fixture,
  textOf,
} from "./_mesh_testing.ts";

/** Longest wait for one reload (the watcher, the debounce, loading, a host start). */
const RELOAD_WAIT_MS = 15_000;

/** A mesh of alpha (`ping`) and beta (`pong`) that watches its directory, with its reports. */
async function watchedMesh(f: Fixture, options: Parameters<Fixture["open"]>[0] = {}) {
  await f.write("a.yaml", agentYaml("alpha", f.api.url, ["ping"]));
  await f.write("b.yaml", agentYaml("beta", f.api.url, ["pong"]));
  const reports: MeshReloadReport[] = [];
  const mesh = await f.open({
    watch: true,
    debounceMs: 50,
    onReload: (r) => reports.push(r),
    ...options,
  });
  /** The next report that `matches`, waited for (bounded). */
  const report = async (matches: (r: MeshReloadReport) => boolean, from = reports.length) => {
    await eventually(
      () => reports.slice(from).some(matches),
      "no such reload",
      RELOAD_WAIT_MS / 50,
    );
    return reports.slice(from).find(matches)!;
  };
  return { mesh, reports, report };
}

/** Write a file as editors do: a temporary file, renamed over the target. */
async function writeByRename(f: Fixture, file: string, text: string): Promise<void> {
  const temp = join(f.dir, `.${file}.tmp`);
  await Deno.writeTextFile(temp, text);
  await Deno.rename(temp, join(f.dir, file));
}

function names(mesh: Mesh): string[] {
  return mesh.listTools().map((t) => t.name);
}

/** A promise that rejects after `ms` (cleared when `work` settles). */
async function bounded<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function lifecycle(f: Fixture) {
  return (await readAuditRecords(f.home.audit, {}))
    .filter((r) => r.event === "agent_lifecycle")
    .map((r) => r as unknown as { agent: string; action: string; file?: string; reason?: string });
}

Deno.test("mesh reload: a broken edit keeps the old version serving and is reported at file:line:column", async () => {
  await using f = await fixture();
  const { mesh, report } = await watchedMesh(f);
  await writeByRename(f, "a.yaml", "agent:\n  name: alpha\n  exposes: 3\n");
  const refused = await report((r) => r.refused.length > 0);
  assert.equal(refused.refused[0].file, join(f.dir, "a.yaml"));
  assert.equal(refused.refused[0].kept, true);
  assert.match(refused.refused[0].problems.join("\n"), /a\.yaml:3:\d+: agent\.exposes/);
  assert.deepEqual(names(mesh), ["ping", "pong"]);
  const ping = await mesh.callTool("ping", {}, ctx());
  assert.deepEqual(JSON.parse(textOf(ping)), { path: "/alpha/ping" });
  const records = await lifecycle(f);
  assert.ok(records.some((r) => r.agent === "alpha" && r.action === "refused"), "not audited");
  assert.ok(!records.some((r) => r.action === "reload"));
});

Deno.test("mesh reload: with signatures required, an unsigned or mismatching edit never replaces the signed version; a signed one does", async () => {
  await using f = await fixture();
  await generateSigningKey(f.home, "ed25519");
  const key = await loadSigningKey(f.home, "ed25519");
  const sign = async (file: string, name: string) => {
    const path = join(f.dir, file);
    const digest = createHash("sha256").update(await Deno.readFile(path)).digest("hex");
    await signConfig(f.home, { name, path, digest }, key);
  };
  await f.write("a.yaml", agentYaml("alpha", f.api.url, ["ping"]));
  await sign("a.yaml", "alpha");
  const reports: MeshReloadReport[] = [];
  const mesh = await f.open({
    requireSigned: true,
    watch: true,
    debounceMs: 50,
    onReload: (r) => reports.push(r),
  });
  assert.deepEqual(names(mesh), ["ping"]);
  // New bytes under the old signature: refused, the signed version serves on.
  await writeByRename(f, "a.yaml", agentYaml("alpha", f.api.url, ["ping", "evil"]));
  await eventually(() => reports.some((r) => r.refused.length > 0), "no refusal", 300);
  assert.match(reports.at(-1)!.refused[0].problems.join("\n"), /Refusing config/);
  // The signature removed: unsigned is refused too.
  await Deno.remove(join(f.dir, "a.yaml.sig"));
  await eventually(
    () => reports.filter((r) => r.refused.length > 0).length >= 2,
    "no refusal",
    300,
  );
  assert.match(reports.at(-1)!.refused[0].problems.join("\n"), /unsigned/);
  assert.deepEqual(names(mesh), ["ping"]);
  // Signed: served.
  await sign("a.yaml", "alpha");
  await eventually(() => names(mesh).includes("evil"), "the signed edit was not served", 300);
  // Writing the signature may wake the watcher twice: the replacing reload need not be the last.
  assert.ok(reports.some((r) => r.replaced.includes("alpha")), "no reload replaced alpha");
});

Deno.test("mesh reload: an edit that would make two agents serve one tool name is refused; the old set serves on", async () => {
  await using f = await fixture();
  const { mesh, report } = await watchedMesh(f);
  await writeByRename(f, "b.yaml", agentYaml("beta", f.api.url, ["pong", "ping"]));
  const refused = await report((r) => r.refused.length > 0);
  assert.match(refused.refused[0].problems.join("\n"), /tool "ping" is also served by .*a\.yaml/);
  assert.equal(refused.refused[0].kept, true);
  assert.deepEqual(names(mesh), ["ping", "pong"]);
  const ping = await mesh.callTool("ping", {}, ctx());
  assert.deepEqual(JSON.parse(textOf(ping)), { path: "/alpha/ping" });
  const records = await lifecycle(f);
  assert.ok(records.some((r) => r.agent === "beta" && r.action === "refused"));
});

Deno.test("mesh reload: an edit saved by rename serves the new tool, and an SDK session and a 2026-07-28 subscription are told the list changed, only when it did", async () => {
  await using f = await fixture();
  const { mesh, report } = await watchedMesh(f);
  const server = await serveMcpHttp(mesh.engine, { port: 0 });
  const seen: string[][] = [];
  const client = new Client({ name: "reload-test", version: "1" }, {
    listChanged: {
      tools: { autoRefresh: true, debounceMs: 0, onChanged: (_e, t) => seen.push(names2(t)) },
    },
  });
  const res = await fetch(server.url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": MODERN_PROTOCOL_VERSION,
      "mcp-method": "subscriptions/listen",
    },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 5,
      method: "subscriptions/listen",
      params: {
        notifications: { toolsListChanged: true },
        _meta: {
          [META.protocolVersion]: MODERN_PROTOCOL_VERSION,
          [META.clientInfo]: { name: "reload-test", version: "1" },
          [META.clientCapabilities]: {},
        },
      },
    }),
  });
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  const nextMessage = async (): Promise<{ method?: string }> => {
    for (let i = 0; i < 100; i++) {
      const frame = /^data: (.*)$/m.exec(buffered);
      if (frame !== null) {
        buffered = buffered.slice(frame.index + frame[0].length);
        return JSON.parse(frame[1]);
      }
      const { value, done } = await reader.read();
      if (done) throw new Error("the subscription ended");
      buffered += value;
    }
    throw new Error("no message in 100 reads");
  };
  try {
    await client.connect(new StreamableHTTPClientTransport(new URL(server.url)));
    const ack = await bounded(nextMessage(), RELOAD_WAIT_MS, "acknowledgement");
    assert.equal(ack.method, "notifications/subscriptions/acknowledged");
    // A new upstream URL: a new version, but the same tool list, so no notification. The
    // changed upstream holds the tool until a person approves it (mesh_pins_test.ts).
    await writeByRename(f, "a.yaml", agentYaml("alpha", `${f.api.url}/v2`, ["ping"]));
    const quiet = await report((r) => r.replaced.includes("alpha"));
    assert.equal(quiet.toolsChanged, false);
    assert.equal((await mesh.callTool("ping", {}, ctx())).isError, true);
    {
      using store = await openStore(f.home);
      await approveToolPin(store, f.audit, { agent: "alpha", tool: "ping", actor: "cli:test" });
    }
    const moved = await mesh.callTool("ping", {}, ctx());
    assert.deepEqual(JSON.parse(textOf(moved)), { path: "/v2/alpha/ping" });
    // A new tool: served, and both clients are told.
    await writeByRename(f, "a.yaml", agentYaml("alpha", f.api.url, ["ping", "ping2"]));
    const changed = await report((r) => r.toolsChanged);
    assert.deepEqual(changed.replaced, ["alpha"]);
    assert.deepEqual(names(mesh), ["ping", "ping2", "pong"]);
    const told = await bounded(nextMessage(), RELOAD_WAIT_MS, "list_changed on the subscription");
    assert.equal(told.method, "notifications/tools/list_changed");
    await eventually(() => seen.length > 0, "the SDK client was not told", RELOAD_WAIT_MS / 50);
    assert.deepEqual(seen, [["ping", "ping2", "pong"]]); // once: the quiet reload told nobody
    const ping2 = await client.callTool({ name: "ping2", arguments: {} });
    assert.deepEqual(JSON.parse(textOf(ping2 as never)), { path: "/alpha/ping2" });
  } finally {
    await reader.cancel().catch(() => {});
    await client.close();
    await server.shutdown();
  }
});

function names2(tools: { name: string }[] | null): string[] {
  return (tools ?? []).map((t) => t.name);
}

Deno.test("mesh reload: an added file serves; a removed one stops its host process and is marked stopped", async () => {
  await using f = await fixture();
  await using registry = await AgentRegistry.open(f.home);
  const { mesh, report } = await watchedMesh(f, { registry });
  await mesh.callTool("pong", {}, ctx());
  const betaPid = mesh.agents().find((a) => a.name === "beta")!.hostPid!;
  assert.ok(alive(betaPid));
  await f.write("c.yml", agentYaml("gamma", f.api.url, ["tri"]));
  const added = await report((r) => r.added.length > 0);
  assert.deepEqual(added.added, ["gamma"]);
  const tri = await mesh.callTool("tri", {}, ctx());
  assert.deepEqual(JSON.parse(textOf(tri)), { path: "/gamma/tri" });
  await Deno.remove(join(f.dir, "b.yaml"));
  const removed = await report((r) => r.removed.length > 0);
  assert.deepEqual(removed.removed, ["beta"]);
  assert.deepEqual(names(mesh), ["ping", "tri"]);
  await eventually(() => !alive(betaPid), `beta's host ${betaPid} outlived its removal`);
  using store = await openStore(f.home);
  assert.equal(store.registry.get("beta")!.status, "stopped");
  assert.equal(store.registry.get("gamma")!.status, "running");
  assert.equal(store.registry.get("gamma")!.transport, "mesh");
  const records = await lifecycle(f);
  assert.ok(records.some((r) => r.agent === "gamma" && r.action === "added"));
  assert.ok(records.some((r) => r.agent === "beta" && r.action === "removed"));
});

Deno.test("mesh reload: a call in flight finishes on the version it started with, which closes after it", async () => {
  const arrived = Promise.withResolvers<void>();
  const release = Promise.withResolvers<void>();
  await using f = await fixture(async (req) => {
    if (new URL(req.url).pathname === "/alpha/slow") {
      arrived.resolve();
      // Slow on purpose, bounded: released by the test, or after 10 s at most.
      await bounded(release.promise, 10_000, "release").catch(() => {});
      return Response.json({ version: 1 });
    }
    return Response.json({ path: new URL(req.url).pathname });
  });
  await f.write("a.yaml", agentYaml("alpha", f.api.url, ["slow"]));
  const reports: MeshReloadReport[] = [];
  const mesh = await f.open({ watch: true, debounceMs: 50, onReload: (r) => reports.push(r) });
  const inFlight = mesh.callTool("slow", {}, ctx());
  await bounded(arrived.promise, RELOAD_WAIT_MS, "the slow call to reach its upstream");
  const oldPid = mesh.agents()[0].hostPid!;
  await writeByRename(f, "a.yaml", agentYaml("alpha", f.api.url, ["fast"]));
  await eventually(() => reports.some((r) => r.replaced.includes("alpha")), "no reload", 300);
  assert.deepEqual(names(mesh), ["fast"]);
  assert.ok(alive(oldPid), "the old version was closed under a call in flight");
  release.resolve();
  const result = await bounded(inFlight, RELOAD_WAIT_MS, "the call in flight");
  assert.deepEqual(JSON.parse(textOf(result)), { version: 1 });
  await eventually(() => !alive(oldPid), "the old version outlived its last call");
  const fast = await mesh.callTool("fast", {}, ctx());
  assert.deepEqual(JSON.parse(textOf(fast)), { path: "/alpha/fast" });
});
