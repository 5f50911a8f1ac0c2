/**
 * Tests of `loom evolve`'s parts: Prometheus's targets and the inventory
 * format (with positioned errors), matching against configs and packs,
 * shell quoting of hostile names (checked by a real `/bin/sh`), and probing
 * real servers on loopback.
 *
 * @module
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { ConfigError, UpstreamError } from "../errors.ts";
import {
  type Coverer,
  generateCommandLine,
  importCommandLine,
  matchService,
  parseInventory,
  parseTargets,
  probeServices,
  type Service,
  shellQuote,
} from "./evolve.ts";

const PETSTORE = fileURLToPath(new URL("./testdata/petstore_30.yaml", import.meta.url));

function target(job: string, scrapeUrl: string, health = "up") {
  const instance = new URL(scrapeUrl).host;
  return { labels: { job, instance }, scrapeUrl, health };
}

function targets(...list: unknown[]): string {
  return JSON.stringify({ status: "success", data: { activeTargets: list, droppedTargets: [] } });
}

Deno.test("parseTargets: one service per job and host:port, Prometheus's own job included", () => {
  const { services, omitted } = parseTargets(
    targets(
      target("prometheus", "http://127.0.0.1:9090/metrics"),
      target("node", "http://10.0.0.5:9100/metrics"),
      target("node", "http://10.0.0.5:9100/metrics?x=1", "down"),
      target("node", "http://10.0.0.6:9100/metrics"),
      { labels: { instance: "no-job:1" }, scrapeUrl: "http://no-job:1/metrics" },
    ),
    "http://127.0.0.1:9090/api/v1/targets",
  );
  assert.equal(omitted, 0);
  assert.deepEqual(
    services.map((s) => [s.name, s.agentName, s.baseUrl.href, s.hostPort, s.health]),
    [
      ["prometheus", "prometheus", "http://127.0.0.1:9090/", "127.0.0.1:9090", "up"],
      ["node", "node", "http://10.0.0.5:9100/", "10.0.0.5:9100", "up"],
      ["node", "node-10-0-0-6-9100", "http://10.0.0.6:9100/", "10.0.0.6:9100", "up"],
    ],
  );
});

Deno.test("parseTargets: an answer that is not Prometheus's targets is refused", () => {
  for (
    const text of ["<html>", "{}", '{"data":{}}', '{"status":"error","data":{"activeTargets":[]}}']
  ) {
    assert.throws(
      () => parseTargets(text, "http://p/api/v1/targets"),
      (e) => e instanceof UpstreamError && /did not answer Prometheus's targets/.test(e.message),
    );
  }
});

Deno.test("parseTargets: at most 200 services, the rest counted", () => {
  const list = Array.from(
    { length: 205 },
    (_, i) => target(`job${i}`, `http://10.0.0.1:${i + 1}/`),
  );
  const { services, omitted } = parseTargets(targets(...list), "p");
  assert.equal(services.length, 200);
  assert.equal(omitted, 5);
});

Deno.test("parseInventory: the format, with an openapi path resolved against the url", () => {
  const text = [
    "services:",
    "  - name: Sonarr",
    "    url: http://192.168.1.10:8989/",
    "    description: TV series manager",
    "  - name: petstore",
    "    url: https://pets.example/api",
    "    openapi: /spec/openapi.yaml",
    "",
  ].join("\n");
  const { services } = parseInventory(text, "inv.yaml");
  assert.deepEqual(
    services.map((s) => [s.name, s.agentName, s.baseUrl.href, s.hostPort, s.openapi?.href ?? null]),
    [
      ["Sonarr", "sonarr", "http://192.168.1.10:8989/", "192.168.1.10:8989", null],
      [
        "petstore",
        "petstore",
        "https://pets.example/api",
        "pets.example:443",
        "https://pets.example/spec/openapi.yaml",
      ],
    ],
  );
  assert.equal(services[0].description, "TV series manager");
  const json = parseInventory('{"services":[{"name":"a","url":"http://h:1"}]}', "inv.json");
  assert.equal(json.services[0].hostPort, "h:1");
});

Deno.test("parseInventory: every problem is reported as file:line:column", () => {
  const text = [
    "services:",
    "  - name: ok",
    "    url: ftp://files.example/",
    "  - url: http://h:1",
    "    colour: blue",
    '  - name: "bad\\nname"',
    "    url: http://user:pw@h:2/",
    "",
  ].join("\n");
  let error: unknown;
  try {
    parseInventory(text, "inv.yaml");
  } catch (e) {
    error = e;
  }
  assert.ok(error instanceof ConfigError);
  const issues = error.issues.map((i) =>
    `${i.file}:${i.line}:${i.column}: ${i.path}: ${i.message}`
  );
  assert.deepEqual(issues, [
    "inv.yaml:3:10: services[0].url: Expected an http(s) URL without credentials",
    "inv.yaml:5:5: services[1].colour: Unknown key: expected name, url, description, openapi",
    'inv.yaml:4:5: services[1].name: Missing "name"',
    "inv.yaml:6:11: services[2].name: Holds control or invisible characters",
    "inv.yaml:7:10: services[2].url: Expected an http(s) URL without credentials",
  ]);
  assert.throws(() => parseInventory("- a\n", "inv.yaml"), /inv\.yaml:1:1.*"services" list/);
});

function service(name: string, url: string): Service {
  const base = new URL(url);
  return {
    name,
    agentName: name.toLowerCase(),
    baseUrl: base,
    hostPort: `${base.hostname}:${base.port || "80"}`,
    source: "prometheus",
    description: "",
    openapi: null,
    health: "up",
  };
}

const CONFIGS: Coverer[] = [
  { kind: "config", name: "metrics", path: "agents/m.yaml", hostPorts: ["10.0.0.1:9090"] },
  { kind: "config", name: "sonarr", path: "agents/s.yaml", hostPorts: ["127.0.0.1:8989"] },
];
const PACKS: Coverer[] = [
  {
    kind: "pack",
    name: "prometheus",
    path: "packs/prometheus.yaml",
    hostPorts: ["127.0.0.1:9090"],
  },
  { kind: "pack", name: "grafana", path: "packs/grafana.yaml", hostPorts: ["127.0.0.1:3000"] },
  { kind: "pack", name: "git-forge", path: "packs/git-forge.yaml", hostPorts: ["127.0.0.1:3000"] },
  { kind: "pack", name: "ollama", path: "packs/ollama.yaml", hostPorts: ["127.0.0.1:11434"] },
];

Deno.test("matchService: configs by address then name, packs by name, alias, or one port", () => {
  const match = (name: string, url: string) => {
    const m = matchService(service(name, url), CONFIGS, PACKS);
    return m === null ? null : `${m.by.kind} ${m.by.name} ${m.reason}`;
  };
  assert.equal(match("prometheus", "http://10.0.0.1:9090"), "config metrics address");
  assert.equal(match("Sonarr", "http://10.9.9.9:8989"), "config sonarr name");
  assert.equal(match("prometheus", "http://10.0.0.2:9090"), "pack prometheus name");
  assert.equal(match("forgejo", "http://10.0.0.3:3000"), "pack git-forge name");
  assert.equal(match("gitea", "http://10.0.0.3:3000"), "pack git-forge name");
  assert.equal(match("llm", "http://127.0.0.1:11434"), "pack ollama address");
  assert.equal(match("web", "http://127.0.0.1:3000"), null, "two packs share port 3000");
  assert.equal(match("node", "http://10.0.0.5:9100"), null);
});

/** The arguments `/bin/sh` makes of a command line, as JSON lines. */
async function shellWords(line: string): Promise<string[]> {
  const script = `set -- ${line.replace(/^loom /, "")}; for a; do printf '%s\\0' "$a"; done`;
  const out = await new Deno.Command("/bin/sh", { args: ["-c", script], stdout: "piped" }).output();
  assert.equal(out.code, 0);
  return new TextDecoder().decode(out.stdout).split("\0").slice(0, -1);
}

