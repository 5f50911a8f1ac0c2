/**
 * End to end: a `pattern` that backtracks catastrophically is tested off the
 * gate's thread by the real CLI, also when LOOM runs as a single-file bundle
 * (where no module file sits beside the pattern worker's code).
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  type CliResult,
  INITIALIZE,
  jsonLines,
  LOOM_FLAGS,
  MAIN,
  startUpstream,
  tempDir,
  toolCall,
} from "../_helpers.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** Generous: the point is that the process finishes, not how fast. */
const DEADLINE_MS = 60_000;

/**
 * Run the bundled CLI with `stdin`; the process is killed at the deadline, so
 * a match that holds LOOM's thread fails the test instead of hanging it.
 */
async function runBundle(
  entry: string,
  args: string[],
  home: string,
  stdin: string,
): Promise<CliResult> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [...LOOM_FLAGS, entry, ...args],
    env: { LOOM_HOME: home, NO_COLOR: "1" },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(stdin));
  await w.close();
  // SIGKILL: a LOOM stuck in a match cannot run its SIGTERM handler.
  const timer = setTimeout(() => child.kill("SIGKILL"), DEADLINE_MS);
  const out = await child.output().finally(() => clearTimeout(timer));
  const dec = new TextDecoder();
  assert.equal(out.signal, null, `LOOM did not finish within ${DEADLINE_MS} ms and was killed`);
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("loom run from a bundle refuses a hostile argument for (a+)+ as invalid and serves the next call", async () => {
  await using dir = await tempDir("loom-pattern-bundle-");
  const entry = join(dir.path, "loom.js");
  const bundle = await new Deno.Command(Deno.execPath(), {
    args: ["bundle", "--quiet", "--output", entry, MAIN],
    cwd: ROOT,
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.equal(bundle.code, 0, new TextDecoder().decode(bundle.stderr));

  await using api = await startUpstream((req) =>
    Response.json({ id: new URL(req.url).searchParams.get("id") })
  );
  const config = join(dir.path, "agent.yaml");
  await Deno.writeTextFile(
    config,
    `agent:
  name: pattern-bundle
  exposes:
    - name: check
      description: Check an id
      parameters:
        id: { type: string, pattern: "(a+)+" }
  http_bridge:
    - tool_name: check
      url: "${api.url}/check"
      query_params: { id: id }
`,
  );
  const home = join(dir.path, "home");
  const session = jsonLines(
    INITIALIZE,
    toolCall(2, "check", { id: "a".repeat(9_999) + "!" }),
    toolCall(3, "check", { id: "aaa" }),
  );
  const res = await runBundle(entry, ["run", config], home, session);
  assert.equal(res.code, 0, res.stderr);
  const answer = (id: number) => {
    const line = res.stdout.split("\n").find((l) => l.includes(`"id":${id}`));
    assert.ok(line, res.stdout + res.stderr);
    return JSON.parse(line).result;
  };
  const refused = answer(2);
  assert.equal(refused.isError, true);
  assert.equal(
    refused.content[0].text,
    'Invalid argument "id": took too long to check against its pattern',
  );
  const served = answer(3);
  assert.equal(served.isError, undefined, served.content?.[0]?.text);
  assert.match(served.content[0].text, /"id":\s*"aaa"/);
  assert.equal(api.requests.length, 1);

  const log = await Deno.readTextFile(join(home, "audit", "audit.jsonl"));
  const invalid = log.split("\n").filter((l) => l.includes('"status":"invalid"'));
  assert.equal(invalid.length, 1, log);
  assert.match(invalid[0], /"field":"id"/);
});
