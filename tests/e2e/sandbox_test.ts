/**
 * Proof that the sandbox wall is Deno's, not only LOOM's (`docs/security-controls.md` §3;
 * `docs/security-requirements.md` NET-3, NET-5, SBX-1 to SBX-10): a probe that imports nothing of
 * LOOM runs under exactly `denoFlagsFor(config)`, spawned exactly as
 * AgentHost spawns its process (`agentHostCommand()`: cleared environment,
 * cwd `/`), and reports the error class of everything it attempts.
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { agentConfig } from "../../src/security/sandbox/_testing.ts";
import { agentHostCommand } from "../../src/runtime/sandbox/mod.ts";
import type { AgentConfig } from "../../src/config/mod.ts";
import { startUpstream, tempDir } from "../_helpers.ts";

const FIXTURES = new URL("../fixtures/sandbox/", import.meta.url);
const PROBE = new URL("probe.ts", FIXTURES);
const DECODER = new TextDecoder();

interface Outcome {
  ok: boolean;
  detail?: string;
  error?: string;
  message?: string;
  cause?: string;
}

type Probe = Record<string, string>;

async function runProbe(
  config: AgentConfig,
  probes: Probe[],
  extraEnv: Record<string, string> = {},
): Promise<Outcome[]> {
  const spec = agentHostCommand(config, { mode: "process", entry: PROBE });
  const out = await new Deno.Command(spec.command, {
    args: [...spec.args, JSON.stringify(probes)],
    env: { ...spec.env, ...extraEnv },
    clearEnv: true,
    cwd: spec.cwd,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, DECODER.decode(out.stderr));
  const results = JSON.parse(DECODER.decode(out.stdout)) as Outcome[];
  assert.equal(results.length, probes.length);
  return results;
}

/** NotCapable, or (refused after resolution) TypeError whose cause says so. */
function assertNetRefused(outcome: Outcome, what: string): void {
  const preResolution = outcome.error === "NotCapable" &&
    /Requires net access/.test(outcome.message ?? "");
  const postResolution = outcome.error === "TypeError" &&
    /Requires net access/.test(outcome.cause ?? "");
  assert.ok(preResolution || postResolution, `${what}: ${JSON.stringify(outcome)}`);
}

function assertNotCapable(outcome: Outcome, what: string): void {
  assert.equal(outcome.error, "NotCapable", `${what}: ${JSON.stringify(outcome)}`);
}

Deno.test("agent host flags: Deno refuses undeclared hosts, the IP literal of a declared name, and redirects", async () => {
  await using other = await startUpstream(() => new Response("leaked"));
  await using declared = await startUpstream((req) => {
    const path = new URL(req.url).pathname;
    if (path === "/redirect") return Response.redirect(`${other.url}/stolen`, 302);
    if (path === "/redirect-name") {
      return Response.redirect(`http://localhost:${other.port}/stolen`, 302);
    }
    return new Response("ok");
  });
  const config = agentConfig({ bridges: [`http://localhost:${declared.port}/api`] });
  const [good, undeclaredPort, ipLiteral, redirect, redirectName, numeric, mapped] = await runProbe(
    config,
    [
      { kind: "fetch", url: `http://localhost:${declared.port}/api` },
      { kind: "fetch", url: `http://localhost:${other.port}/api` },
      { kind: "fetch", url: `http://127.0.0.1:${declared.port}/api` },
      { kind: "fetch", url: `http://localhost:${declared.port}/redirect` },
      { kind: "fetch", url: `http://localhost:${declared.port}/redirect-name` },
      { kind: "fetch", url: `http://2130706433:${declared.port}/api` },
      { kind: "fetch", url: `http://[::ffff:127.0.0.1]:${declared.port}/api` },
    ],
  );
  // The control: the declared origin works, so every refusal below is the wall.
  assert.deepEqual(good, { ok: true, detail: "status 200" });
  assertNotCapable(undeclaredPort, "undeclared port");
  assertNotCapable(ipLiteral, "IP literal of the declared name");
  assertNotCapable(redirect, "redirect to an undeclared port");
  assertNotCapable(redirectName, "redirect to an undeclared port by name");
  assertNetRefused(numeric, "2130706433");
  assertNetRefused(mapped, "[::ffff:127.0.0.1]");
  assert.equal(other.requests.length, 0);
  assert.deepEqual(declared.requests.map((r) => new URL(r.url).pathname), [
    "/api",
    "/redirect",
    "/redirect-name",
  ]);
});

