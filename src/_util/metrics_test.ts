import assert from "node:assert/strict";
import { escapeLabelValue, MetricsRegistry } from "./metrics.ts";
import { LoomMetrics, UNKNOWN_TOOL_LABEL } from "./loom_metrics.ts";
import { parseExposition, sampleValue } from "./_testing_metrics.ts";

Deno.test("the strict reader refuses what the format does not allow", () => {
  const bad = [
    "x 1\n", // no TYPE
    '# TYPE x counter\nx{a="\\t"} 1\n', // an escape the format does not have
    '# TYPE x counter\nx{a="b} 1\n', // unterminated value
    "# TYPE x counter\nx 1 123\n", // a timestamp (not produced by LOOM)
    "# TYPE x counter\nx 1\nx 2\n", // repeated sample
    "# TYPE x counter\nx 1", // no final newline
    '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_count 1\nh_sum 0\n',
  ];
  for (const text of bad) assert.throws(() => parseExposition(text), SyntaxError, text);
});

Deno.test("label values are escaped: backslash, double quote and line feed, nothing else", () => {
  assert.equal(escapeLabelValue('a\\b"c\nd\te'), 'a\\\\b\\"c\\nd\te');
  const registry = new MetricsRegistry();
  const hostile = 'x"} 1\nfake_metric{a="b\\';
  registry.counter("demo_total", "Help with a \\ backslash\nand a newline.", ["v"])
    .labels(hostile).inc(3);
  const text = registry.render();
  // The hostile value cannot start a line of its own.
  assert.ok(!text.split("\n").some((l) => l.startsWith("fake_metric")), text);
  const parsed = parseExposition(text);
  assert.equal(sampleValue(parsed, "demo_total", { v: hostile }), 3);
  assert.equal(parsed.help.get("demo_total"), "Help with a \\ backslash\nand a newline.");
});

Deno.test("a family refuses bad names and wrong label counts, and bounds its series", () => {
  const registry = new MetricsRegistry();
  assert.throws(() => registry.counter("bad-name", "x"), TypeError);
  assert.throws(() => registry.counter("ok_total", "x", ["le"]), TypeError);
  assert.throws(() => registry.histogram("h", "x", [], [1, 1]), TypeError);
  const c = registry.counter("ok_total", "x", ["a"], { maxSeries: 2 });
  assert.throws(() => registry.counter("ok_total", "x"), TypeError);
  assert.throws(() => c.labels(), TypeError);
  for (const v of ["a", "b", "c", "d"]) c.labels(v).inc();
  assert.equal(c.size, 2);
  const parsed = parseExposition(registry.render());
  assert.equal(parsed.samples.length, 2);
});

Deno.test("histograms render cumulative buckets, +Inf, sum and count", () => {
  const registry = new MetricsRegistry();
  const h = registry.histogram("lat_seconds", "Latency.", ["op"], [0.01, 0.1, 1]).labels("x");
  for (const v of [0.005, 0.01, 0.05, 0.5, 7, NaN]) h.observe(v);
  const parsed = parseExposition(registry.render());
  const bucket = (le: string) => sampleValue(parsed, "lat_seconds_bucket", { op: "x", le });
  assert.deepEqual([bucket("0.01"), bucket("0.1"), bucket("1"), bucket("+Inf")], [2, 3, 4, 5]);
  assert.equal(sampleValue(parsed, "lat_seconds_count", { op: "x" }), 5);
  assert.ok(Math.abs(sampleValue(parsed, "lat_seconds_sum", { op: "x" })! - 7.565) < 1e-9);
});

Deno.test("LoomMetrics: build info, start time, outcomes, denials and host lifecycle", () => {
  const metrics = new LoomMetrics({ version: "9.9.9", startedAt: 1_700_000_000_500 });
  const ok = metrics.toolSeries("a", "search");
  ok.finished(0.002, null, null);
  ok.finished(0.3, null, "timeout");
  ok.finished(0.0001, "rate_limit", null);
  metrics.toolSeries("a", UNKNOWN_TOOL_LABEL).finished(0, "unknown_tool", null);
  const host = metrics.agentHost("a");
  host.observe("spawn");
  host.observe("ready");
  const parsed = parseExposition(metrics.render());
  const v = (name: string, labels: Record<string, string> = {}) =>
    sampleValue(parsed, name, labels);
  assert.equal(v("loom_build_info", { version: "9.9.9" }), 1);
  assert.equal(v("loom_process_start_time_seconds"), 1_700_000_000);
  assert.equal(v("loom_tool_calls_total", { agent: "a", tool: "search", outcome: "success" }), 1);
  assert.equal(
    v("loom_tool_calls_total", { agent: "a", tool: "search", outcome: "tool_error" }),
    1,
  );
  assert.equal(v("loom_tool_calls_total", { agent: "a", tool: "search", outcome: "refused" }), 1);
  assert.equal(
    v("loom_tool_call_errors_total", { agent: "a", tool: "search", kind: "timeout" }),
    1,
  );
  assert.equal(
    v("loom_tool_call_denials_total", { agent: "a", tool: "search", reason: "rate_limit" }),
    1,
  );
  assert.equal(
    v("loom_tool_call_denials_total", { agent: "a", tool: "unknown", reason: "unknown_tool" }),
    1,
  );
  assert.equal(v("loom_tool_call_duration_seconds_count", { agent: "a", tool: "search" }), 3);
  assert.equal(v("loom_agent_host_up", { agent: "a" }), 1);
  host.observe("crash");
  host.observe("restart");
  const after = parseExposition(metrics.render());
  assert.equal(sampleValue(after, "loom_agent_host_up", { agent: "a" }), 0);
  assert.equal(sampleValue(after, "loom_agent_host_restarts_total", { agent: "a" }), 1);
  for (const family of after.types.keys()) {
    assert.match(family, /^loom_/);
    assert.ok(after.help.has(family), family);
  }
});
