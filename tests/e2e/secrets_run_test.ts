/**
 * End to end: a secret set and granted with the CLI reaches the upstream
 * through `loom run` (and its sandboxed agent host), and never comes back.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  INITIALIZE,
  jsonLines,
  runLoom,
  startUpstream,
  tempDir,
  toolCall,
  writeKeyedConfig,
} from "../_helpers.ts";

const TOKEN = "tok_9f8e7d6c5b4a3928_Zq";

Deno.test("loom run injects a granted secret into the upstream request and redacts its echo", async () => {
  await using dir = await tempDir();
  const home = join(dir.path, "home");
  const seen: string[] = [];
  await using api = await startUpstream((req) => {
    seen.push(req.headers.get("authorization") ?? "");
    return Response.json({ echoed: req.headers.get("authorization") });
  });
  const config = join(dir.path, "keyed.yaml");
  await writeKeyedConfig(config, api.url, 'Authorization: "Bearer {{secret:api-token}}"');
  const set = await runLoom(["secrets", "set", "api-token"], { home, stdin: TOKEN });
  assert.equal(set.code, 0, set.stderr);
  const session = (grant: boolean) => jsonLines(INITIALIZE, toolCall(grant ? 2 : 3, "whoami"));

  // Without a grant: refused, nothing sent.
  const denied = await runLoom(["run", config], { home, stdin: session(false) });
  assert.equal(denied.code, 0, denied.stderr);
  assert.match(denied.stdout, /Secret \\"api-token\\" is set but not granted/);
  assert.deepEqual(seen, []);

  const grant = await runLoom(
    ["secrets", "grant", "keyed-agent", "api-token", "--config", config],
    {
      home,
    },
  );
  assert.equal(grant.code, 0, grant.stderr);
  const ok = await runLoom(["run", config], { home, stdin: session(true) });
  assert.equal(ok.code, 0, ok.stderr);
  assert.deepEqual(seen, [`Bearer ${TOKEN}`]);
  const line = ok.stdout.split("\n").find((l) => l.includes('"id":2'))!;
  const result = JSON.parse(line).result;
  assert.equal(result.isError, undefined);
  assert.match(result.content[0].text, /«redacted:api-token»/);

  // The token is in no output and nowhere in LOOM's state but the encrypted vault.
  for (const out of [set, denied, grant, ok]) {
    assert.ok(!(out.stdout + out.stderr).includes(TOKEN));
  }
  const log = await Deno.readTextFile(join(home, "audit", "audit.jsonl"));
  assert.ok(!log.includes(TOKEN));
  assert.ok(!log.includes(btoa(TOKEN)));
  const vault = await Deno.readTextFile(join(home, "secrets.enc"));
  assert.ok(!vault.includes(TOKEN));
  const verify = await runLoom(["audit", "verify"], { home });
  assert.equal(verify.code, 0, verify.stdout);
});

/** The text and error flag of the tool result with `id` in a stdio session's output. */
function toolResult(stdout: string, id: number): { isError?: boolean; text: string } {
  const line = stdout.split("\n").find((l) => l.includes(`"id":${id}`));
  assert.ok(line, stdout);
  const result = JSON.parse(line).result;
  return { isError: result.isError, text: result.content[0].text };
}

Deno.test("loom run tells a secret that is not set from one not granted or granted to an older config, with the fixing command", async () => {
  await using dir = await tempDir();
  const home = join(dir.path, "home");
  const seen: string[] = [];
  await using api = await startUpstream((req) => {
    seen.push(req.headers.get("authorization") ?? "");
    return Response.json({ ok: true });
  });
  const config = join(dir.path, "keyed.yaml");
  await writeKeyedConfig(config, api.url, 'Authorization: "Bearer {{secret:api-token}}"');
  const grantCommand = `"loom secrets grant keyed-agent api-token --config ${config}"`;
  const call = async (id: number) => {
    const r = await runLoom(["run", config], {
      home,
      stdin: jsonLines(INITIALIZE, toolCall(id, "whoami")),
    });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!(r.stdout + r.stderr).includes(TOKEN));
    return toolResult(r.stdout, id);
  };

  // (a) never set: store it, then grant it.
  const unset = await call(2);
  assert.equal(unset.isError, true);
  assert.match(unset.text, /^Secret "api-token" is not set/);
  assert.ok(unset.text.includes(`"loom secrets set api-token"`), unset.text);
  assert.ok(unset.text.includes(grantCommand), unset.text);

  // (b) set, never granted: grant it.
  const set = await runLoom(["secrets", "set", "api-token"], { home, stdin: TOKEN });
  assert.equal(set.code, 0, set.stderr);
  const ungranted = await call(3);
  assert.equal(ungranted.isError, true);
  assert.match(ungranted.text, /^Secret "api-token" is set but not granted to agent "keyed-agent"/);
  assert.ok(ungranted.text.includes(grantCommand), ungranted.text);
  assert.ok(!ungranted.text.includes("loom secrets set"), ungranted.text);

  // (c) granted, then the config changed: both digests and the grant command.
  const grant = await runLoom(
    ["secrets", "grant", "keyed-agent", "api-token", "--config", config],
    { home },
  );
  assert.equal(grant.code, 0, grant.stderr);
  const pinned = await sha256Hex(await Deno.readFile(config));
  await Deno.writeTextFile(config, "# edited after the grant\n", { append: true });
  const current = await sha256Hex(await Deno.readFile(config));
  const stale = await call(4);
  assert.equal(stale.isError, true);
  assert.match(
    stale.text,
    /^Secret "api-token" is granted to agent "keyed-agent" for config sha256 /,
  );
  assert.ok(stale.text.includes(`sha256 ${pinned.slice(0, 12)}`), stale.text);
  assert.ok(stale.text.includes(`this config is sha256 ${current.slice(0, 12)}`), stale.text);
  assert.ok(stale.text.includes(grantCommand), stale.text);

  // Nothing reached the upstream; the log says why, by code, and still verifies.
  assert.deepEqual(seen, []);
  const records = (await Deno.readTextFile(join(home, "audit", "audit.jsonl"))).trim().split("\n")
    .map((l) => JSON.parse(l));
  assert.ok(!JSON.stringify(records).includes(TOKEN));
  const denied = records.filter((r) => r.event === "tool_call" && r.status === "denied");
  assert.deepEqual(denied.map((r) => r.reason), ["not_found", "no_grant", "config_mismatch"]);
  const verify = await runLoom(["audit", "verify"], { home });
  assert.equal(verify.code, 0, verify.stdout);
});

async function sha256Hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)).toHex();
}