Deno.test("agent host flags: the declared name under its IP literal config refuses the name", async () => {
  await using declared = await startUpstream(() => new Response("ok"));
  const config = agentConfig({ bridges: [`${declared.url}/api`] });
  const [good, byName] = await runProbe(config, [
    { kind: "fetch", url: `${declared.url}/api` },
    { kind: "fetch", url: `http://localhost:${declared.port}/api` },
  ]);
  assert.deepEqual(good, { ok: true, detail: "status 200" });
  assertNetRefused(byName, "localhost when the config names 127.0.0.1");
  assert.equal(declared.requests.length, 1);
});

Deno.test("agent host flags: every private, special and encoded loopback destination is refused (NET-3)", async () => {
  const config = agentConfig({ bridges: ["https://api.example.com/v1"] });
  const targets = [
    "http://127.0.0.1:8080/",
    "http://localhost:8080/",
    "http://2130706433:8080/",
    "http://0x7f000001:8080/",
    "http://0177.0.0.1:8080/",
    "http://127.1:8080/",
    "http://[::1]:8080/",
    "http://[::ffff:127.0.0.1]:8080/",
    "http://[::ffff:169.254.169.254]/",
    "http://10.0.0.1/",
    "http://172.16.0.1/",
    "http://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://100.64.0.1/",
    "http://[fc00::1]/",
    "http://[fe80::1]/",
    "http://0.0.0.0:8080/",
  ];
  const results = await runProbe(config, targets.map((url) => ({ kind: "fetch", url })));
  results.forEach((outcome, i) => assertNetRefused(outcome, targets[i]));
});

/** A name other than `localhost` that the system resolves to loopback, if any. */
async function loopbackAlias(): Promise<string | null> {
  try {
    const name = Deno.hostname();
    const { lookup } = await import("node:dns/promises");
    const found = await lookup(name, { all: true });
    return name !== "localhost" && found.length > 0 &&
        found.every((a) => a.address.startsWith("127."))
      ? name
      : null;
  } catch {
    return null;
  }
}

const ALIAS = await loopbackAlias();

Deno.test({
  name:
    "agent host flags: an allowed name that resolves into a denied range is refused at connect (NET-5)",
  ignore: ALIAS === null,
  async fn() {
    await using upstream = await startUpstream(() => new Response("leaked"));
    const config = agentConfig({ bridges: [`http://${ALIAS}:${upstream.port}/api`] });
    const [byAlias] = await runProbe(config, [
      { kind: "fetch", url: `http://${ALIAS}:${upstream.port}/api` },
    ]);
    // Allowed by name, refused on the resolved address: Deno checks deny-net CIDRs after resolution.
    assert.equal(byAlias.error, "TypeError", JSON.stringify(byAlias));
    assert.match(byAlias.cause ?? "", new RegExp(`Requires net access to "127\\.0\\.0\\.1:`));
    assert.equal(upstream.requests.length, 0);
  },
});

