/**
 * End to end: `loom secrets` as a subprocess. The value goes in on stdin only,
 * never shows in any output, and never reaches the audit log in any encoding.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { type CliResult, LOOM_FLAGS, MAIN, runLoom, tempDir } from "../_helpers.ts";

const VALUE = "sk_live_Q9+x/7=z é\"'%20";

function configYaml(name: string): string {
  return `agent:
  name: ${name}
  description: Weather lookups
  exposes:
    - name: forecast
      description: Get the forecast for a city
      parameters:
        city: { type: string, max_length: 64 }
  http_bridge:
    - tool_name: forecast
      url: "http://127.0.0.1:9/forecast"
      query_params: { city: city }
      headers:
        X-Api-Key: "{{secret:api-key}}"
`;
}

/** Every form of the value that must never be printed or logged. */
function forms(value: string): string[] {
  const bytes = new TextEncoder().encode(value);
  return [
    value,
    JSON.stringify(value).slice(1, -1),
    encodeURIComponent(value),
    bytes.toBase64(),
    bytes.toBase64({ alphabet: "base64url", omitPadding: true }),
    bytes.toHex(),
  ];
}

function assertNoValue(result: CliResult, label: string): void {
  for (const form of forms(VALUE)) {
    assert.ok(!result.stdout.includes(form), `${label}: value in stdout`);
    assert.ok(!result.stderr.includes(form), `${label}: value in stderr`);
  }
}

Deno.test("loom secrets: set via stdin, list, grant pinned to a config, policy, revoke, remove", async () => {
  await using dir = await tempDir();
  const home = join(dir.path, "home");
  const results: [string, CliResult][] = [];
  const loom = async (args: string[], stdin?: string) => {
    const r = await runLoom(["secrets", ...args], { home, stdin });
    results.push([args.join(" "), r]);
    return r;
  };
  const goodConfig = join(dir.path, "weather.yaml");
  const otherConfig = join(dir.path, "impostor.yaml");
  await Deno.writeTextFile(goodConfig, configYaml("weather-api"));
  await Deno.writeTextFile(otherConfig, configYaml("impostor"));

  // Negative first: the value on the command line is refused without echoing it.
  const argv = await loom(["set", "api-key", VALUE]);
  assert.equal(argv.code, 64, argv.stderr);
  assert.match(argv.stderr, /takes only KEY/);
  const option = await loom(["set", "api-key", `--value=${VALUE}`]);
  assert.equal(option.code, 64, option.stderr);
  const empty = await loom(["set", "api-key"], "\n");
  assert.equal(empty.code, 64, empty.stderr);
  assert.match(empty.stderr, /empty value/);
  const multiline = await loom(["set", "api-key"], `${VALUE}\nsecond line\n`);
  assert.equal(multiline.code, 65, multiline.stderr);
  assert.match(multiline.stderr, /NUL, CR or LF/);
  const listed0 = await loom(["list"]);
  assert.equal(listed0.stdout, "");

  // set via stdin (one trailing newline stripped), list shows the name only.
  const set = await loom(["set", "api-key"], VALUE + "\n");
  assert.equal(set.code, 0, set.stderr);
  assert.match(set.stdout, /Stored secret "api-key" \(version 1\)/);
  const list = await loom(["list"]);
  assert.equal(list.code, 0, list.stderr);
  assert.equal(list.stdout, "api-key\n");
  const long = await loom(["list", "-l"]);
  assert.match(long.stdout, /^NAME\s+VERSION\s+UPDATED-AT\napi-key\s+1\s+\d{4}-/);
  assert.equal((await Deno.stat(join(home, "secrets.enc"))).mode! & 0o777, 0o600);
  assert.equal((await Deno.stat(join(home, "keys", "master.key"))).mode! & 0o777, 0o600);

  // grant: the config must belong to AGENT; the grant pins its digest.
  const noConfig = await loom(["grant", "weather-api", "api-key"]);
  assert.equal(noConfig.code, 64, noConfig.stderr);
  assert.match(noConfig.stderr, /Missing --config PATH/);
  const mismatch = await loom(["grant", "weather-api", "api-key", "--config", otherConfig]);
  assert.equal(mismatch.code, 77, mismatch.stderr);
  assert.match(mismatch.stderr, /is for agent "impostor"/);
  assert.equal((await loom(["policy"])).stdout, "");
  const grant = await loom(["grant", "weather-api", "api-key", "--config", goodConfig]);
  assert.equal(grant.code, 0, grant.stderr);
  const digest = await sha256Hex(await Deno.readFile(goodConfig));
  assert.ok(grant.stdout.includes(digest.slice(0, 12)), grant.stdout);
  const policy = await loom(["policy"]);
  assert.equal(policy.code, 0, policy.stderr);
  const rows = policy.stdout.trimEnd().split("\n").map((l) => l.split(/\s{2,}/));
  assert.deepEqual(rows[0], ["AGENT", "KEY", "CONFIG-DIGEST", "GRANTED-AT"]);
  assert.deepEqual(rows[1].slice(0, 3), ["weather-api", "api-key", digest.slice(0, 12)]);
  assert.equal(rows.length, 2);

  // revoke removes it; a second revoke is "not found".
  const revoke = await loom(["revoke", "weather-api", "api-key"]);
  assert.equal(revoke.code, 0, revoke.stderr);
  assert.equal((await loom(["policy"])).stdout, "");
  assert.equal((await loom(["revoke", "weather-api", "api-key"])).code, 66);

  // replace, then remove.
  const again = await loom(["set", "api-key"], VALUE + "-v2");
  assert.match(again.stdout, /version 2/);
  assert.equal((await loom(["remove", "api-key"])).code, 0);
  assert.equal((await loom(["remove", "api-key"])).code, 66);
  assert.equal((await loom(["list"])).stdout, "");

  // The value never appeared in any output, nor in the audit log in any form.
  for (const [label, r] of results) assertNoValue(r, label);
  const audit = await Deno.readTextFile(join(home, "audit", "audit.jsonl"));
  for (const form of [...forms(VALUE), ...forms(VALUE + "-v2")]) {
    assert.equal(audit.split(form).length - 1, 0, `audit holds ${form}`);
  }
  const actions = audit.trim().split("\n").map((l) => JSON.parse(l))
    .filter((r) => r.event === "credential_access").map((r) => r.action);
  assert.deepEqual(actions, ["set", "grant", "revoke", "set", "remove"]);
  const verify = await runLoom(["audit", "verify"], { home });
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);
});