Deno.test("shellQuote: a hostile name stays one argument, without control characters", async () => {
  const hostile = "x'; rm -rf ~; echo '\n$(id)`id`\u202e\"\\";
  assert.equal(shellQuote("a b"), "'a b'");
  assert.equal(shellQuote("http://h:1/openapi.json"), "http://h:1/openapi.json");
  assert.equal(shellQuote(""), "''");
  assert.equal(shellQuote("~"), "'~'");
  assert.deepEqual(await shellWords(shellQuote(hostile)), ["x'; rm -rf ~; echo '$(id)`id`\"\\"]);
  const svc = service("x'; rm -rf ~; echo '", "http://10.0.0.9:80");
  svc.agentName = "x-rm-rf-echo";
  svc.description = "line\nbreak'";
  const words = await shellWords(generateCommandLine(svc));
  assert.equal(words.length, 4);
  assert.deepEqual(words.slice(2), ["--name", "x-rm-rf-echo"]);
  assert.equal(words[0], "generate");
  assert.match(words[1], /^An agent named x-rm-rf-echo for the service "x'; rm -rf ~; echo '"/);
  assert.match(words[1], /\(linebreak'\) at http:\/\/10\.0\.0\.9\/: read-only tools/);
  const url = new URL("http://10.0.0.9/x';$(id)/openapi.json");
  assert.deepEqual(await shellWords(importCommandLine(url, "pets", ["10.0.0.0/8"])), [
    "import",
    "openapi",
    url.href,
    "--name",
    "pets",
    "--allow-network",
    "10.0.0.0/8",
  ]);
});

/** A server on `hostname` port 0 answering `routes` (path -> body), 404 otherwise. */
function serve(hostname: string, routes: Record<string, string>) {
  const hits: string[] = [];
  const server = Deno.serve(
    { hostname, port: 0, onListen() {} },
    (req) => {
      hits.push(new URL(req.url).pathname);
      const body = routes[new URL(req.url).pathname];
      return new Response(body ?? "not found", { status: body === undefined ? 404 : 200 });
    },
  );
  return { server, hits, url: `http://${hostname}:${server.addr.port}` };
}

Deno.test("probeServices: a document at a usual path, none, and no probe outside the named host", async () => {
  const spec = await Deno.readTextFile(PETSTORE);
  const withDoc = serve("127.0.0.1", {
    "/openapi.json": "<html>not json</html>",
    "/openapi.yaml": spec,
  });
  const withSwagger = serve("127.0.0.1", { "/swagger.json": '{"swagger":"2.0","paths":{}}' });
  const without = serve("127.0.0.1", { "/openapi.json": '{"openapi":"2.9"}' });
  const elsewhere = serve("127.0.0.2", { "/openapi.json": '{"openapi":"3.1.0"}' });
  try {
    const list = [withDoc, withSwagger, without, elsewhere].map((s, i) => service(`s${i}`, s.url));
    const named = await probeServices(list, { allowNetworks: [], namedHosts: ["127.0.0.1"] });
    assert.deepEqual(named.map((p) => p.kind), ["found", "found", "absent", "refused"]);
    assert.equal(named[0].kind === "found" && named[0].url.href, `${withDoc.url}/openapi.yaml`);
    assert.equal(named[1].kind === "found" && named[1].url.pathname, "/swagger.json");
    assert.match(named[3].kind === "refused" ? named[3].reason : "", /loopback address/);
    assert.deepEqual(elsewhere.hits, [], "nothing was sent to the refused service");
    const allowed = await probeServices([list[3]], {
      allowNetworks: ["127.0.0.0/8"],
      namedHosts: ["127.0.0.1"],
    });
    assert.deepEqual(allowed.map((p) => p.kind), ["found"]);
    const none = await probeServices([list[0]], { allowNetworks: [], namedHosts: [] });
    assert.deepEqual(none.map((p) => p.kind), ["refused"], "not named, not allowed: not probed");
  } finally {
    await Promise.all([withDoc, withSwagger, without, elsewhere].map((s) => s.server.shutdown()));
  }
});

Deno.test("probeServices: a service that does not answer is reported unreachable", async () => {
  const gone = serve("127.0.0.1", {});
  await gone.server.shutdown();
  const probes = await probeServices([service("gone", gone.url)], {
    allowNetworks: [],
    namedHosts: ["127.0.0.1"],
  });
  assert.equal(probes[0].kind, "unreachable");
});