Deno.test("agent host flags: env, files, processes, sockets, FFI and imports are NotCapable (SBX-5)", async () => {
  await using home = await tempDir("loom-home-");
  const vault = `${home.path}/secrets.enc`;
  await Deno.writeTextFile(vault, "ciphertext");
  const written = `${home.path}/written.txt`;
  const errors = fileURLToPath(new URL("../../src/errors.ts", import.meta.url));
  const config = agentConfig({ bridges: ["https://api.example.com/v1"] });
  const audit = `${home.path}/permissions.jsonl`;
  const [
    envGet,
    envObject,
    hostname,
    vaultRead,
    environ,
    ssh,
    write,
    shByName,
    shByPath,
    listen,
    dlopen,
    remote,
    file,
    data,
    dns,
    storage,
  ] = await runProbe(config, [
    { kind: "env_get", name: "HOME" },
    { kind: "env_object" },
    { kind: "read", path: "/etc/hostname" },
    { kind: "read", path: vault },
    { kind: "read", path: "/proc/self/environ" },
    { kind: "read", path: "/root/.ssh/id_ed25519" },
    { kind: "write", path: written },
    { kind: "command", cmd: "sh" },
    { kind: "command", cmd: "/bin/sh" },
    { kind: "listen" },
    { kind: "dlopen", path: "libc.so.6" },
    { kind: "import", url: "https://esm.sh/x?data=secret" },
    { kind: "import", url: new URL(`file://${errors}`).href },
    { kind: "import", url: "data:text/javascript,export const x = 1" },
    { kind: "resolve_dns", host: "localhost" },
    { kind: "local_storage" },
  ], { DENO_AUDIT_PERMISSIONS: audit });
  assertNotCapable(envGet, "Deno.env.get");
  assertNotCapable(envObject, "Deno.env.toObject");
  assertNotCapable(hostname, "/etc/hostname");
  assertNotCapable(vaultRead, "the LOOM home");
  assertNotCapable(environ, "/proc/self/environ");
  assertNotCapable(ssh, "~/.ssh");
  assertNotCapable(write, "write");
  await assert.rejects(Deno.stat(written), Deno.errors.NotFound);
  // With no PATH in the environment, "sh" is not even found; by path it is NotCapable.
  assert.ok(["NotCapable", "NotFound"].includes(shByName.error!), JSON.stringify(shByName));
  assertNotCapable(shByPath, "Deno.Command");
  assertNotCapable(listen, "Deno.listen");
  assertNotCapable(dlopen, "Deno.dlopen");
  // --no-remote: no code is fetched; a local module needs read permission.
  assert.equal(remote.error, "TypeError");
  assert.match(remote.message!, /--no-remote/);
  assert.equal(file.error, "TypeError");
  assert.match(file.message!, /Requires read access/);
  // A data: URL module runs, with the same (empty) permissions as eval: it
  // gains nothing. Pinned so a change in Deno shows up here.
  assert.deepEqual(data, { ok: true, detail: "imported x" });
  assertNotCapable(dns, "Deno.resolveDns");
  // Web storage writes under DENO_DIR with no permission at all; pinned here
  // because agent_main.ts removes those globals before serving.
  assert.deepEqual(storage, { ok: true, detail: "stored" });
  // Deno's own permission audit saw each attempt (SBX-5).
  const seen = (await Deno.readTextFile(audit)).trim().split("\n").map((l) => JSON.parse(l));
  const has = (permission: string, value: string) =>
    seen.some((r) => r.permission === permission && r.value === value);
  assert.ok(has("env", "HOME"));
  assert.ok(has("read", "/etc/hostname"));
  assert.ok(has("read", vault));
  assert.ok(has("write", written));
});

Deno.test("agent host: a parent's LOOM_SECRET, proxies and DENO_PERMISSION_BROKER_PATH never reach it (SBX-3)", async () => {
  await using upstream = await startUpstream(() => Response.json({ ok: true }));
  for (const mode of ["process", "worker"]) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", fileURLToPath(new URL("env_parent.ts", FIXTURES)), upstream.url],
      env: { MODE: mode, NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, DECODER.decode(out.stderr));
    const report = JSON.parse(DECODER.decode(out.stdout));
    // Control: a child inheriting that environment would hand every check to
    // the (missing) broker and die with 87.
    assert.equal(report.naiveExitCode, 87, mode);
    assert.equal(report.goodCallStatus, 200, mode);
    const expected = Deno.env.get("DENO_DIR") ? ["DENO_DIR", "NO_COLOR"] : ["NO_COLOR"];
    assert.deepEqual(report.childEnvironNames, expected, mode);
    assert.equal(report.craftedCall, "POLICY_DENIED", mode);
    assert.equal(report.probeExitCode, 0);
    for (const outcome of report.probe) assert.equal(outcome.error, "NotCapable", mode);
  }
});

