/**
 * End to end: the `sonarr`, `radarr`, `grafana` and `git-forge` starter packs
 * served by `loom run` (over stdio, to the SDK client) against fixture
 * services on loopback that answer the endpoints each pack uses with their
 * documented JSON shapes, and only with the pack's credential header: the
 * secret is set and granted through the real CLI, and each test checks the
 * exact requests the pack sent.
 */

import assert from "node:assert/strict";
import { runLoom, startUpstream, tempDir, type Upstream } from "../_helpers.ts";
import { OLLAMA_MODELS, startOllama } from "../fixtures/ollama_server.ts";
import { servePack } from "./_packs.ts";

const KEY = "pack-test-key-0123456789";

/** `before` of servePack: set the secret and grant it to the agent. */
function grantSecret(agent: string, secret: string) {
  return async (config: string, home: string) => {
    const set = await runLoom(["secrets", "set", secret], { home, stdin: KEY });
    assert.equal(set.code, 0, set.stderr);
    const grant = await runLoom(["secrets", "grant", agent, secret, "--config", config], { home });
    assert.equal(grant.code, 0, grant.stderr);
  };
}

/** What a fixture received: path and query of each request. */
function seen(upstream: Upstream): string[] {
  return upstream.requests.map((r) => {
    const url = new URL(r.url);
    return `${url.pathname}${url.search}`;
  });
}

/** A fixture Sonarr or Radarr (API v3): `item` is "series" or "movie". */
function arrFixture(item: "series" | "movie") {
  const one = { id: 1, title: "Example", year: 2020, monitored: true };
  return (req: Request): Response => {
    if (req.headers.get("x-api-key") !== KEY) {
      return Response.json({ error: "Unauthorized" }, { status: 401 });
    }
    const url = new URL(req.url);
    const q = url.searchParams;
    const page = (records: unknown[]) => ({
      page: Number(q.get("page") ?? 1),
      pageSize: Number(q.get("pageSize") ?? 10),
      sortKey: "date",
      sortDirection: "descending",
      totalRecords: records.length,
      records,
    });
    switch (url.pathname) {
      case `/api/v3/${item}`:
        return Response.json([one]);
      case `/api/v3/${item}/1`:
        return Response.json(one);
      case `/api/v3/${item}/lookup`:
        return Response.json([{ title: `Found: ${q.get("term")}`, year: 2001 }]);
      case "/api/v3/queue":
        return Response.json(page([{ id: 7, status: "downloading", timeleft: "00:10:00" }]));
      case "/api/v3/calendar":
        return Response.json([{ id: 2, airDateUtc: `${q.get("start")}T20:00:00Z` }]);
      case "/api/v3/history":
        return Response.json(page([{ id: 3, eventType: "grabbed", sourceTitle: "Example" }]));
      default:
        return Response.json({ message: "NotFound" }, { status: 404 });
    }
  };
}

for (
  const [pack, item, port, list, detail] of [
    ["sonarr", "series", 8989, "series", "series_detail"],
    ["radarr", "movie", 7878, "movies", "movie_detail"],
  ] as const
) {
  Deno.test(`${pack} pack: the six tools through loom run against a fixture`, async () => {
    await using upstream = await startUpstream(arrFixture(item));
    await using dir = await tempDir();
    await using served = await servePack(pack, {
      dir: dir.path,
      from: `http://127.0.0.1:${port}`,
      to: upstream.url,
      before: grantSecret(pack, `${pack}-api-key`),
    });
    assert.deepEqual(
      await served.tools(),
      ["calendar", "history", "lookup", detail, list, "queue"].sort(),
    );
    const one = { id: 1, title: "Example", year: 2020, monitored: true };
    assert.deepEqual(await served.call(list), [one]);
    assert.deepEqual(await served.call(detail, { id: 1 }), one);
    const queue = await served.call("queue") as { page: number; pageSize: number };
    assert.deepEqual([queue.page, queue.pageSize], [1, 20]);
    const found = await served.call("lookup", { term: "example" }) as { title: string }[];
    assert.equal(found[0].title, "Found: example");
    const calendar = await served.call("calendar", { start: "2026-01-31", end: "2026-02-07" });
    assert.deepEqual(calendar, [{ id: 2, airDateUtc: "2026-01-31T20:00:00Z" }]);
    const history = await served.call("history", { page: 2, page_size: 5 }) as {
      page: number;
      pageSize: number;
      records: unknown[];
    };
    assert.deepEqual([history.page, history.pageSize, history.records.length], [2, 5, 1]);
    assert.deepEqual(seen(upstream), [
      `/api/v3/${item}`,
      `/api/v3/${item}/1`,
      "/api/v3/queue?page=1&pageSize=20",
      `/api/v3/${item}/lookup?term=example`,
      "/api/v3/calendar?start=2026-01-31&end=2026-02-07",
      "/api/v3/history?page=2&pageSize=5",
    ]);
  });
}

