/**
 * End to end: `loom evolve` through the real CLI, against a stand-in
 * Prometheus on loopback whose targets are itself (covered by a config in
 * the agents directory), a server with an OpenAPI document, one without
 * (its job name hostile to a shell), and one on another loopback literal
 * that is probed only inside `--allow-network`. The report, the `-o FILE`
 * script (run by `/bin/sh` with `loom` as a function that only prints its
 * arguments), and the errors of a Prometheus that does not answer or
 * answers something else.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { runLoom, tempDir } from "../_helpers.ts";

const PETSTORE = fileURLToPath(
  new URL("../../src/generator/testdata/petstore_30.yaml", import.meta.url),
);
const HOSTILE = "x'; rm -rf ~; echo '";

/** A server on `hostname` port 0; `routes` maps a path to a body (404 otherwise). */
function serve(hostname: string, routes: (url: string) => Record<string, string>) {
  const hits: string[] = [];
  let table: Record<string, string> = {};
  const server = Deno.serve({ hostname, port: 0, onListen() {} }, (req) => {
    const path = new URL(req.url).pathname;
    hits.push(path);
    const body = table[path];
    return new Response(body ?? "not found", { status: body === undefined ? 404 : 200 });
  });
  const url = `http://${hostname}:${server.addr.port}`;
  table = routes(url);
  return { server, hits, url };
}

function target(job: string, url: string) {
  return {
    labels: { job, instance: new URL(url).host },
    scrapeUrl: `${url}/metrics`,
    health: "up",
  };
}

async function setUp() {
  const spec = await Deno.readTextFile(PETSTORE);
  const pets = serve("127.0.0.1", () => ({ "/openapi.yaml": spec }));
  const plain = serve("127.0.0.1", () => ({ "/": "hello" }));
  const far = serve("127.0.0.2", () => ({ "/openapi.yaml": spec }));
  const prometheus = serve("127.0.0.1", (url) => ({
    "/api/v1/targets": JSON.stringify({
      status: "success",
      data: {
        activeTargets: [
          target("prometheus", url),
          target("petstore", pets.url),
          target(HOSTILE, plain.url),
          target("far", far.url),
        ],
        droppedTargets: [],
      },
    }),
  }));
  const dir = await tempDir();
  const agents = join(dir.path, "agents");
  await Deno.mkdir(agents);
  await Deno.writeTextFile(
    join(agents, "metrics.yaml"),
    `agent:
  name: metrics
  exposes:
    - name: query
      description: Run a query
  http_bridge:
    - tool_name: query
      url: "${prometheus.url}/api/v1/query"
`,
  );
  const servers = [pets, plain, far, prometheus];
  return {
    dir,
    agents,
    prometheus,
    pets,
    far,
    home: join(dir.path, "home"),
    [Symbol.asyncDispose]: async () => {
      await Promise.all(servers.map((s) => s.server.shutdown()));
      await dir[Symbol.asyncDispose]();
    },
  };
}

Deno.test("loom evolve --prometheus: covered, import, generate, and not probed without --allow-network", async () => {
  await using env = await setUp();
  const args = ["evolve", "--prometheus", env.prometheus.url, "--dir", env.agents];
  const result = await runLoom(args, { home: env.home });
  assert.equal(result.code, 0, result.stderr);
  const out = result.stdout;
  assert.match(out, /^4 services; 1 covered by the configs in /);
  assert.match(
    out,
    new RegExp(
      `Covered:\n  prometheus at ${env.prometheus.url}/: config metrics \\(.*metrics\\.yaml, same address\\)`,
    ),
  );
  assert.ok(
    out.includes(`    loom import openapi ${env.pets.url}/openapi.yaml --name petstore\n`),
    out,
  );
  assert.match(out, /x'; rm -rf ~; echo ' at .*: no OpenAPI document at the usual paths\n/);
  assert.match(
    out,
    / {4}loom generate 'An agent named x-rm-rf-echo for the service "x'\\''; rm -rf ~; echo '\\''"/,
  );
  assert.match(out, /far at .*: not probed: private address; pass --allow-network CIDR/);
  assert.deepEqual(env.far.hits, [], "nothing was sent to the target outside the named host");

  const allowed = await runLoom([...args, "--allow-network", "127.0.0.0/8"], { home: env.home });
  assert.equal(allowed.code, 0, allowed.stderr);
  // The person types the IP literal of the import: it needs no --allow-network.
  assert.ok(
    allowed.stdout.includes(`    loom import openapi ${env.far.url}/openapi.yaml --name far\n`),
    allowed.stdout,
  );
  assert.ok(env.far.hits.length > 0);
});

