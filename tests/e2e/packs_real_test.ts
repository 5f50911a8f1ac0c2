/**
 * End to end against the real services: the `prometheus` and `alertmanager`
 * starter packs (`packs/`), served by `loom run` over stdio to the SDK
 * client, answer what the services' APIs answer when called directly. The
 * Debian packages `prometheus` and `prometheus-alertmanager` provide the
 * binaries (`.ci/run` installs them); a missing binary fails the test.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { tempDir } from "../_helpers.ts";
import {
  fetchOk,
  requireBinary,
  servePack,
  startPrometheus,
  startService,
  until,
} from "./_packs.ts";

type Json = Record<string, unknown>;

Deno.test("prometheus pack: every tool answers what Prometheus's API answers", async () => {
  await using dir = await tempDir();
  await using prometheus = await startPrometheus(dir.path);
  const api = `${prometheus.url}/api/v1`;
  // Bounded: the first self-scrape lands within a few seconds.
  await until(async () => {
    const data = await fetchOk(`${api}/query?query=up`) as { data?: { result?: unknown[] } };
    return (data?.data?.result?.length ?? 0) > 0;
  }, "the first scrape");

  await using pack = await servePack("prometheus", {
    dir: dir.path,
    from: "http://127.0.0.1:9090",
    to: prometheus.url,
  });
  assert.deepEqual(await pack.tools(), [
    "alerts",
    "metric_names",
    "query",
    "query_range",
    "targets",
  ]);

  const up = await pack.call("query", { query: 'up{job="prometheus"}' }) as Json;
  assert.equal(up.resultType, "vector");
  const series = up.result as { metric: Json; value: [number, string] }[];
  assert.deepEqual(series.map((s) => [s.metric.job, s.value[1]]), [["prometheus", "1"]]);

  const now = Math.floor(Date.now() / 1000);
  // An explicit evaluation time, as RFC 3339 and as Unix seconds, gives the same series.
  // (the whole second after the up query's evaluation time, which follows a sample)
  const t = Math.ceil(series[0].value[0]);
  const at = await pack.call("query", { query: "up", time: new Date(t * 1000).toISOString() });
  const atUnix = await pack.call("query", { query: "up", time: String(t) }) as Json;
  assert.deepEqual(at, atUnix);
  assert.equal((atUnix.result as unknown[]).length, 1);
  const range = await pack.call("query_range", {
    query: "up",
    start: String(now - 60),
    end: String(now),
    step: "5s",
  }) as Json;
  const direct = await fetchOk(
    `${api}/query_range?query=up&start=${now - 60}&end=${now}&step=5s`,
  ) as { data: Json };
  assert.equal(range.resultType, "matrix");
  assert.deepEqual(range, direct.data);
  // RFC 3339 times and the default step are accepted too.
  const rfc = await pack.call("query_range", {
    query: "up",
    start: new Date((now - 30) * 1000).toISOString(),
    end: new Date(now * 1000).toISOString(),
  }) as Json;
  assert.equal(rfc.resultType, "matrix");

  const targets = await pack.call("targets") as { activeTargets: Json[] };
  const directTargets = await fetchOk(`${api}/targets`) as { data: { activeTargets: Json[] } };
  const jobs = (list: Json[]) => list.map((t) => t.scrapePool).sort();
  assert.deepEqual(jobs(targets.activeTargets), ["prometheus"]);
  assert.deepEqual(jobs(targets.activeTargets), jobs(directTargets.data.activeTargets));
  const any = await pack.call("targets", { state: "any" }) as { droppedTargets: unknown[] };
  assert.deepEqual(any.droppedTargets, []);

  const alerts = await pack.call("alerts");
  const directAlerts = await fetchOk(`${api}/alerts`) as { data: { alerts: unknown[] } };
  assert.deepEqual(alerts, directAlerts.data.alerts);

  const names = await pack.call("metric_names") as string[];
  assert.ok(names.includes("up"), "metric names include up");
  assert.ok(names.includes("prometheus_build_info"));
});

Deno.test("alertmanager pack: alerts, silences and status match Alertmanager's API v2", async () => {
  const program = await requireBinary("prometheus-alertmanager", "prometheus-alertmanager");
  await using dir = await tempDir();
  const config = join(dir.path, "alertmanager.yml");
  await Deno.writeTextFile(config, 'route: { receiver: "null" }\nreceivers: [{ name: "null" }]\n');
  await using am = await startService(program, [
    `--config.file=${config}`,
    `--storage.path=${join(dir.path, "data")}`,
    "--web.listen-address=127.0.0.1:{{port}}",
    "--cluster.listen-address=", // no gossip port
    "--log.level=warn",
  ], "/-/ready");
  const api = `${am.url}/api/v2`;
  const post = (path: string, body: unknown) =>
    fetchOk(`${api}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  const endsAt = new Date(Date.now() + 3_600_000).toISOString();
  assert.notEqual(
    await post("/alerts", [{ labels: { alertname: "PackTest", severity: "warning" } }]),
    null,
  );
  const silence = await post("/silences", {
    matchers: [{ name: "alertname", value: "Other", isRegex: false, isEqual: true }],
    startsAt: new Date().toISOString(),
    endsAt,
    createdBy: "packs-test",
    comment: "a silence listed through LOOM",
  }) as { silenceID: string };
  assert.match(silence.silenceID, /^[0-9a-f-]{36}$/);
  await until(
    async () => ((await fetchOk(`${api}/alerts`) ?? []) as unknown[]).length > 0,
    "the alert",
  );

  await using pack = await servePack("alertmanager", {
    dir: dir.path,
    from: "http://127.0.0.1:9093",
    to: am.url,
  });
  assert.deepEqual(await pack.tools(), ["alert_groups", "alerts", "silences", "status"]);

  const alerts = await pack.call("alerts") as { fingerprint: string; labels: Json }[];
  const directAlerts = await fetchOk(`${api}/alerts`) as { fingerprint: string }[];
  assert.deepEqual(alerts.map((a) => a.labels.alertname), ["PackTest"]);
  assert.deepEqual(alerts.map((a) => a.fingerprint), directAlerts.map((a) => a.fingerprint));
  const filtered = await pack.call("alerts", { filter: 'alertname="Nothing"', active: true });
  assert.deepEqual(filtered, []);

  const silences = await pack.call("silences") as { id: string; createdBy: string }[];
  assert.deepEqual(silences.map((s) => [s.id, s.createdBy]), [[silence.silenceID, "packs-test"]]);

  const groups = await pack.call("alert_groups") as { alerts: unknown[] }[];
  assert.equal(groups.flatMap((g) => g.alerts).length, 1);

  const status = await pack.call("status") as { versionInfo: Json; cluster: Json };
  const directStatus = await fetchOk(`${api}/status`) as { versionInfo: Json };
  assert.deepEqual(status.versionInfo, directStatus.versionInfo);
});