Deno.test("grafana pack: search, dashboard, datasources, alert rules, health with the token", async () => {
  await using upstream = await startUpstream((req) => {
    if (req.headers.get("authorization") !== `Bearer ${KEY}`) {
      return Response.json({ message: "Unauthorized" }, { status: 401 });
    }
    const url = new URL(req.url);
    const answers: Record<string, unknown> = {
      "/api/search": [{ uid: "abc", title: "Nodes", type: "dash-db", url: "/d/abc/nodes" }],
      "/api/dashboards/uid/abc": { dashboard: { uid: "abc", title: "Nodes" }, meta: {} },
      "/api/datasources": [{ uid: "p1", name: "Prometheus", type: "prometheus" }],
      "/api/v1/provisioning/alert-rules": [{ uid: "r1", title: "High load" }],
      "/api/health": { database: "ok", version: "11.0.0" },
    };
    return url.pathname in answers
      ? Response.json(answers[url.pathname])
      : Response.json({ message: "Not found" }, { status: 404 });
  });
  await using dir = await tempDir();
  await using served = await servePack("grafana", {
    dir: dir.path,
    from: "http://127.0.0.1:3000",
    to: upstream.url,
    before: grantSecret("grafana", "grafana-token"),
  });
  const hits = await served.call("search_dashboards", { query: "nodes" }) as { uid: string }[];
  assert.equal(hits[0].uid, "abc");
  const board = await served.call("dashboard", { uid: "abc" }) as { dashboard: { title: string } };
  assert.equal(board.dashboard.title, "Nodes");
  assert.equal((await served.call("datasources") as unknown[]).length, 1);
  assert.equal((await served.call("alert_rules") as unknown[]).length, 1);
  assert.deepEqual(await served.call("health"), { database: "ok", version: "11.0.0" });
  assert.deepEqual(seen(upstream), [
    "/api/search?query=nodes&type=dash-db&limit=50",
    "/api/dashboards/uid/abc",
    "/api/datasources",
    "/api/v1/provisioning/alert-rules",
    "/api/health",
  ]);
});

Deno.test("git-forge pack: repos, repo and issues of a Gitea API v1 with the token", async () => {
  await using upstream = await startUpstream((req) => {
    if (req.headers.get("authorization") !== `token ${KEY}`) {
      return Response.json({ message: "token is required" }, { status: 401 });
    }
    const url = new URL(req.url);
    const repo = { id: 1, name: "loom", full_name: "alice/loom", default_branch: "main" };
    if (url.pathname === "/api/v1/users/alice/repos") return Response.json([repo]);
    if (url.pathname === "/api/v1/repos/alice/loom") return Response.json(repo);
    if (url.pathname === "/api/v1/repos/alice/loom/issues") {
      return Response.json([{ number: 15, title: "Starter packs", state: "open" }]);
    }
    return Response.json({ message: "not found" }, { status: 404 });
  });
  await using dir = await tempDir();
  await using served = await servePack("git-forge", {
    dir: dir.path,
    from: "http://127.0.0.1:3000",
    to: upstream.url,
    before: grantSecret("git-forge", "forge-token"),
  });
  const repos = await served.call("user_repos", { owner: "alice" }) as { name: string }[];
  assert.deepEqual(repos.map((r) => r.name), ["loom"]);
  const repo = await served.call("repo", { owner: "alice", repo: "loom" }) as { full_name: string };
  assert.equal(repo.full_name, "alice/loom");
  const issues = await served.call("repo_issues", { owner: "alice", repo: "loom" });
  assert.deepEqual(issues, [{ number: 15, title: "Starter packs", state: "open" }]);
  assert.deepEqual(seen(upstream), [
    "/api/v1/users/alice/repos?page=1&limit=20",
    "/api/v1/repos/alice/loom",
    "/api/v1/repos/alice/loom/issues?state=open&type=issues&page=1&limit=20",
  ]);
});

