import assert from "node:assert/strict";
import { makeBridge } from "../../upstream/_testing.ts";
import { InProcessExecutor } from "./executor.ts";
import { startUpstream } from "../../../tests/_helpers.ts";

Deno.test("InProcessExecutor keeps upstream connections alive between calls", async () => {
  const connections = new Set<number>();
  await using server = await startUpstream((_, info) => {
    connections.add(info.remoteAddr.port);
    return Response.json({ ok: true });
  });
  const executor = new InProcessExecutor();
  try {
    const bridge = makeBridge(`${server.url}/items`);
    for (let i = 0; i < 3; i++) {
      const result = await executor.run(bridge, {}, {
        signal: new AbortController().signal,
        maxResponseBytes: 1024,
        allowNetworks: [],
        secrets: new Map(),
      });
      assert.equal(result.status, 200);
    }
  } finally {
    await executor.close();
  }
  assert.equal(connections.size, 1);
});