Deno.test("agent_main.ts loads under --no-config --no-npm --no-remote with no read permission", async () => {
  const entry = fileURLToPath(
    new URL("../../src/runtime/sandbox/child/agent_main.ts", import.meta.url),
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", "--no-config", "--no-npm", "--no-remote", entry],
    clearEnv: true,
    env: { NO_COLOR: "1" },
    cwd: "/",
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  const encoder = new TextEncoder();
  await writer.write(
    encoder.encode(
      '{"id":1,"op":"init","bridges":[],"allowNetworks":[]}\n{"id":2,"op":"ping"}\n',
    ),
  );
  await writer.close();
  const out = await child.output();
  assert.equal(out.code, 0, DECODER.decode(out.stderr));
  const answers = DECODER.decode(out.stdout).trim().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(answers.sort((a, b) => a.id - b.id), [
    { id: 1, ok: true, result: null },
    { id: 2, ok: true, result: null },
  ]);
});

async function runFixture(flags: string[], fixture: string): Promise<unknown> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      "--no-config",
      ...flags,
      fileURLToPath(new URL(fixture, FIXTURES)),
    ],
    clearEnv: true,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, DECODER.decode(out.stderr));
  return JSON.parse(DECODER.decode(out.stdout));
}

Deno.test("Worker permissions on Deno 2.9.6: unspecified keys are not inherited; escalation throws (SBX-9)", async () => {
  // The parent holds env, read and write; the worker names only net: false.
  const report = await runFixture([
    "--unstable-worker-options",
    "--allow-env",
    "--allow-read",
    "--allow-write",
    "--allow-net=127.0.0.1:1",
  ], "worker_semantics.ts");
  // Documented: unspecified keys inherit. Observed on 2.9.6: none is granted.
  assert.deepEqual(report, {
    states: {
      net: "prompt",
      env: "prompt",
      read: "prompt",
      write: "prompt",
      run: "prompt",
      ffi: "prompt",
      sys: "prompt",
      import: "prompt",
    },
    env: "NotCapable",
    escalation: "NotCapable: Can't escalate parent thread permissions",
  });
});

Deno.test("Deno.permissions.revoke is not a boundary: pinned semantics on 2.9.6 (SBX-10)", async () => {
  // Unscoped grant: revoking a path does nothing.
  assert.deepEqual(await runFixture(["--allow-read"], "revoke_semantics.ts"), {
    revoked: "granted",
    read: "ok",
    etc: "granted",
    tmp: "granted",
  });
  // Scoped grant: revoking a path purges the grant that implies it, not others.
  assert.deepEqual(await runFixture(["--allow-read=/etc,/tmp"], "revoke_semantics.ts"), {
    revoked: "prompt",
    read: "NotCapable",
    etc: "prompt",
    tmp: "granted",
  });
});

Deno.test("agent host flags: IPv6 allow_networks keep the flags valid and the child starts", async () => {
  await using upstream = await startUpstream(() => new Response("ok"));
  const config = agentConfig({
    bridges: [`http://127.0.0.1:${upstream.port}/api`],
    allowNetworks: ["fd00::/8", "fe80::/10", "::1/128", "::ffff:a00:0/104", "10.0.0.0/8"],
  });
  const [fetched, envRead] = await runProbe(config, [
    { kind: "fetch", url: `http://127.0.0.1:${upstream.port}/api` },
    { kind: "env_get" },
  ]);
  assert.equal(fetched.ok, true, JSON.stringify(fetched));
  assertNotCapable(envRead, "env");
});

// --- IPv4-mapped rebinding, with a real name ---------------------------------

/**
 * A private `/etc/hosts` for one command, through a user and mount namespace
 * (`unshare -rm` and a bind mount: the machine's file is not touched). Null
 * when this machine cannot make one.
 */
