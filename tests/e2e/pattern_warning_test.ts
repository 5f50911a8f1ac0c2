import assert from "node:assert/strict";
import { join } from "node:path";
import { runLoom, tempDir } from "../_helpers.ts";

Deno.test("loom validate warns at file:line:column about a pattern checked off-thread, and still succeeds", async () => {
  await using dir = await tempDir("loom-pattern-warning-");
  const path = join(dir.path, "agent.yaml");
  await Deno.writeTextFile(
    path,
    `agent:
  name: pattern-warning
  exposes:
    - name: check
      description: Check an id
      parameters:
        id: { type: string, pattern: "(a+)+" }
        slug: { type: string, pattern: "[a-z0-9-]{1,32}" }
  http_bridge:
    - tool_name: check
      url: "http://127.0.0.1:9/check"
      query_params: { id: id, slug: slug }
`,
  );
  const res = await runLoom(["validate", path], { home: dir.path });
  assert.equal(res.code, 0, res.stderr);
  assert.match(
    res.stderr,
    /agent\.yaml:7:\d+: agent\.exposes\[0\]\.parameters\.id\.pattern: Pattern may backtrack heavily on a 10000-character argument: it will be checked off the event loop, and a value not checked within 100 ms is refused/,
  );
  assert.doesNotMatch(res.stderr, /parameters\.slug/);
});
