/**
 * The bench's upstream: a tiny `Deno.serve` on 127.0.0.1 answering every
 * request with the same small JSON document. Runs as its own process so its
 * CPU is not counted against any server under test.
 *
 * Run: `deno run --allow-net scripts/bench/upstream.ts [--port=0]`; prints
 * `listening on http://127.0.0.1:PORT` on stdout.
 *
 * @module
 */

/** The fixed response body (89 bytes). */
export const UPSTREAM_BODY: string = JSON.stringify({
  data: { id: "42", name: "widget", price: 9.5, tags: ["bench", "loom"] },
  ok: true,
});

if (import.meta.main) {
  const port = Number(/^--port=(\d+)$/.exec(Deno.args[0] ?? "")?.[1] ?? 0);
  const body = new TextEncoder().encode(UPSTREAM_BODY);
  const headers = { "content-type": "application/json" };
  Deno.serve({
    hostname: "127.0.0.1",
    port,
    onListen: ({ port }) => console.log(`listening on http://127.0.0.1:${port}`),
  }, () => new Response(body, { headers }));
}
