/**
 * Tests of the bench's HTTP load target: both load generators (the Deno one
 * and wrk with `mcp_call.lua`, when installed) send the extra headers of a
 * stateless call and its protocol version, and count refused answers as
 * errors, against a real `Deno.serve` on 127.0.0.1 that records what it got.
 *
 * @module
 */

import assert from "node:assert/strict";
import { encodeBenchHeaders, type Generator, runHttpLoad } from "./_load.ts";
import {
  STATELESS_PROTOCOL_VERSION,
  statelessCallHeaders,
  statelessCallTemplate,
} from "./_servers.ts";

const HAS_WRK = new Deno.Command("sh", { args: ["-c", "command -v wrk"], stdout: "null" })
  .outputSync().success;

/** What the recording server saw, one entry per request. */
interface Seen {
  protocol: string | null;
  method: string | null;
  name: string | null;
  session: string | null;
  meta: unknown;
}

/** A server answering 200, or 400 when `refuse` is set, recording each request. */
function recordingServer(refuse: boolean) {
  const seen: Seen[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const body = await req.json();
    seen.push({
      protocol: req.headers.get("mcp-protocol-version"),
      method: req.headers.get("mcp-method"),
      name: req.headers.get("mcp-name"),
      session: req.headers.get("mcp-session-id"),
      meta: body.params?._meta,
    });
    return Response.json({ jsonrpc: "2.0", id: body.id, result: {} }, {
      status: refuse ? 400 : 200,
    });
  });
  return { seen, server, url: `http://127.0.0.1:${server.addr.port}/mcp` };
}

for (const generator of ["deno", "wrk"] as Generator[]) {
  Deno.test({
    name: `runHttpLoad(${generator}) sends a stateless call's headers and _meta, no session`,
    ignore: generator === "wrk" && !HAS_WRK,
    async fn() {
      const { seen, server, url } = recordingServer(false);
      try {
        const load = await runHttpLoad(generator, {
          url,
          bodyTemplate: statelessCallTemplate("get_item", { id: "item-42" }),
          protocol: STATELESS_PROTOCOL_VERSION,
          headers: statelessCallHeaders("get_item"),
        }, { connections: 2, seconds: 1 });
        assert.ok(load.requests > 0);
        assert.equal(load.errors, 0);
        assert.ok(seen.length >= load.requests);
        for (const s of seen) {
          assert.deepEqual(
            { ...s, meta: undefined },
            {
              protocol: "2026-07-28",
              method: "tools/call",
              name: "get_item",
              session: null,
              meta: undefined,
            },
          );
          assert.deepEqual(s.meta, {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientInfo": { name: "loom-bench", version: "1.0.0" },
            "io.modelcontextprotocol/clientCapabilities": {},
          });
        }
      } finally {
        await server.shutdown();
      }
    },
  });

  Deno.test({
    name: `runHttpLoad(${generator}) counts 400 answers as errors`,
    ignore: generator === "wrk" && !HAS_WRK,
    async fn() {
      const { server, url } = recordingServer(true);
      try {
        const load = await runHttpLoad(generator, {
          url,
          bodyTemplate: statelessCallTemplate("get_item", { id: "item-42" }),
          protocol: STATELESS_PROTOCOL_VERSION,
          headers: statelessCallHeaders("get_item"),
        }, { connections: 1, seconds: 1 });
        assert.ok(load.requests > 0);
        assert.equal(load.errors, load.requests);
      } finally {
        await server.shutdown();
      }
    },
  });
}

Deno.test("encodeBenchHeaders() refuses names and values that would break the line format", () => {
  assert.throws(() => encodeBenchHeaders({ "Mcp-Name": "a\r\nX-Evil: 1" }), /Mcp-Name/);
  assert.throws(() => encodeBenchHeaders({ "Mcp-Name": "a\nb" }), /Mcp-Name/);
  assert.throws(() => encodeBenchHeaders({ "Bad Name": "x" }), /Bad Name/);
  assert.throws(() => encodeBenchHeaders({ "Mcp-Name": "" }), /Mcp-Name/);
  assert.equal(
    encodeBenchHeaders({ "Mcp-Method": "tools/call", "Mcp-Name": "get_item" }),
    "Mcp-Method: tools/call\nMcp-Name: get_item",
  );
});
