/**
 * End to end: `loom secrets` and `loom audit hash` as subprocesses. The value
 * goes in on stdin only, never shows in any output, and never reaches the
 * audit log in any encoding; the log carries its salted HMAC, which
 * `loom audit hash` reproduces.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  type CliResult,
  LOOM_FLAGS,
  MAIN,
  runLoom,
  startUpstream,
  tempDir,
  writeKeyedConfig,
} from "../_helpers.ts";

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

function assertNoValue(result: CliResult, label: string, value = VALUE): void {
  for (const form of forms(value)) {
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
      "rotate",
      "Examples:",
    ]
  ) {
    assert.ok(r.stdout.includes(word), word);
  }
});

/** A config whose one bridge names three secrets. */
function threeSecretsYaml(): string {
  return configYaml("weather-api") +
    `        X-Account: "{{secret:account-id}}"
        X-Region-Token: "{{secret:region-token}}"
`;
}

Deno.test("loom validate warns about each secret the config cannot use, with the command that fixes it, and still exits 0", async () => {
  await using dir = await tempDir();
  const home = join(dir.path, "home");
  const config = join(dir.path, "weather.yaml");
  await Deno.writeTextFile(config, threeSecretsYaml());
  const results: [string, CliResult][] = [];
  const loom = async (args: string[], stdin?: string) => {
    const r = await runLoom(args, { home, stdin });
    results.push([args.join(" "), r]);
    return r;
  };
  // region-token: never set; api-key: set, never granted; account-id: granted, then edited.
  assert.equal((await loom(["secrets", "set", "api-key"], VALUE)).code, 0);
  assert.equal((await loom(["secrets", "set", "account-id"], VALUE)).code, 0);
  const grant = await loom(["secrets", "grant", "weather-api", "account-id", "--config", config]);
  assert.equal(grant.code, 0, grant.stderr);
  const pinned = await sha256Hex(await Deno.readFile(config));
  await Deno.writeTextFile(config, "# edited after the grant\n", { append: true });
  const current = await sha256Hex(await Deno.readFile(config));
  const grantCommand = (key: string) =>
    `"loom secrets grant weather-api ${key} --config ${config}"`;

  const validate = await loom(["validate", config]);
  assert.equal(validate.code, 0, validate.stderr);
  assert.match(validate.stdout, /: OK\n/);
  const warnings = validate.stderr.trimEnd().split("\n").filter((l) => /secret/i.test(l));
  assert.equal(warnings.length, 3, validate.stderr);
  const about = (key: string) => warnings.find((w) => w.includes(`Secret "${key}"`)) ?? "";
  assert.match(about("region-token"), /^warning: .*Secret "region-token" is not set/);
  assert.ok(about("region-token").includes(`"loom secrets set region-token"`), validate.stderr);
  assert.ok(about("region-token").includes(grantCommand("region-token")), validate.stderr);
  assert.match(about("api-key"), /^warning: .*Secret "api-key" is set but not granted/);
  assert.ok(about("api-key").includes(grantCommand("api-key")), validate.stderr);
  assert.match(about("account-id"), /^warning: .*Secret "account-id" is granted to agent/);
  assert.ok(about("account-id").includes(`sha256 ${pinned.slice(0, 12)}`), validate.stderr);
  assert.ok(about("account-id").includes(`sha256 ${current.slice(0, 12)}`), validate.stderr);
  assert.ok(about("account-id").includes(grantCommand("account-id")), validate.stderr);

  // Following the commands leaves nothing to warn about.
  assert.equal((await loom(["secrets", "set", "region-token"], VALUE)).code, 0);
  for (const key of ["region-token", "api-key", "account-id"]) {
    const r = await loom(["secrets", "grant", "weather-api", key, "--config", config]);
    assert.equal(r.code, 0, r.stderr);
  }
  const clean = await loom(["validate", config]);
  assert.equal(clean.code, 0, clean.stderr);
  assert.equal(clean.stderr, "");
  for (const [label, r] of results) assertNoValue(r, label);
});

Deno.test("loom validate says in one line that it cannot check secrets without a LOOM home, exits 0 and creates none", async () => {
  await using dir = await tempDir();
  const home = join(dir.path, "absent");
  const config = join(dir.path, "weather.yaml");
  await Deno.writeTextFile(config, threeSecretsYaml());
  const validate = await runLoom(["validate", config], { home });
  assert.equal(validate.code, 0, validate.stderr);
  const lines = validate.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, validate.stderr);
  assert.match(lines[0], /^warning: secrets not checked: LOOM home ".*absent" does not exist$/);
  await assert.rejects(Deno.lstat(home), Deno.errors.NotFound);
});

