/**
 * `/security/quarantine/:name` over real state: entries added through the
 * store's `Quarantine`, promoted and rejected through the same functions as
 * `loom quarantine`, with real audit records, signatures and files. The
 * refusals come first: unknown or malformed names, an entry that does not
 * load, an existing agent, a rejection without a reason.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { readAuditRecords } from "../../security/audit/mod.ts";
import { checkConfigSignature, generateSigningKey } from "../../security/signing/mod.ts";
import { Quarantine } from "../../store/mod.ts";
import { securityRoutes } from "./security.ts";
import { type TestDashboard, testDashboard } from "./_testing.ts";

/** A config for agent `name`. */
function agentYaml(name: string, description = "Ask the API who we are"): string {
  return `agent:
  name: ${name}
  exposes:
    - name: whoami
      description: ${description}
  http_bridge:
    - tool_name: whoami
      url: "https://api.example.com/whoami"
`;
}

/** Quarantine `text` as `name`, as `loom quarantine add` does. */
async function addEntry(d: TestDashboard, name: string, text: string) {
  const draft = join(d.root, `${name}-draft.yaml`);
  await Deno.writeTextFile(draft, text);
  const quarantine = await Quarantine.open(d.home);
  return await quarantine.add(draft, { name, submittedBy: "generator:test-model" });
}

async function pending(d: TestDashboard): Promise<string[]> {
  return (await (await Quarantine.open(d.home)).list()).map((e) => e.name);
}

async function quarantineRecords(d: TestDashboard) {
  return await readAuditRecords(d.home.audit, { event: "quarantine" });
}

async function exists(path: string): Promise<boolean> {
  return await Deno.lstat(path).then(() => true, () => false);
}

Deno.test("dashboard quarantine: an unknown or malformed entry is 404 for the page, promote and reject", async () => {
  await using d = await testDashboard({ routes: [securityRoutes] });
  for (const name of ["missing", "..%2Fescape", ".hidden", "a%00b"]) {
    assert.equal((await d.get(`/security/quarantine/${name}`)).status, 404, name);
    const promote = await d.post(`/security/quarantine/${name}/promote`);
    assert.equal(promote.status, 404, name);
    await promote.body?.cancel();
    const reject = await d.post(`/security/quarantine/${name}/reject`, { reason: "no" });
    assert.equal(reject.status, 404, name);
    await reject.body?.cancel();
  }
  assert.deepEqual(await quarantineRecords(d), []);
});

Deno.test("dashboard quarantine: an entry that does not load is refused (409) with the loader's line:column", async () => {
  await using d = await testDashboard({ routes: [securityRoutes] });
  await addEntry(d, "broken", "agent:\n  name: Not_Kebab\n  exposes: []\n");
  const page = await (await d.get("/security/quarantine/broken")).text();
  assert.match(page, /Does not load/);
  const res = await d.post("/security/quarantine/broken/promote");
  const body = await res.text();
  assert.equal(res.status, 409);
  assert.match(body, /broken\.yaml:2:\d+/);
  assert.equal(await exists(join(d.agentsDir, "broken.yaml")), false);
  assert.deepEqual(await pending(d), ["broken"]);
  assert.deepEqual(await quarantineRecords(d), []);
});

Deno.test("dashboard quarantine: an existing agent is never replaced from the dashboard (409)", async () => {
  await using d = await testDashboard({ routes: [securityRoutes] });
  const current = join(d.agentsDir, "weather.yaml");
  await Deno.writeTextFile(current, agentYaml("weather", "The current one"));
  await addEntry(d, "weather", agentYaml("weather", "The proposed one"));
  const res = await d.post("/security/quarantine/weather/promote", { sign: "on" });
  const body = await res.text();
  assert.equal(res.status, 409);
  assert.match(body, /does not replace an agent/);
  assert.equal(await Deno.readTextFile(current), agentYaml("weather", "The current one"));
  assert.equal(await exists(`${current}.sig`), false);
  assert.deepEqual(await pending(d), ["weather"]);
});

Deno.test("dashboard quarantine: a rejection without a reason is refused and the entry stays", async () => {
  await using d = await testDashboard({ routes: [securityRoutes] });
  await addEntry(d, "weather", agentYaml("weather"));
  const tries: Record<string, string>[] = [{}, { reason: "   " }, { reason: "x".repeat(501) }];
  for (const fields of tries) {
    const res = await d.post("/security/quarantine/weather/reject", fields);
    assert.equal(res.status, 303);
    assert.equal(res.headers.get("location"), "/security/quarantine/weather");
    const next = await (await d.get("/security/quarantine/weather")).text();
    assert.match(next, /flash-error[^>]*>Not rejected/);
  }
  assert.deepEqual(await pending(d), ["weather"]);
  assert.deepEqual(await quarantineRecords(d), []);
});

