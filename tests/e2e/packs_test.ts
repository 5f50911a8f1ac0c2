/**
 * End to end: `loom packs list | show | install` (the real CLI as a
 * subprocess) and every starter pack loading with the real config loader.
 * The packs served against fixture services: `packs_fixtures_test.ts`; against
 * the real Prometheus and Alertmanager: `packs_real_test.ts`.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { parseConfig } from "../../src/config/mod.ts";
import { EXIT_CODES, LoomError } from "../../src/errors.ts";
import { packsDir } from "../../src/cli/packs.ts";
import { runLoom, tempDir } from "../_helpers.ts";
import { PACKS } from "./_packs.ts";

/** Every pack: its tier, tools and secrets. */
/**
 * Each pack: its tier, tools and secrets; where its bridges go (default: a
 * loopback port) and its provenance (default: human; `github` was made with
 * the importer).
 */
const EXPECTED: Record<
  string,
  { tier: number; tools: string[]; secrets: string[]; origin?: RegExp; source?: string }
> = {
  alertmanager: { tier: 1, tools: ["alert_groups", "alerts", "silences", "status"], secrets: [] },
  "git-forge": { tier: 1, tools: ["repo", "repo_issues", "user_repos"], secrets: ["forge-token"] },
  github: {
    tier: 1,
    tools: [
      "actions_list_workflow_runs_for_repo",
      "issues_get",
      "issues_list_comments",
      "issues_list_for_repo",
      "pulls_get",
      "pulls_list",
      "repos_get",
      "repos_list_commits",
      "repos_list_for_user",
      "repos_list_releases",
      "search_issues_and_pull_requests",
    ],
    secrets: ["github-token"],
    origin: /^https:\/\/api\.github\.com\//,
    source: "imported",
  },
  grafana: {
    tier: 1,
    tools: ["alert_rules", "dashboard", "datasources", "health", "search_dashboards"],
    secrets: ["grafana-token"],
  },
  ollama: { tier: 2, tools: ["generate", "model_info", "models", "running"], secrets: [] },
  prometheus: {
    tier: 1,
    tools: ["alerts", "metric_names", "query", "query_range", "targets"],
    secrets: [],
  },
  radarr: {
    tier: 1,
    tools: ["calendar", "history", "lookup", "movie_detail", "movies", "queue"],
    secrets: ["radarr-api-key"],
  },
  sonarr: {
    tier: 1,
    tools: ["calendar", "history", "lookup", "queue", "series", "series_detail"],
    secrets: ["sonarr-api-key"],
  },
};

Deno.test("packs: every pack loads with the real loader, on its tier, on loopback (github: its API)", async () => {
  const names: string[] = [];
  for await (const entry of Deno.readDir(PACKS)) {
    if (entry.name.endsWith(".yaml")) names.push(entry.name.slice(0, -5));
  }
  assert.deepEqual(names.sort(), Object.keys(EXPECTED).sort());
  for (const [name, want] of Object.entries(EXPECTED)) {
    const path = new URL(`${name}.yaml`, PACKS).pathname;
    const config = parseConfig(await Deno.readTextFile(path), { path });
    assert.equal(config.name, name);
    assert.equal(config.runtime.trustTier, want.tier, name);
    assert.deepEqual(config.tools.map((t) => t.name).sort(), want.tools, name);
    assert.equal(config.provenance.source, want.source ?? "human", name);
    for (const bridge of config.bridges) {
      const origin = want.origin ?? /^http:\/\/127\.0\.0\.1:\d+\//;
      assert.match(bridge.url, origin, `${name}: ${bridge.url}`);
    }
    const text = await Deno.readTextFile(path);
    const secrets = [...text.matchAll(/\{\{secret:([a-z-]+)\}\}/g)].map((m) => m[1]);
    assert.deepEqual([...new Set(secrets)].sort(), want.secrets, name);
  }
});

Deno.test("packs: the prometheus pack's query_range has no relative start/end default", async () => {
  const path = new URL("prometheus.yaml", PACKS).pathname;
  const config = parseConfig(await Deno.readTextFile(path), { path });
  const range = config.tools.find((t) => t.name === "query_range");
  assert.ok(range);
  const params = range.parameters as Record<string, { required: boolean; default?: unknown }>;
  assert.equal(params.start.required, true);
  assert.equal(params.end.required, true);
  assert.equal(params.start.default, undefined);
  assert.equal(params.step.default, "60s");
});