Deno.test("loom secrets policy --config marks grants pinned to another config digest as stale, with both digests and the grant command", async () => {
  await using dir = await tempDir();
  const home = join(dir.path, "home");
  const loom = (args: string[], stdin?: string) => runLoom(["secrets", ...args], { home, stdin });
  const config = join(dir.path, "weather.yaml");
  const other = join(dir.path, "impostor.yaml");
  await Deno.writeTextFile(config, threeSecretsYaml());
  await Deno.writeTextFile(other, configYaml("impostor"));
  assert.equal((await loom(["set", "api-key"], VALUE)).code, 0);
  assert.equal((await loom(["set", "account-id"], VALUE)).code, 0);
  for (const key of ["api-key", "account-id"]) {
    assert.equal((await loom(["grant", "weather-api", key, "--config", config])).code, 0);
  }
  assert.equal((await loom(["grant", "impostor", "api-key", "--config", other])).code, 0);
  const pinned = (await sha256Hex(await Deno.readFile(config))).slice(0, 12);
  await Deno.writeTextFile(config, "# edited after the grant\n", { append: true });
  // Re-granted after the edit: current again.
  assert.equal((await loom(["grant", "weather-api", "account-id", "--config", config])).code, 0);
  const current = (await sha256Hex(await Deno.readFile(config))).slice(0, 12);
  const otherDigest = (await sha256Hex(await Deno.readFile(other))).slice(0, 12);

  const policy = await loom(["policy", "--config", config]);
  assert.equal(policy.code, 0, policy.stderr);
  const rows = policy.stdout.trimEnd().split("\n").map((l) => l.split(/\s{2,}/));
  assert.deepEqual(rows[0], ["AGENT", "KEY", "CONFIG-DIGEST", "GRANTED-AT", "STATUS"]);
  assert.deepEqual(rows.slice(1).map((r) => [r[0], r[1], r[2], r[4]]), [
    ["impostor", "api-key", otherDigest, "-"],
    ["weather-api", "account-id", current, "current"],
    ["weather-api", "api-key", pinned, `stale: config is now ${current}`],
  ]);
  const warnings = policy.stderr.trimEnd().split("\n");
  assert.equal(warnings.length, 1, policy.stderr);
  assert.match(warnings[0], /^warning: .*Secret "api-key" is granted to agent "weather-api"/);
  assert.ok(warnings[0].includes(`sha256 ${pinned}`), policy.stderr);
  assert.ok(warnings[0].includes(`sha256 ${current}`), policy.stderr);
  assert.ok(
    warnings[0].includes(`"loom secrets grant weather-api api-key --config ${config}"`),
    policy.stderr,
  );
  assertNoValue(policy, "policy --config");

  // Without --config the table is as before: no status column.
  const plain = await loom(["policy"]);
  assert.equal(plain.stdout.split("\n")[0].split(/\s{2,}/).length, 4, plain.stdout);
  const help = await loom(["--help"]);
  assert.match(help.stdout, /policy \[--config PATH\]/);
});