Deno.test("loom secrets refuses key and secrets files readable by others, naming the file", async () => {
  await using dir = await tempDir();
  const home = join(dir.path, "home");
  const set = await runLoom(["secrets", "set", "api-key"], { home, stdin: VALUE });
  assert.equal(set.code, 0, set.stderr);

  const keyFile = join(home, "keys", "master.key");
  await Deno.chmod(keyFile, 0o644);
  const badKey = await runLoom(["secrets", "set", "other"], { home, stdin: VALUE });
  assert.equal(badKey.code, 77, badKey.stderr);
  assert.ok(badKey.stderr.includes(keyFile), badKey.stderr);
  assert.match(badKey.stderr, /mode 0644/);
  await Deno.chmod(keyFile, 0o600);

  const vault = join(home, "secrets.enc");
  await Deno.chmod(vault, 0o644);
  const badVault = await runLoom(["secrets", "list"], { home });
  assert.equal(badVault.code, 77, badVault.stderr);
  assert.ok(badVault.stderr.includes(vault), badVault.stderr);
  for (const r of [set, badKey, badVault]) assertNoValue(r, "permissions");
});

Deno.test("loom secrets refuses a malformed LOOM_MASTER_KEY without echoing it", async () => {
  await using dir = await tempDir();
  const home = join(dir.path, "home");
  const key = "not-a-real-key-" + crypto.randomUUID();
  const r = await runLoom(["secrets", "set", "api-key"], {
    home,
    stdin: VALUE,
    env: { LOOM_MASTER_KEY: key },
  });
  assert.equal(r.code, 78, r.stderr);
  assert.match(r.stderr, /Invalid LOOM_MASTER_KEY/);
  assert.ok(!r.stderr.includes(key) && !r.stdout.includes(key));
  assertNoValue(r, "bad key");
});

Deno.test("loom secrets --help lists every command with examples", async () => {
  await using dir = await tempDir();
  const r = await runLoom(["secrets", "--help"], { home: dir.path });
  assert.equal(r.code, 0);
  for (
    const word of [
      "set KEY",
      "list",
      "remove KEY",
      "grant AGENT KEY --config PATH",
      "revoke",
      "policy",
      "Examples:",
    ]
  ) {
    assert.ok(r.stdout.includes(word), word);
  }
});

Deno.test({
  name: "loom secrets set reads from a hidden prompt on a terminal without echoing",
  // `script` (util-linux) gives the CLI a pseudo-terminal.
  ignore: Deno.build.os !== "linux" || !hasScript(),
  fn: async () => {
    await using dir = await tempDir();
    const home = join(dir.path, "home");
    const command = [Deno.execPath(), ...LOOM_FLAGS, MAIN, "secrets", "set", "tty-key"]
      .map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(" ");
    const child = new Deno.Command("script", {
      args: ["-q", "-e", "-c", command, "/dev/null"],
      env: { LOOM_HOME: home, NO_COLOR: "1", TERM: "dumb" },
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    // Never hang the suite: a stuck child (e.g. a permission prompt) is killed.
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    const reader = child.stdout.getReader();
    const writer = child.stdin.getWriter();
    const dec = new TextDecoder();
    let seen = "";
    let status: Deno.CommandStatus;
    try {
      while (!seen.includes("input hidden")) {
        const { value, done } = await reader.read();
        if (done) break;
        seen += dec.decode(value, { stream: true });
      }
      assert.ok(seen.includes("input hidden"), seen);
      // Typed only after the prompt: echo is already off.
      await writer.write(new TextEncoder().encode("tty-Secret-Value-42\r"));
      while (true) {
        const { value, done } = await reader.read();
        if (done) break;
        seen += dec.decode(value, { stream: true });
      }
    } finally {
      clearTimeout(timer);
      await writer.close().catch(() => {});
      status = await child.status;
      await child.stderr.cancel();
    }
    assert.equal(status.code, 0, seen);
    assert.ok(!seen.includes("tty-Secret-Value-42"), "the prompt echoed the value");
    assert.match(seen, /Stored secret "tty-key"/);
    const list = await runLoom(["secrets", "list"], { home });
    assert.equal(list.stdout, "tty-key\n");
  },
});

function hasScript(): boolean {
  try {
    return Deno.statSync("/usr/bin/script").isFile;
  } catch {
    return false;
  }
}

async function sha256Hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)).toHex();
}
