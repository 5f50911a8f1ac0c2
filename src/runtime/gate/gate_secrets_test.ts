import assert from "node:assert/strict";
import { parseConfig } from "../../config/mod.ts";
import { AuditLog } from "../../security/audit/mod.ts";
import { CredentialBroker } from "../../security/secrets/mod.ts";
import { resolveHome } from "../../store/mod.ts";
import type { ToolCallContext } from "../../mcp/mod.ts";
import { AgentGate } from "./gate.ts";

const SECRET = "s3cr3t-Value+with/slash=and spaces";

interface Setup extends AsyncDisposable {
  gate: AgentGate;
  broker: CredentialBroker;
  auditFile: string;
  seen: string[];
  url: string;
  digest: string;
}

async function setup(
  echo: boolean,
  options: { grantDigest?: string; redirectTo?: string; set?: boolean; grant?: boolean } = {},
): Promise<Setup> {
  const root = await Deno.makeTempDir({ prefix: "loom-gate-secrets-" });
  const seen: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    seen.push(req.headers.get("x-api-key") ?? "");
    if (options.redirectTo) return Response.redirect(options.redirectTo, 307);
    return echo
      ? new Response(`bad key ${req.headers.get("x-api-key")} (${btoa("u:" + SECRET)})`, {
        status: 200,
      })
      : Response.json({ ok: true });
  });
  const url = `http://127.0.0.1:${server.addr.port}`;
  const config = parseConfig(
    `agent:
  name: keyed
  exposes:
    - name: fetch_thing
      description: Fetch with a key
  http_bridge:
    - tool_name: fetch_thing
      url: "${url}/thing"
      headers: { X-Api-Key: "{{secret:api-key}}" }
`,
    { path: "keyed.yaml" },
  );
  const home = resolveHome(new Map([["LOOM_HOME", root]]));
  const audit = await AuditLog.open(home.audit);
  const broker = await CredentialBroker.open({ home, env: new Map(), audit });
  if (options.set ?? true) await broker.set("api-key", SECRET);
  if (options.grant ?? true) {
    await broker.grant("keyed", "api-key", options.grantDigest ?? config.source.digest);
  }
  const gate = new AgentGate(config, { audit, secrets: broker });
  return {
    gate,
    broker,
    auditFile: `${home.audit}/audit.jsonl`,
    seen,
    url,
    digest: config.source.digest,
    [Symbol.asyncDispose]: async () => {
      await gate.close();
      await broker.close();
      await audit.close();
      await server.shutdown();
      await Deno.remove(root, { recursive: true });
    },
  };
}

const ctx: ToolCallContext = {
  signal: new AbortController().signal,
  sessionId: null,
  client: null,
  log: () => {},
};

function leaks(text: string): string[] {
  const forms = [
    SECRET,
    encodeURIComponent(SECRET),
    JSON.stringify(SECRET).slice(1, -1),
    btoa(SECRET),
  ];
  return forms.filter((f) => text.includes(f));
}

/** The `denied` outcome record of the gate's one call. */
async function deniedOutcome(s: Setup): Promise<Record<string, unknown>> {
  const records = (await Deno.readTextFile(s.auditFile)).trim().split("\n")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const outcome = records.find((r) => r.event === "tool_call" && r.phase === "outcome");
  assert.equal(outcome?.status, "denied");
  return outcome!;
}

Deno.test("AgentGate with a broker refuses a grant pinned to another config digest, naming both digests and the grant command", async () => {
  await using s = await setup(false, { grantDigest: "0".repeat(64) });
  const res = await s.gate.callTool("fetch_thing", {}, ctx);
  assert.equal(res.isError, true);
  const text = res.content[0].text;
  assert.match(
    text,
    /^Secret "api-key" is granted to agent "keyed" for config sha256 000000000000, /,
  );
  assert.ok(text.includes(`this config is sha256 ${s.digest.slice(0, 12)}`), text);
  assert.ok(text.includes(`"loom secrets grant keyed api-key --config keyed.yaml"`), text);
  assert.deepEqual(s.seen, [], "nothing was sent upstream");
  const log = await Deno.readTextFile(s.auditFile);
  assert.match(log, /"event":"credential_access"[^\n]*"granted":false/);
  assert.deepEqual(leaks(log), []);
  const outcome = await deniedOutcome(s);
  assert.equal(outcome.reason, "config_mismatch");
  assert.equal(outcome.key, "api-key");
  assert.equal(outcome.error, text);
});

Deno.test("AgentGate with a broker refuses a secret that is not set, naming the set and grant commands", async () => {
  await using s = await setup(false, { set: false, grant: false });
  const res = await s.gate.callTool("fetch_thing", {}, ctx);
  assert.equal(res.isError, true);
  const text = res.content[0].text;
  assert.match(text, /^Secret "api-key" is not set/);
  assert.ok(text.includes(`"loom secrets set api-key"`), text);
  assert.ok(text.includes(`"loom secrets grant keyed api-key --config keyed.yaml"`), text);
  assert.deepEqual(s.seen, []);
  assert.equal((await deniedOutcome(s)).reason, "not_found");
});

Deno.test("AgentGate with a broker refuses a set secret that is not granted, naming the grant command", async () => {
  await using s = await setup(false, { grant: false });
  const res = await s.gate.callTool("fetch_thing", {}, ctx);
  assert.equal(res.isError, true);
  const text = res.content[0].text;
  assert.match(text, /^Secret "api-key" is set but not granted to agent "keyed"/);
  assert.ok(text.includes(`"loom secrets grant keyed api-key --config keyed.yaml"`), text);
  assert.deepEqual(leaks(text), []);
  assert.deepEqual(s.seen, []);
  const outcome = await deniedOutcome(s);
  assert.equal(outcome.reason, "no_grant");
  assert.deepEqual(leaks(JSON.stringify(outcome)), []);
});

Deno.test("AgentGate with a broker injects the granted secret and redacts it from the result", async () => {
  await using s = await setup(true);
  const res = await s.gate.callTool("fetch_thing", {}, ctx);
  assert.equal(res.isError, undefined);
  assert.deepEqual(s.seen, [SECRET]);
  const text = res.content[0].text;
  assert.deepEqual(leaks(text), [], text);
  assert.match(text, /«redacted:api-key»/);
  const log = await Deno.readTextFile(s.auditFile);
  assert.deepEqual(leaks(log), []);
  assert.match(log, /"event":"credential_access"[^\n]*"granted":true/);
});

Deno.test("AgentGate never lets a secret follow a redirect to another origin", async () => {
  const other = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    otherSeen.push(req.headers.get("x-api-key") ?? "");
    return new Response("stolen");
  });
  const otherSeen: string[] = [];
  try {
    await using s = await setup(false, {
      redirectTo: `http://127.0.0.1:${other.addr.port}/collect`,
    });
    const res = await s.gate.callTool("fetch_thing", {}, ctx);
    assert.equal(res.isError, true);
    assert.deepEqual(otherSeen, [], "the other origin received nothing");
    assert.deepEqual(leaks(res.content[0].text), []);
  } finally {
    await other.shutdown();
  }
});