Deno.test("dashboard quarantine: the review page shows the entry, its YAML and a diff against the current agent", async () => {
  await using d = await testDashboard({ routes: [securityRoutes] });
  await Deno.writeTextFile(join(d.agentsDir, "weather.yaml"), agentYaml("weather", "Old words"));
  const entry = await addEntry(d, "weather", agentYaml("weather", "New <b>words</b>"));
  await addEntry(d, "fresh", agentYaml("fresh"));
  const res = await d.get("/security/quarantine/weather");
  const body = await res.text();
  assert.equal(res.status, 200);
  assert.ok(body.includes(entry.digest));
  assert.ok(body.includes("generator:test-model"));
  assert.match(body, /Loads<\/span>: agent <code>weather<\/code>/);
  assert.match(body, /<span class="diff-del">- {6}description: Old words<\/span>/);
  assert.match(
    body,
    /<span class="diff-add">\+ {6}description: New &lt;b&gt;words&lt;\/b&gt;<\/span>/,
  );
  assert.match(body, /--- agents\/weather\.yaml/);
  assert.ok(!body.includes("<b>words</b>"), "config text is escaped");
  assert.match(body, /action="\/security\/quarantine\/weather\/promote"/);
  assert.match(body, /<label for="sign">/);
  assert.match(body, /<input type="text" id="reason" name="reason" required/);
  const fresh = await (await d.get("/security/quarantine/fresh")).text();
  assert.match(fresh, /a new agent/);
});

Deno.test("dashboard quarantine: promote installs the config and records it like loom quarantine promote", async () => {
  await using d = await testDashboard({ routes: [securityRoutes] });
  const entry = await addEntry(d, "weather", agentYaml("weather"));
  const res = await d.post("/security/quarantine/weather/promote");
  assert.equal(res.status, 303);
  assert.equal(res.headers.get("location"), "/security#quarantine");
  const target = join(d.agentsDir, "weather.yaml");
  assert.equal(await Deno.readTextFile(target), agentYaml("weather"));
  assert.equal(await exists(`${target}.sig`), false);
  assert.deepEqual(await pending(d), []);
  const [record] = await quarantineRecords(d);
  assert.deepEqual(
    {
      action: record.action,
      agent: record.agent,
      name: record.name,
      digest: record.config_digest,
      target: record.target,
      actor: record.actor,
      key: record.key_id,
    },
    {
      action: "promote",
      agent: "weather",
      name: "weather",
      digest: `sha256:${entry.digest}`,
      target,
      actor: "dashboard:local",
      key: undefined,
    },
  );
  const flash = await (await d.get("/security")).text();
  assert.match(flash, /flash-ok[^>]*>Promoted weather to /);
});

Deno.test("dashboard quarantine: promote with sign writes a signature that verifies, and its config_signature record", async () => {
  await using d = await testDashboard({ routes: [securityRoutes] });
  const { keyId } = await generateSigningKey(d.home, "ed25519");
  const entry = await addEntry(d, "weather", agentYaml("weather"));
  const res = await d.post("/security/quarantine/weather/promote", { sign: "on" });
  assert.equal(res.status, 303);
  const target = join(d.agentsDir, "weather.yaml");
  assert.equal(await exists(`${target}.sig`), true);
  const check = await checkConfigSignature(d.home, {
    name: "weather",
    path: target,
    digest: entry.digest,
  });
  assert.equal(check.verdict, "valid");
  const signed = await readAuditRecords(d.home.audit, { event: "config_signature" });
  assert.deepEqual(
    signed.map((r) => [r.action, r.key_id, r.config_digest, r.path]),
    [["sign", keyId, `sha256:${entry.digest}`, target]],
  );
  const [record] = await quarantineRecords(d);
  assert.equal(record.key_id, keyId);
  assert.equal(record.actor, "dashboard:local");
});

Deno.test("dashboard quarantine: promote with sign and no signing key is refused (409) and writes nothing", async () => {
  await using d = await testDashboard({ routes: [securityRoutes] });
  await addEntry(d, "weather", agentYaml("weather"));
  const res = await d.post("/security/quarantine/weather/promote", { sign: "on" });
  assert.equal(res.status, 409);
  await res.body?.cancel();
  assert.equal(await exists(join(d.agentsDir, "weather.yaml")), false);
  assert.deepEqual(await pending(d), ["weather"]);
});

Deno.test("dashboard quarantine: reject sets the entry aside with its reason, recorded with the actor", async () => {
  await using d = await testDashboard({ routes: [securityRoutes] });
  const entry = await addEntry(d, "weather", agentYaml("weather"));
  const res = await d.post("/security/quarantine/weather/reject", {
    reason: "calls an unknown host",
  });
  assert.equal(res.status, 303);
  assert.deepEqual(await pending(d), []);
  const rejected: string[] = [];
  for await (const e of Deno.readDir(join(d.home.quarantine, "rejected"))) rejected.push(e.name);
  const json = rejected.find((n) => n.endsWith(".json"));
  assert.ok(json && rejected.some((n) => n.endsWith(".yaml")));
  const saved = JSON.parse(
    await Deno.readTextFile(join(d.home.quarantine, "rejected", json)),
  );
  assert.equal(saved.reason, "calls an unknown host");
  const [record] = await quarantineRecords(d);
  assert.deepEqual(
    [record.action, record.reason, record.actor, record.config_digest],
    ["reject", "calls an unknown host", "dashboard:local", `sha256:${entry.digest}`],
  );
  assert.equal(await exists(join(d.agentsDir, "weather.yaml")), false);
});