Deno.test("ollama pack: models, running, model info and generate against the fixture Ollama", async () => {
  await using ollama = await startOllama();
  await using dir = await tempDir();
  await using served = await servePack("ollama", {
    dir: dir.path,
    from: "http://127.0.0.1:11434",
    to: ollama.url,
  });
  assert.deepEqual(await served.tools(), ["generate", "model_info", "models", "running"]);
  const models = await served.call("models") as { name: string }[];
  assert.deepEqual(models.map((m) => m.name), OLLAMA_MODELS.map((m) => m.name));
  assert.deepEqual(await served.call("running"), []);
  // The chat template in /api/show's answer is flagged, and handed over fenced as data.
  const info = await served.text("model_info", { model: "llama3.2:3b" });
  assert.match(info, /"family":"llama"/);
  assert.match(info, /LOOM output scan: /);
  assert.equal(await served.call("generate", { model: "llama3.2:3b", prompt: "hi" }), "echo: hi");
  const running = await served.call("running") as { name: string }[];
  assert.deepEqual(running.map((m) => m.name), ["llama3.2:3b"]);
  const sent = ollama.requests.filter((r) => r.path === "/api/generate").map((r) => r.body);
  assert.deepEqual(sent, [{ model: "llama3.2:3b", prompt: "hi", stream: false }]);
});

Deno.test("github pack: repository, issues and search through loom run, with the token and API headers", async () => {
  await using upstream = await startUpstream((req) => {
    const ok = req.headers.get("authorization") === `Bearer ${KEY}` &&
      req.headers.get("accept") === "application/vnd.github+json" &&
      req.headers.get("x-github-api-version") === "2022-11-28";
    if (!ok) return Response.json({ message: "Bad credentials" }, { status: 401 });
    const url = new URL(req.url);
    const answers: Record<string, unknown> = {
      "/repos/octo/hello": { id: 1, full_name: "octo/hello", private: false },
      "/repos/octo/hello/issues": [{ number: 7, title: "A bug", state: "open" }],
      "/search/issues": { total_count: 1, incomplete_results: false, items: [{ number: 7 }] },
    };
    return url.pathname in answers
      ? Response.json(answers[url.pathname])
      : Response.json({ message: "Not Found" }, { status: 404 });
  });
  await using dir = await tempDir();
  await using served = await servePack("github", {
    dir: dir.path,
    from: "https://api.github.com",
    to: upstream.url,
    before: grantSecret("github", "github-token"),
  });
  assert.deepEqual(await served.call("repos_get", { owner: "octo", repo: "hello" }), {
    id: 1,
    full_name: "octo/hello",
    private: false,
  });
  const issues = await served.call("issues_list_for_repo", {
    owner: "octo",
    repo: "hello",
    state: "open",
  });
  assert.deepEqual(issues, [{ number: 7, title: "A bug", state: "open" }]);
  const found = await served.call("search_issues_and_pull_requests", { q: "repo:octo/hello bug" });
  assert.equal((found as { total_count: number }).total_count, 1);
  assert.deepEqual(seen(upstream), [
    "/repos/octo/hello",
    // The description's defaults are sent (sort, direction, paging).
    "/repos/octo/hello/issues?state=open&sort=created&direction=desc&per_page=30&page=1",
    "/search/issues?q=repo%3Aocto%2Fhello+bug&order=desc&per_page=30&page=1",
  ]);
});
