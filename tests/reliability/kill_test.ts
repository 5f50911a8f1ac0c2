/**
 * Reliability: `kill -9` of `loom run --transport http` under load (see
 * "Reliability suite" in docs/performance.md). Several raw clients call with a
 * unique argument each; the server is killed at a random moment; then `loom
 * audit verify` must pass and every call whose successful result reached a
 * client must have its intent and outcome records. The server is restarted on
 * the same LOOM_HOME for the next round, so each round also checks that a
 * killed log is reopened cleanly, and that the killed server's child processes
 * (its sandbox host) do not outlive it.
 *
 * Raise with LOOM_RELIABILITY_KILL_ROUNDS (default 3) and
 * LOOM_RELIABILITY_KILL_CLIENTS (default 6).
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { runLoom, startLoomHttp, startUpstream, tempDir } from "../_helpers.ts";
import {
  descendants,
  envCount,
  findCall,
  isAlive,
  RawSession,
  readAudit,
  resultText,
  waitFor,
} from "./_helpers.ts";

const ROUNDS = envCount("LOOM_RELIABILITY_KILL_ROUNDS", 3);
const CLIENTS = envCount("LOOM_RELIABILITY_KILL_CLIENTS", 6);

Deno.test("loom run --transport http killed with SIGKILL under load keeps every answered call on record", async () => {
  await using dir = await tempDir();
  await using api = await startUpstream((req) => {
    const id = decodeURIComponent(new URL(req.url).pathname.split("/").pop() ?? "");
    return Response.json({ id, ok: true });
  });
  const config = join(dir.path, "agent.yaml");
  const home = join(dir.path, "home");
  await Deno.writeTextFile(
    config,
    `agent:
  name: kill-test
  exposes:
    - name: get_item
      description: Fetch an item by id
      parameters:
        id: { type: string, pattern: "[a-z0-9-]{1,64}" }
  http_bridge:
    - tool_name: get_item
      url: "${api.url}/items/{{id}}"
  runtime:
    rate_limit: { per_minute: 1000000 }
`,
  );

  let answeredTotal = 0;
  for (let round = 1; round <= ROUNDS; round++) {
    const server = await startLoomHttp(config, { home });
    const answered: string[] = [];
    let stop = false;
    const client = async (c: number) => {
      let session: RawSession;
      try {
        session = await RawSession.open(server.url, `killer-${c}`);
      } catch {
        return; // killed before this client got in
      }
      for (let n = 0; !stop; n++) {
        const id = `r${round}-c${c}-${n}`;
        try {
          const res = await session.call("get_item", { id });
          if (res.status === 200 && res.json?.result && !res.json.result.isError) {
            assert.equal(JSON.parse(resultText(res.json.result)).id, id);
            answered.push(id);
          }
        } catch (error) {
          if (error instanceof assert.AssertionError) throw error;
          return; // the connection died with the server
        }
      }
    };
    const clients = Array.from({ length: CLIENTS }, (_, c) => client(c));
    // Kill at a random moment once calls are flowing.
    const started = performance.now();
    while (answered.length < 20 && performance.now() - started < 10_000) {
      await new Promise((r) => setTimeout(r, 5));
    }
    await new Promise((r) => setTimeout(r, 100 + Math.random() * 600));
    const children = descendants(server.child.pid); // the sandbox host, when there is one
    const status = await server.stop("SIGKILL");
    stop = true;
    await Promise.all(clients);
    assert.equal(status.signal, "SIGKILL");
    // No orphan: a host process whose LOOM died ends by itself.
    await waitFor(() => children.every((pid) => !isAlive(pid)), 10_000);
    assert.ok(answered.length >= 20, `only ${answered.length} calls answered before the kill`);

    const verify = await runLoom(["audit", "verify"], { home });
    assert.equal(verify.code, 0, `round ${round}: ${verify.stdout}${verify.stderr}`);
    const records = await readAudit(home);
    const missing: string[] = [];
    for (const id of answered) {
      const { intent, outcome } = findCall(records, "id", id);
      if (!intent || outcome?.status !== "success" || outcome.tool !== "get_item") {
        missing.push(id);
      }
    }
    assert.deepEqual(missing, [], `round ${round}: answered calls without an outcome record`);
    answeredTotal += answered.length;
    // Records are one contiguous chain across restarts.
    records.forEach((r, i) => assert.equal(r.seq, i + 1));
  }
  const starts = (await readAudit(home)).filter((r) =>
    r.event === "agent_lifecycle" && r.action === "start"
  );
  assert.equal(starts.length, ROUNDS);
  assert.ok(answeredTotal >= ROUNDS * 20);
});