Deno.test("loom evolve -o FILE: a script that only suggests, refused over a file without --force", async () => {
  await using env = await setUp();
  const script = join(env.dir.path, "next.sh");
  const args = ["evolve", "--prometheus", env.prometheus.url, "--dir", env.agents, "-o", script];
  const first = await runLoom(args, { home: env.home });
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /Wrote .*next\.sh: 4 services, 3 suggestions \(nothing was run\)/);
  const text = await Deno.readTextFile(script);
  assert.match(text, /^#!\/bin\/sh\n# Written by "loom evolve"/);
  assert.match(text, /\n# covered: prometheus at .*: config metrics/);
  // Run it with `loom` as a shell function that prints its arguments, one per line.
  const run = await new Deno.Command("/bin/sh", {
    args: ["-c", `loom() { printf '%s|' "$@"; printf '\\n'; }; . "$1"`, "sh", script],
    stdout: "piped",
    cwd: env.dir.path,
  }).output();
  assert.equal(run.code, 0);
  const lines = new TextDecoder().decode(run.stdout).trim().split("\n");
  assert.equal(lines.length, 3);
  assert.match(lines[1], /\|--name\|x-rm-rf-echo\|$/);
  assert.equal(lines[0], `import|openapi|${env.pets.url}/openapi.yaml|--name|petstore|`);
  assert.match(
    lines[1],
    /^generate\|An agent named x-rm-rf-echo for the service "x'; rm -rf ~; echo '"/,
  );
  assert.match(lines[2], /^generate\|An agent named far /);

  const again = await runLoom(args, { home: env.home });
  assert.equal(again.code, 64);
  assert.match(again.stderr, /exists: choose another file or --force/);
  const forced = await runLoom([...args, "--force"], { home: env.home });
  assert.equal(forced.code, 0, forced.stderr);
});

Deno.test("loom evolve: no source, Prometheus not answering, or answering something else", async () => {
  await using dir = await tempDir();
  const home = join(dir.path, "home");
  const none = await runLoom(["evolve"], { home });
  assert.equal(none.code, 64);
  assert.match(none.stderr, /--prometheus URL, --inventory FILE, or both/);
  const gone = serve("127.0.0.1", () => ({}));
  await gone.server.shutdown();
  const down = await runLoom(["evolve", "--prometheus", gone.url], { home });
  assert.equal(down.code, 69);
  assert.match(down.stderr, /Nothing answered at http:\/\/127\.0\.0\.1:/);
  const other = serve("127.0.0.1", () => ({ "/api/v1/targets": "<html>hi</html>" }));
  try {
    const wrong = await runLoom(["evolve", "--prometheus", other.url], { home });
    assert.equal(wrong.code, 69);
    assert.match(wrong.stderr, /did not answer Prometheus's targets: the answer is not JSON/);
  } finally {
    await other.server.shutdown();
  }
});

Deno.test("loom evolve --inventory: services of a file, and its errors with positions", async () => {
  await using dir = await tempDir();
  const home = join(dir.path, "home");
  const inventory = join(dir.path, "services.yaml");
  await Deno.writeTextFile(
    inventory,
    "services:\n  - name: forgejo\n    url: http://127.0.0.1:1\n  - name: wiki\n    url: http://127.0.0.1:1/wiki\n",
  );
  const agents = join(dir.path, "agents");
  const result = await runLoom(["evolve", "--inventory", inventory, "--dir", agents], { home });
  assert.equal(result.code, 0, result.stderr);
  assert.match(
    result.stdout,
    /forgejo at .*: pack git-forge \(same name\), not in the agents directory\n {4}loom packs install git-forge\n/,
  );
  assert.match(result.stdout, /wiki at http:\/\/127\.0\.0\.1:1\/wiki: not answering/);
  assert.match(result.stderr, /No directory ".*agents": no configs to match/);
  await Deno.writeTextFile(inventory, "services:\n  - name: wiki\n    url: nope\n");
  const bad = await runLoom(["evolve", "--inventory", inventory], { home });
  assert.equal(bad.code, 78);
  assert.match(bad.stderr, /services\.yaml:3:10: services\[0\]\.url: Expected an http\(s\) URL/);
});
