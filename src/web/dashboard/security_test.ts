/**
 * `/security` over real state: a vault with a planted secret (its value in
 * no answer, its name shown), real grants, a signed, an unsigned and a
 * tampered config in the agents directory, real quarantine entries and real
 * anomaly records.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { loadConfig } from "../../config/mod.ts";
import { AuditLog } from "../../security/audit/mod.ts";
import { CredentialBroker } from "../../security/secrets/mod.ts";
import { generateSigningKey, loadSigningKey, signConfig } from "../../security/signing/mod.ts";
import { type LoomHome, Quarantine } from "../../store/mod.ts";
import { securityRoutes } from "./security.ts";
import { testDashboard } from "./_testing.ts";

const SECRET_VALUE = "sk-planted-VALUE-7c1e94b2d0a5f3e6";

/** A config for agent `name` that names the secret `weather-key`. */
function agentYaml(name: string, description = "Ask the API who we are"): string {
  return `agent:
  name: ${name}
  exposes:
    - name: whoami
      description: ${description}
  http_bridge:
    - tool_name: whoami
      url: "https://api.example.com/whoami"
      headers: { X-Key: "{{secret:weather-key}}" }
`;
}

async function plantSecrets(home: LoomHome, agentsDir: string, signerKeyId: string) {
  await using audit = await AuditLog.open(home.audit);
  await using broker = await CredentialBroker.open({ home, env: new Map(), audit });
  await broker.set("weather-key", SECRET_VALUE);
  const config = await loadConfig(join(agentsDir, "signed.yaml"));
  await broker.grant("unsigned-agent", "weather-key", config.source.digest);
  await broker.grantToSigner("signed-agent", "weather-key", signerKeyId, config.source.digest);
}

async function writeAgents(home: LoomHome, agentsDir: string): Promise<string> {
  const { keyId } = await generateSigningKey(home, "ed25519");
  const key = await loadSigningKey(home, "ed25519");
  for (const [file, agent] of [["signed", "signed-agent"], ["tampered", "tampered-agent"]]) {
    const path = join(agentsDir, `${file}.yaml`);
    await Deno.writeTextFile(path, agentYaml(agent));
    const config = await loadConfig(path);
    await signConfig(home, { name: config.name, path, digest: config.source.digest }, key);
  }
  await Deno.writeTextFile(join(agentsDir, "tampered.yaml"), agentYaml("tampered-agent", "Edited"));
  await Deno.writeTextFile(join(agentsDir, "unsigned.yaml"), agentYaml("unsigned-agent"));
  await Deno.writeTextFile(join(agentsDir, "broken.yaml"), "agent:\n  name: Not_Kebab\n");
  return keyId;
}

/** The table row of the page that mentions `needle`. */
function rowOf(body: string, needle: string): string {
  const row = body.split("<tr>").find((r) => r.includes(needle));
  assert.ok(row, `no row with ${needle}`);
  return row;
}

Deno.test("dashboard /security never shows a secret's value, only its name and grants", async () => {
  await using d = await testDashboard({ routes: [securityRoutes] });
  const keyId = await writeAgents(d.home, d.agentsDir);
  await plantSecrets(d.home, d.agentsDir, keyId);
  const res = await d.get("/security");
  const body = await res.text();
  assert.equal(res.status, 200);
  assert.ok(!body.includes(SECRET_VALUE), "the secret's value is on the page");
  assert.ok(!body.includes(SECRET_VALUE.slice(0, 16)), "part of the value is on the page");
  const stored = body.slice(body.indexOf("Stored secrets"), body.indexOf("<caption>Grants"));
  assert.match(rowOf(stored, "<code>weather-key</code>"), /<td>1<\/td>/);
  assert.match(rowOf(body, "unsigned-agent"), /config <code>sha256:[0-9a-f]{12}<\/code>/);
  assert.match(rowOf(body, "<td>signed-agent"), new RegExp(`signing key <code>${keyId}</code>`));
});

Deno.test("dashboard /security shows each config's signature verdict: valid, tampered, unsigned, not loading", async () => {
  await using d = await testDashboard({ routes: [securityRoutes] });
  const keyId = await writeAgents(d.home, d.agentsDir);
  const body = await (await d.get("/security")).text();
  assert.match(rowOf(body, "<code>tampered.yaml</code>"), /verdict-bad">digest_mismatch</);
  assert.match(rowOf(body, "<code>unsigned.yaml</code>"), />unsigned</);
  assert.match(rowOf(body, "<code>broken.yaml</code>"), /does not load/);
  assert.match(rowOf(body, "<code>broken.yaml</code>"), /broken\.yaml:\d+:\d+/);
  const signed = rowOf(body, "<code>signed.yaml</code>");
  assert.match(signed, /verdict-ok">valid</);
  assert.match(signed, new RegExp(`ed25519 key <code>${keyId}</code>, version 1`));
});

Deno.test("dashboard /security lists pending quarantine entries with links, and anomalies newest first", async () => {
  await using d = await testDashboard({ routes: [securityRoutes] });
  const empty = await (await d.get("/security")).text();
  assert.match(empty, /Configs waiting for review: none pending/);
  assert.match(empty, /Latest anomalies[^<]*: none recorded/);

  const draft = join(d.root, "weather.yaml");
  await Deno.writeTextFile(draft, agentYaml("weather"));
  const quarantine = await Quarantine.open(d.home);
  const entry = await quarantine.add(draft, { submittedBy: "generator:test-model" });
  {
    await using audit = await AuditLog.open(d.home.audit);
    for (const [kind, count] of [["rate_limit", 7], ["new_tool", 1]] as const) {
      await audit.append({
        event: "anomaly",
        agent: "weather",
        tool: "whoami",
        action: "detected",
        kind,
        count,
        threshold: 5,
        window_ms: 60_000,
      });
    }
  }
  const body = await (await d.get("/security")).text();
  const row = rowOf(body, 'href="/security/quarantine/weather"');
  assert.match(row, />weather<\/a>/);
  assert.ok(row.includes(entry.digest.slice(0, 12)));
  assert.ok(row.includes(String(entry.size)));
  assert.ok(row.includes("generator:test-model"));
  assert.ok(row.includes(draft));
  const anomalies = body.slice(body.indexOf('id="anomalies"'));
  assert.ok(anomalies.indexOf("new_tool") < anomalies.indexOf("rate_limit"), "newest first");
  assert.match(rowOf(anomalies, "rate_limit"), /7 \(threshold 5\), within 60 s/);
});
