import assert from "node:assert/strict";
import { join } from "node:path";
import { ConfigError, NotFoundError, UsageError } from "../errors.ts";
import { loadConfig } from "../config/mod.ts";
import { denoFlagsFor, FORBIDDEN_DENO_FLAGS } from "../security/sandbox/mod.ts";
import { SANDBOX_HELP, sandboxCommand, sandboxReport } from "./sandbox.ts";
import { memoryIo } from "./_testing.ts";

const CONFIG = `agent:
  name: weather-api
  description: "Weather forecasts"
  exposes:
    - name: forecast
      description: "Forecast for a city"
      parameters:
        city: { type: string }
  http_bridge:
    - tool_name: forecast
      url: "https://api.weather.example/v1/forecast/{{city}}"
  runtime:
    trust_tier: 2
    allow_networks: ["10.20.0.0/16"]
`;

async function withConfig(fn: (path: string) => Promise<void>, text = CONFIG): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "loom-sandbox-cli-" });
  try {
    const path = join(dir, "weather.yaml");
    await Deno.writeTextFile(path, text);
    await fn(path);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("sandboxCommand() refuses a missing CONFIG, extra arguments and a bad --memory", async () => {
  const io = memoryIo();
  await assert.rejects(sandboxCommand([], io), UsageError);
  await assert.rejects(sandboxCommand(["a.yaml", "b.yaml"], io), UsageError);
  await assert.rejects(sandboxCommand(["a.yaml", "--memory", "lots"], io), UsageError);
  await assert.rejects(sandboxCommand(["a.yaml", "--memory", "8"], io), UsageError);
  await assert.rejects(sandboxCommand(["does-not-exist.yaml"], io), NotFoundError);
  await withConfig(async (path) => {
    await assert.rejects(sandboxCommand([path], io), ConfigError);
  }, CONFIG.replace("trust_tier: 2", "trust_tier: 9"));
});

Deno.test("sandboxCommand() prints the Deno flags, docker run and network policy", async () => {
  await withConfig(async (path) => {
    const io = memoryIo();
    assert.equal(await sandboxCommand([path, "--source", "/srv/loom"], io), 0);
    const text = io.stdoutText();
    assert.match(text, /^agent weather-api 1\.0\.0: tier 2 \(worker\), sandbox deno\n/);
    assert.match(text, /deno run \\\n {4}--no-prompt \\\n {4}--no-config/);
    assert.match(text, /--allow-net=api\.weather\.example:443 \\\n/);
    assert.match(text, /docker run \\\n/);
    assert.match(text, /--tmpfs \/tmp:rw,noexec,nosuid,size=16m \\\n/);
    assert.match(text, /--user 65534:65534 \\\n/);
    assert.match(text, /--cap-drop=ALL/);
    assert.match(text, /--security-opt=no-new-privileges/);
    assert.match(text, /--volume=\/srv\/loom:\/loom:ro/);
    assert.match(text, /allow {2}https:\/\/api\.weather\.example:443\n/);
    assert.match(text, /Docker cannot allow-list hosts/);
    for (const flag of FORBIDDEN_DENO_FLAGS) assert.ok(!text.includes(`${flag} `), flag);
  });
});

Deno.test("sandboxCommand() --json prints the same report as sandboxReport()", async () => {
  await withConfig(async (path) => {
    const io = memoryIo();
    assert.equal(
      await sandboxCommand([path, "--json", "--memory", "128", "--source", "/s"], io),
      0,
    );
    const printed = JSON.parse(io.stdoutText());
    const config = await loadConfig(path);
    assert.deepEqual(printed, sandboxReport(config, { memoryMb: 128, sourceDir: "/s" }));
    assert.deepEqual(printed.deno.args.slice(1, -1), denoFlagsFor(config, { memoryMb: 128 }));
    assert.equal(printed.deno.args.at(-1), "/s/src/runtime/sandbox/child/agent_main.ts");
    assert.equal(printed.docker.network.mode, "allowlist");
    assert.ok(!printed.docker.network.denyIpv4.some((c: string) => c.startsWith("10.20.")));
  });
});

Deno.test("sandboxCommand() --help prints the help", async () => {
  const io = memoryIo();
  assert.equal(await sandboxCommand(["--help"], io), 0);
  assert.equal(io.stdoutText(), SANDBOX_HELP);
});