Deno.test({
  name: "loom secrets set reads from a hidden prompt on a terminal without echoing",
  // `script` (util-linux) gives the CLI a pseudo-terminal.
  ignore: Deno.build.os !== "linux" || !hasScript(),
  fn: async () => {
    await using dir = await tempDir();
    const home = join(dir.path, "home");
    // Typed only after the prompt: echo is already off.
    const seen = await underTerminal(home, ["secrets", "set", "tty-key"], "tty-Secret-Value-42\r");
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

/** The text of every file under a directory, recursively. */
async function treeText(dir: string): Promise<string> {
  let text = "";
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) text += await treeText(path);
    else if (entry.isFile) text += await Deno.readTextFile(path) + "\n";
  }
  return text;
}

function mcpSession(id: number): string {
  return [
    {
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: {
        protocolVersion: "2025-11-25",
        capabilities: {},
        clientInfo: { name: "t", version: "1" },
      },
    },
    { jsonrpc: "2.0", id, method: "tools/call", params: { name: "whoami", arguments: {} } },
  ].map((m) => JSON.stringify(m)).join("\n") + "\n";
}

Deno.test("loom audit hash reproduces the value_hmac of a real call's credential_access record; no audit file holds the value", async () => {
  // Sent in a header, so printable ASCII; still exercises base64 and URL encoding.
  const token = "sk_live_Q9+x/7=z%20~tok";
  await using dir = await tempDir();
  const home = join(dir.path, "home");
  const seen: string[] = [];
  await using api = await startUpstream((req) => {
    seen.push(req.headers.get("x-api-key") ?? "");
    return Response.json({ ok: true });
  });
  const config = join(dir.path, "keyed.yaml");
  await writeKeyedConfig(config, api.url, 'X-Api-Key: "{{secret:api-key}}"');
  const results: [string, CliResult][] = [];
  const loom = async (args: string[], stdin?: string) => {
    const r = await runLoom(args, { home, stdin });
    results.push([args.join(" "), r]);
    return r;
  };

  // Negative first: no salt yet, nothing to match; a value in argv is refused unechoed.
  const noSalt = await loom(["audit", "hash"], token);
  assert.equal(noSalt.code, 66, noSalt.stderr);
  assert.match(noSalt.stderr, /audit\.salt/);
  assert.equal((await loom(["secrets", "set", "api-key"], token + "\n")).code, 0);
  for (const args of [[token], ["--", token], [`--value=${token}`], ["--salt"]]) {
    const r = await loom(["audit", "hash", ...args]);
    assert.equal(r.code, 64, r.stderr);
    assert.equal(r.stdout, "");
  }
  const empty = await loom(["audit", "hash"], "\n");
  assert.equal(empty.code, 64, empty.stderr);

  // A real call through loom run resolves the secret and records its HMAC.
  assert.equal(
    (await loom(["secrets", "grant", "keyed-agent", "api-key", "--config", config])).code,
    0,
  );
  const run = await loom(["run", config], mcpSession(2));
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual(seen, [token]);
  const records = (await Deno.readTextFile(join(home, "audit", "audit.jsonl"))).trim().split("\n")
    .map((l) => JSON.parse(l));
  const resolved = records.filter((r) =>
    r.event === "credential_access" && r.action === "resolve" && r.granted === true
  );
  assert.equal(resolved.length, 1);
  assert.match(resolved[0].value_hmac, /^hmac-sha256:[0-9a-f]{64}$/);

  // loom audit hash prints the same, from piped stdin with or without a newline.
  for (const input of [token, token + "\n"]) {
    const hashed = await loom(["audit", "hash"], input);
    assert.equal(hashed.code, 0, hashed.stderr);
    assert.equal(hashed.stdout, resolved[0].value_hmac + "\n");
  }
  const other = await loom(["audit", "hash"], token + "x");
  assert.notEqual(other.stdout.trim(), resolved[0].value_hmac);
  // An auditor's copy of the salt gives the same answer.
  const copy = join(dir.path, "auditor.salt");
  await Deno.writeFile(copy, await Deno.readFile(join(home, "keys", "audit.salt")), {
    mode: 0o600,
  });
  const viaCopy = await loom(["audit", "hash", "--salt", copy], token);
  assert.equal(viaCopy.stdout, resolved[0].value_hmac + "\n");
  await Deno.chmod(copy, 0o644);
  assert.equal((await loom(["audit", "hash", `--salt=${copy}`], token)).code, 77);

  // After a rotation of the data key, the same value reaches the upstream and
  // hashes the same.
  const rotate = await loom(["secrets", "rotate"]);
  assert.equal(rotate.code, 0, rotate.stderr);
  assert.match(
    rotate.stdout,
    /Rotated the data key to [0-9a-f]{12} \(replaced [0-9a-f]{12}\): re-encrypted 1 secret\n/,
  );
  assert.equal((await loom(["run", config], mcpSession(3))).code, 0);
  assert.deepEqual(seen, [token, token]);
  const after = (await Deno.readTextFile(join(home, "audit", "audit.jsonl"))).trim().split("\n")
    .map((l) => JSON.parse(l)).filter((r) => r.action === "resolve" && r.granted === true);
  assert.deepEqual(after.map((r) => r.value_hmac), [
    resolved[0].value_hmac,
    resolved[0].value_hmac,
  ]);

  // grep every file under LOOM_HOME/audit: no raw, base64 or URL-encoded value.
  const text = await treeText(join(home, "audit"));
  for (const form of forms(token)) {
    assert.equal(text.split(form).length - 1, 0, `audit holds ${form}`);
  }
  for (const [label, r] of results) assertNoValue(r, label, token);
  const verify = await runLoom(["audit", "verify"], { home });
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);
});

Deno.test({
  name: "loom audit hash reads from a hidden prompt on a terminal without echoing",
  ignore: Deno.build.os !== "linux" || !hasScript(),
  fn: async () => {
    await using dir = await tempDir();
    const home = join(dir.path, "home");
    const set = await runLoom(["secrets", "set", "tty-key"], { home, stdin: "tty-Secret-42" });
    assert.equal(set.code, 0, set.stderr);
    const expected = (await runLoom(["audit", "hash"], { home, stdin: "tty-Secret-42" })).stdout;
    const seen = await underTerminal(home, ["audit", "hash"], "tty-Secret-42\r");
    assert.ok(!seen.includes("tty-Secret-42"), "the prompt echoed the value");
    assert.ok(seen.includes(expected.trim()), seen);
  },
});

/** Run the CLI under `script` (a pseudo-terminal), type `input` after the prompt, return the output. */
async function underTerminal(home: string, args: string[], input: string): Promise<string> {
  const command = [Deno.execPath(), ...LOOM_FLAGS, MAIN, ...args]
    .map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(" ");
  const child = new Deno.Command("script", {
    args: ["-q", "-e", "-c", command, "/dev/null"],
    env: { LOOM_HOME: home, NO_COLOR: "1", TERM: "dumb" },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  const reader = child.stdout.getReader();
  const writer = child.stdin.getWriter();
  const dec = new TextDecoder();
  let seen = "";
  try {
    while (!seen.includes("input hidden")) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += dec.decode(value, { stream: true });
    }
    assert.ok(seen.includes("input hidden"), seen);
    await writer.write(new TextEncoder().encode(input));
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += dec.decode(value, { stream: true });
    }
  } finally {
    clearTimeout(timer);
    await writer.close().catch(() => {});
    const status = await child.status;
    await child.stderr.cancel();
    assert.equal(status.code, 0, seen);
  }
  return seen;
}