Deno.test("loom packs list and show: names, tiers, tools; the YAML escaped", async () => {
  await using dir = await tempDir();
  const home = join(dir.path, "home");
  const list = await runLoom(["packs", "list"], { home });
  assert.equal(list.code, 0, list.stderr);
  const rows = list.stdout.trim().split("\n");
  assert.match(rows[0], /^NAME\s+TIER\s+TOOLS\s+DESCRIPTION$/);
  assert.equal(rows.length, 1 + Object.keys(EXPECTED).length);
  assert.match(list.stdout, /^sonarr\s+1\s+series,series_detail,queue,lookup,calendar,history\s/m);
  assert.match(list.stdout, /^ollama\s+2\s/m);

  const show = await runLoom(["packs", "show", "prometheus"], { home });
  assert.equal(show.code, 0, show.stderr);
  assert.equal(show.stdout, await Deno.readTextFile(new URL("prometheus.yaml", PACKS)));

  // A pack's bytes cannot drive the terminal: a control character is shown escaped.
  const packs = join(dir.path, "packs");
  await Deno.mkdir(packs);
  const text = await Deno.readTextFile(new URL("alertmanager.yaml", PACKS));
  await Deno.writeTextFile(join(packs, "alertmanager.yaml"), `# \x1b[2J\n${text}`);
  const escaped = await runLoom(["packs", "show", "alertmanager", "--dir", packs], { home });
  assert.equal(escaped.code, 0, escaped.stderr);
  assert.ok(!escaped.stdout.includes("\x1b"), "no raw escape character");
  assert.match(escaped.stdout, /^# \\x1b\[2J$/m);
});

Deno.test("packs: from source, packs/ beside it; a bundle says it has none", () => {
  assert.equal(`${packsDir()}/`, PACKS.pathname);
  assert.throws(
    () => packsDir("file:///opt/dist/loom.js"),
    (error: unknown) =>
      error instanceof LoomError && error.code === "UNAVAILABLE" && /--dir/.test(error.message),
  );
});

Deno.test("loom packs: an unknown pack or command is a clear error with its exit code", async () => {
  await using dir = await tempDir();
  const home = join(dir.path, "home");
  const typo = await runLoom(["packs", "show", "sonar"], { home });
  assert.equal(typo.code, EXIT_CODES.NOT_FOUND);
  assert.match(typo.stderr, /No starter pack "sonar": did you mean "sonarr"\?/);
  const unknown = await runLoom(["packs", "install", "../etc/passwd"], { home });
  assert.equal(unknown.code, EXIT_CODES.NOT_FOUND);
  assert.match(unknown.stderr, /No starter pack "\.\.\/etc\/passwd"/);
  const sub = await runLoom(["packs", "lst"], { home });
  assert.equal(sub.code, EXIT_CODES.USAGE);
  assert.match(sub.stderr, /did you mean "list"\?/);
  const stray = await runLoom(["packs", "show", "sonarr", "--to", dir.path], { home });
  assert.equal(stray.code, EXIT_CODES.USAGE);
  const help = await runLoom(["help", "packs"], { home });
  assert.match(help.stdout, /loom packs install NAME|install NAME \[--to DIR\]/);
});

Deno.test("loom packs install --to: writes the pack, refuses to overwrite without --force", async () => {
  await using dir = await tempDir();
  const home = join(dir.path, "home");
  const agents = join(dir.path, "agents");
  await Deno.mkdir(agents);
  const first = await runLoom(["packs", "install", "grafana", "--to", agents], { home });
  assert.equal(first.code, 0, first.stderr);
  const target = join(agents, "grafana.yaml");
  const pack = await Deno.readTextFile(new URL("grafana.yaml", PACKS));
  assert.equal(await Deno.readTextFile(target), pack);
  assert.match(first.stdout, /loom secrets set grafana-token\n/);
  assert.ok(first.stdout.includes(`loom secrets grant grafana grafana-token --config ${target}`));

  await Deno.writeTextFile(target, `${pack}# adapted\n`);
  const again = await runLoom(["packs", "install", "grafana", "--to", agents], { home });
  assert.equal(again.code, EXIT_CODES.USAGE);
  assert.match(again.stderr, /exists; pass --force to replace it/);
  assert.equal(await Deno.readTextFile(target), `${pack}# adapted\n`, "left untouched");

  const forced = await runLoom(["packs", "install", "grafana", "--to", agents, "--force"], {
    home,
  });
  assert.equal(forced.code, 0, forced.stderr);
  assert.equal(await Deno.readTextFile(target), pack);
  const leftovers = [];
  for await (const entry of Deno.readDir(agents)) leftovers.push(entry.name);
  assert.deepEqual(leftovers, ["grafana.yaml"], "no temp file left behind");

  const missing = await runLoom(["packs", "install", "grafana", "--to", join(dir.path, "no")], {
    home,
  });
  assert.equal(missing.code, EXIT_CODES.NOT_FOUND);
});

Deno.test("loom packs install: into the quarantine, audited, then promoted", async () => {
  await using dir = await tempDir();
  const home = join(dir.path, "home");
  const installed = await runLoom(["packs", "install", "sonarr"], { home });
  assert.equal(installed.code, 0, installed.stderr);
  assert.match(installed.stdout, /Quarantined ".*sonarr\.yaml" as sonarr/);
  assert.match(installed.stdout, /loom quarantine promote sonarr --to agents/);
  assert.match(installed.stdout, /loom secrets grant sonarr sonarr-api-key --config agents\//);

  const again = await runLoom(["packs", "install", "sonarr"], { home });
  assert.equal(again.code, EXIT_CODES.USAGE, "a pending entry is not replaced");
  const forced = await runLoom(["packs", "install", "sonarr", "--force"], { home });
  assert.equal(forced.code, 0, forced.stderr);

  const audit = await runLoom(["audit", "show", "--event", "quarantine"], { home });
  assert.equal(audit.code, 0, audit.stderr);
  assert.match(audit.stdout, /add/);

  const agents = join(dir.path, "agents");
  await Deno.mkdir(agents);
  const promoted = await runLoom(["quarantine", "promote", "sonarr", "--to", agents], { home });
  assert.equal(promoted.code, 0, promoted.stderr);
  assert.equal(
    await Deno.readTextFile(join(agents, "sonarr.yaml")),
    await Deno.readTextFile(new URL("sonarr.yaml", PACKS)),
  );
});
