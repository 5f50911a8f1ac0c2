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
  assert.match(denied.stdout, /not available to this agent/);
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
