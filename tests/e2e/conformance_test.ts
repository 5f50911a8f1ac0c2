/**
 * The public MCP conformance suite (`@modelcontextprotocol/conformance`)
 * against `loom run --transport http`, one scenario at a time, in both eras:
 * 0.1.16 for the session revision as before, and 0.2.0-alpha.12 for the
 * 2025-11-25 and 2026-07-28 scenarios. It needs a newer Node than some
 * machines have, so it runs under Deno.
 *
 * The scenarios call tools by the names the suite's reference server uses;
 * here each is an ordinary LOOM tool bridged to a local upstream that
 * answers what the scenario expects, so every call still passes the whole
 * gate. Scenarios about resources, prompts, sampling, elicitation, media
 * content and the initialize-era SSE polling do not apply to LOOM (it serves
 * tools from HTTP APIs); README.md lists them with the reason.
 *
 * `conformance-baseline.yml` excuses single checks that LOOM cannot meet
 * honestly, each with its reason; the suite fails the run if an excused
 * check starts passing, so the list cannot go stale.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { DEV_CONFIG_FLAGS, startLoomHttp, startUpstream, tempDir } from "../_helpers.ts";

/** Set `CONFORMANCE_REPORT=1` to print each scenario's counts. */
const REPORT = Deno.env.get("CONFORMANCE_REPORT") === "1";
const BASELINE = fileURLToPath(new URL("./conformance-baseline.yml", import.meta.url));

/** The scenarios run with the 0.1.16 suite (the session revision). */
const LEGACY_SCENARIOS = [
  "server-initialize",
  "ping",
  "tools-list",
  "logging-set-level",
  "dns-rebinding-protection",
  "server-sse-multiple-streams",
];

/** The scenarios run with the 0.2.0-alpha.12 suite, per revision. */
const SCENARIOS: Record<string, string[]> = {
  "2025-11-25": [
    "server-initialize",
    "server-session-lifecycle",
    "ping",
    "logging-set-level",
    "tools-list",
    "tools-call-simple-text",
    "tools-call-error",
    "tools-call-with-progress",
    "json-schema-2020-12",
    "dns-rebinding-protection",
    "server-sse-multiple-streams",
  ],
  "2026-07-28": [
    "server-stateless",
    "caching",
    "http-header-validation",
    "http-custom-header-server-validation",
    "tools-list",
    "tools-call-simple-text",
    "tools-call-error",
    "tools-call-with-progress",
    "json-schema-2020-12",
    "dns-rebinding-protection",
    "prompts-list",
    "resources-list",
    "sep-2164-resource-not-found",
  ],
};

/** The input schema the `json-schema-2020-12` scenario looks for, kept verbatim. */
const JSON_SCHEMA_2020_12 = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  type: "object",
  $defs: {
    address: {
      $anchor: "addressDef",
      type: "object",
      properties: { street: { type: "string" }, city: { type: "string" } },
    },
  },
  properties: {
    name: { type: "string" },
    address: { $ref: "#/$defs/address" },
    contactMethod: { type: "string", enum: ["phone", "email"] },
    phone: { type: "string" },
    email: { type: "string" },
  },
  allOf: [{ anyOf: [{ required: ["phone"] }, { required: ["email"] }] }],
  if: { properties: { contactMethod: { const: "phone" } }, required: ["contactMethod"] },
  then: { required: ["phone"] },
  else: { required: ["email"] },
  additionalProperties: false,
};

/** The fixture upstream: one path per tool, answering what the scenario expects. */
function fixtureUpstream(req: Request): Response {
  switch (new URL(req.url).pathname) {
    case "/simple":
      return new Response("This is a simple text response for testing.", {
        headers: { "content-type": "text/plain" },
      });
    case "/error":
      return new Response("This tool intentionally returns an error for testing", {
        status: 500,
        headers: { "content-type": "text/plain" },
      });
    default:
      return Response.json({ ok: true });
  }
}

function fixtureConfig(url: string): string {
  const tool = (name: string, description: string, extra = "") =>
    `    - name: ${name}\n      description: ${description}\n${extra}`;
  const bridge = (name: string, path: string, extra = "") =>
    `    - tool_name: ${name}\n      url: "${url}${path}"\n${extra}`;
  return `agent:
  name: conformance
  exposes:
${tool("echo_status", "Report the upstream status")}${
    tool("test_simple_text", "Return a fixed text")
  }${tool("test_error_handling", "Call an upstream that always fails")}${
    tool("test_tool_with_progress", "Report progress while calling the upstream")
  }${tool("test_logging_tool", "Log while calling the upstream")}${
    tool("test_streaming_elicitation", "Answer from the upstream")
  }${
    tool(
      "json_schema_2020_12_tool",
      "Tool with JSON Schema 2020-12 features",
      `      input_schema: ${JSON.stringify(JSON_SCHEMA_2020_12)}\n`,
    )
  }${
    tool(
      "regional_status",
      "Report the status of one region",
      "      parameters:\n        region: { type: string, mcp_header: Region }\n",
    )
  }  http_bridge:
${bridge("echo_status", "/status")}${bridge("test_simple_text", "/simple")}${
    bridge("test_error_handling", "/error")
  }${bridge("test_tool_with_progress", "/progress")}${bridge("test_logging_tool", "/log")}${
    bridge("test_streaming_elicitation", "/stream")
  }${bridge("json_schema_2020_12_tool", "/schema")}${
    bridge("regional_status", "/region", "      query_params: { region: region }\n")
  }`;
}

/** Run one scenario; its pass count, or a failure with the suite's own report. */
async function runScenario(
  suite: string,
  url: string,
  scenario: string,
  specVersion?: string,
): Promise<string> {
  const args = [
    "run",
    "-A",
    ...DEV_CONFIG_FLAGS,
    `npm:@modelcontextprotocol/conformance@${suite}`,
    "server",
    "--url",
    url,
    "--scenario",
    scenario,
  ];
  if (specVersion !== undefined) {
    args.push("--spec-version", specVersion, "--expected-failures", BASELINE);
  }
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  const summary = /Passed: (\d+)\/(\d+), (\d+) failed/.exec(text);
  assert.ok(summary, `no result line from the suite:\n${text.slice(-2000)}`);
  assert.equal(out.code, 0, text.slice(-3000));
  if (REPORT) console.log(`conformance ${suite} ${specVersion ?? ""} ${scenario}: ${summary[0]}`);
  return `${summary[1]}/${summary[2]}`;
}

Deno.test("conformance: loom run --transport http passes the server scenarios of both eras", async (t) => {
  await using dir = await tempDir();
  await using api = await startUpstream(fixtureUpstream);
  const config = join(dir.path, "conformance.yaml");
  await Deno.writeTextFile(config, fixtureConfig(api.url));
  await using server = await startLoomHttp(config, { home: join(dir.path, "home") });
  for (const scenario of LEGACY_SCENARIOS) {
    await t.step(`0.1.16 ${scenario}`, async () => {
      await runScenario("0.1.16", server.url, scenario);
    });
  }
  for (const [version, scenarios] of Object.entries(SCENARIOS)) {
    for (const scenario of scenarios) {
      await t.step(`0.2.0-alpha.12 ${version} ${scenario}`, async () => {
        await runScenario("0.2.0-alpha.12", server.url, scenario, version);
      });
    }
  }
});