async function privateHostsRunner(): Promise<string[] | null> {
  if (Deno.build.os !== "linux") return null;
  try {
    const out = await new Deno.Command("unshare", {
      args: ["-rm", "sh", "-c", "mount --bind /dev/null /etc/hosts && echo ok"],
      stdout: "piped",
      stderr: "null",
    }).output();
    return out.success && DECODER.decode(out.stdout).trim() === "ok" ? ["unshare", "-rm"] : null;
  } catch {
    return null;
  }
}

const PRIVATE_HOSTS = await privateHostsRunner();

/** Runs in the namespace: one call per mode through a real AgentHost, lookups seamed. */
const MAPPED_RUNNER = (port: number) => `
import { AgentHost } from ${
  JSON.stringify(import.meta.resolve("../../src/runtime/sandbox/mod.ts"))
};
import { agentConfig } from ${
  JSON.stringify(import.meta.resolve("../../src/security/sandbox/_testing.ts"))
};
const url = "http://mapped.test:${port}/api";
const results = [];
// What the runtime does on its own: the name passes --deny-net=127.0.0.0/8.
try {
  const conn = await Deno.connect({ hostname: "mapped.test", port: ${port} });
  results.push({ raw: conn.remoteAddr.hostname });
  conn.close();
} catch (e) {
  results.push({ raw: e.name });
}
for (const mode of ["process", "worker"]) {
  const config = agentConfig({ bridges: [url] });
  // The check's resolver answers a public address, as a rebinding server would first.
  await using host = new AgentHost(config, { mode, lookup: () => Promise.resolve(["93.184.216.34"]) });
  try {
    await host.run(config.bridges[0], {}, {
      signal: AbortSignal.timeout(5000), maxResponseBytes: 1024, allowNetworks: [], secrets: new Map(),
    });
    results.push({ mode, code: "none" });
  } catch (e) {
    results.push({ mode, code: e.code, message: e.message });
  }
}
console.log(JSON.stringify(results));
`;

Deno.test({
  name:
    "agent host: a name resolving to ::ffff:127.0.0.1 passes Deno's --deny-net, and LOOM refuses the socket before a byte (process and worker)",
  ignore: PRIVATE_HOSTS === null,
  async fn() {
    await using dir = await tempDir();
    const received: number[] = [];
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = listener.addr.port;
    const accepting = (async () => {
      for await (const conn of listener) {
        const buf = new Uint8Array(1024);
        const n = await conn.read(buf).catch(() => null);
        received.push(n ?? 0);
        conn.close();
      }
    })().catch(() => {});
    try {
      await Deno.writeTextFile(`${dir.path}/hosts`, "::ffff:127.0.0.1 mapped.test\n");
      await Deno.writeTextFile(`${dir.path}/runner.ts`, MAPPED_RUNNER(port));
      const config = fileURLToPath(new URL("../../deno.json", import.meta.url));
      const out = await new Deno.Command(PRIVATE_HOSTS![0], {
        args: [
          ...PRIVATE_HOSTS!.slice(1),
          "sh",
          "-c",
          'mount --bind "$1" /etc/hosts && exec "$2" run -A --unstable-worker-options ' +
          '--deny-net=127.0.0.0/8 --config "$3" "$4"',
          "sh",
          `${dir.path}/hosts`,
          Deno.execPath(),
          config,
          `${dir.path}/runner.ts`,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(out.code, 0, DECODER.decode(out.stderr));
      const [raw, ...calls] = JSON.parse(DECODER.decode(out.stdout));
      // The runtime fact this guards against: Deno's CIDR deny list does not
      // match the mapped form a name resolved to.
      assert.deepEqual(raw, { raw: "::ffff:127.0.0.1" });
      assert.deepEqual(
        calls,
        ["process", "worker"].map((mode) => ({
          mode,
          code: "POLICY_DENIED",
          message: 'Destination "mapped.test" connected to a loopback address (127.0.0.0/8)',
        })),
      );
      // The raw probe connected without writing; the agent hosts wrote nothing.
      assert.ok(received.every((n) => n === 0), JSON.stringify(received));
    } finally {
      listener.close();
      await accepting;
    }
  },
});
