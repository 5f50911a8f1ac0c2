/**
 * End to end: signed audit checkpoints through the real CLI (`loom run`
 * writes them, `loom audit checkpoint` exports one, `loom audit verify`
 * reports typed verdicts and exits 65), and the fail-closed rule with a
 * read-only audit log on a real temp dir: the upstream, a real loopback
 * server, receives nothing (`docs/security-requirements.md`, AUD-2, AUD-3, AUD-10).
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  INITIALIZE,
  loomRunCommand,
  runLoom,
  startLoomHttp,
  startUpstream,
  tempDir,
} from "../_helpers.ts";
import { RawSession } from "../reliability/_helpers.ts";

function agentYaml(url: string, runtime = ""): string {
  return `agent:
  name: audit-e2e
  exposes:
    - name: get_item
      description: Fetch an item by id
      parameters:
        id: { type: string, pattern: "[a-z0-9-]{1,32}" }
  http_bridge:
    - tool_name: get_item
      url: "${url}/items/{{id}}"
${runtime === "" ? "" : `  runtime:\n${runtime}`}`;
}

function session(...ids: string[]): string {
  return [
    INITIALIZE,
    ...ids.map((id, i) => ({
      jsonrpc: "2.0",
      id: i + 2,
      method: "tools/call",
      params: { name: "get_item", arguments: { id } },
    })),
  ].map((m) => JSON.stringify(m)).join("\n") + "\n";
}

async function copyDir(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const entry of Deno.readDir(from)) {
    if (entry.isFile) await Deno.copyFile(join(from, entry.name), join(to, entry.name));
  }
}

Deno.test("loom audit verify --against an exported checkpoint reports a rollback to an older copy and exits 65", async () => {
  await using dir = await tempDir();
  await using api = await startUpstream(() => Response.json({ ok: true }));
  const home = join(dir.path, "home");
  const config = join(dir.path, "agent.yaml");
  await Deno.writeTextFile(config, agentYaml(api.url));
  assert.equal((await runLoom(["run", config], { home, stdin: session("a1") })).code, 0);
  const audit = join(home, "audit");
  const older = join(dir.path, "older");
  await copyDir(audit, older);
  assert.equal((await runLoom(["run", config], { home, stdin: session("a2", "a3") })).code, 0);

  const exported = await runLoom(["audit", "checkpoint"], { home });
  assert.equal(exported.code, 0, exported.stderr);
  // A signed note: origin, size, Merkle root, extension lines, one signature line.
  const note =
    /^loom\/loom-[0-9a-f-]+\/audit\n(\d+)\n[A-Za-z0-9+/]{43}=\n(?:[a-z]+ \S+\n)+\n\u2014 loom-audit \S+\n$/
      .exec(exported.stdout);
  assert.ok(note !== null, exported.stdout);
  const line = { seq: Number(note[1]) };
  assert.ok(!/PRIVATE/.test(exported.stdout));
  const exportFile = join(dir.path, "export.txt");
  await Deno.writeTextFile(exportFile, exported.stdout);
  assert.equal((await runLoom(["audit", "verify", "--against", exportFile], { home })).code, 0);

  // Roll the log and its checkpoints back to the older copy.
  await copyDir(older, audit);
  const plain = await runLoom(["audit", "verify"], { home });
  assert.equal(plain.code, 0, "the older copy is self-consistent");
  const res = await runLoom(["audit", "verify", "--against", exportFile], { home });
  assert.equal(res.code, 65, res.stdout);
  assert.match(res.stdout, new RegExp(`rollback at seq ${line.seq}`));
  const json = await runLoom(["audit", "verify", "--json", "--against", exportFile], { home });
  assert.equal(json.code, 65);
  const report = JSON.parse(json.stdout);
  assert.equal(report.ok, false);
  assert.deepEqual(report.verdicts.map((v: { kind: string }) => v.kind), ["rollback"]);
});

Deno.test("loom audit verify reports truncated below the last checkpoint and a forged checkpoint, exit 65", async () => {
  await using dir = await tempDir();
  await using api = await startUpstream(() => Response.json({ ok: true }));
  const home = join(dir.path, "home");
  const config = join(dir.path, "agent.yaml");
  await Deno.writeTextFile(config, agentYaml(api.url));
  assert.equal((await runLoom(["run", config], { home, stdin: session("a1", "a2") })).code, 0);
  const file = join(home, "audit", "audit.jsonl");
  const lines = (await Deno.readTextFile(file)).split("\n");
  // Cut the last two records: the chain alone still verifies.
  await Deno.writeTextFile(file, lines.slice(0, -3).join("\n") + "\n");
  const cut = await runLoom(["audit", "verify"], { home });
  assert.equal(cut.code, 65, cut.stdout);
  assert.match(cut.stdout, /Audit log intact/, "the chain itself is intact");
  assert.match(cut.stdout, /Audit log damaged: truncated at seq \d+/);

  const checkpoints = join(home, "audit", "checkpoints.jsonl");
  const cp = JSON.parse((await Deno.readTextFile(checkpoints)).trim().split("\n").at(-1)!);
  // The attacker re-points the last checkpoint at the cut log's size: the signature fails.
  const size = /^[^\n]*\n(\d+)\n/.exec(cp.note)![1];
  cp.note = cp.note.replace(`\n${size}\n`, `\n${lines.length - 3}\n`);
  await Deno.writeTextFile(checkpoints, JSON.stringify(cp) + "\n");
  const forged = await runLoom(["audit", "verify", "--json"], { home });
  assert.equal(forged.code, 65);
  const kinds = JSON.parse(forged.stdout).verdicts.map((v: { kind: string }) => v.kind);
  assert.ok(kinds.includes("forged_checkpoint"), kinds.join());
});

Deno.test("loom run signs heartbeat checkpoints while idle; loom audit verify reports a deleted one as a gap, exit 65", async () => {
  await using dir = await tempDir();
  await using api = await startUpstream(() => Response.json({ ok: true }));
  const home = join(dir.path, "home");
  const config = join(dir.path, "agent.yaml");
  await Deno.writeTextFile(config, agentYaml(api.url));
  const child = loomRunCommand(config, {
    home,
    stdin: "piped",
    env: { LOOM_AUDIT_HEARTBEAT: "1" },
  }).spawn();
  const checkpoints = join(home, "audit", "checkpoints.jsonl");
  const count = async () => {
    try {
      return (await Deno.readTextFile(checkpoints)).split("\n").filter((l) => l !== "").length;
    } catch {
      return 0;
    }
  };
  // Idle for three heartbeats or more (bounded: at most 15 s).
  for (let i = 0; i < 150 && (await count()) < 4; i++) {
    await new Promise((r) => setTimeout(r, 100));
  }
  await child.stdin.close();
  const out = await child.output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const lines = (await Deno.readTextFile(checkpoints)).trimEnd().split("\n");
  assert.ok(lines.length >= 4, `${lines.length} checkpoints`);
  const intact = await runLoom(["audit", "verify"], { home });
  assert.equal(intact.code, 0, intact.stdout + intact.stderr);
  await Deno.writeTextFile(
    checkpoints,
    [...lines.slice(0, 1), ...lines.slice(2)].join("\n") + "\n",
  );
  const gap = await runLoom(["audit", "verify"], { home });
  assert.equal(gap.code, 65, gap.stdout);
  assert.match(gap.stdout, /Audit log damaged: gap at seq \d+: .*missing between/);
});

// --- Fail closed with a read-only audit log -----------------------------------------

/** Make a file unwritable even for root (`chattr +i`) or, for others, by mode. */
async function makeReadOnly(path: string): Promise<() => Promise<void>> {
  if (Deno.uid() === 0) {
    const set = await new Deno.Command("chattr", { args: ["+i", path], stderr: "null" }).output();
    if (!set.success) throw new Error("chattr +i failed");
    return async () => {
      await new Deno.Command("chattr", { args: ["-i", path] }).output();
    };
  }
  await Deno.chmod(path, 0o400);
  return () => Deno.chmod(path, 0o600);
}

/** Whether a read-only file can be made here (root needs `chattr` on a supporting file system). */
async function canMakeReadOnly(): Promise<boolean> {
  if (Deno.build.os !== "linux") return false;
  const probe = await Deno.makeTempFile();
  try {
    const undo = await makeReadOnly(probe);
    try {
      await Deno.writeTextFile(probe, "x", { append: true });
      return false;
    } catch {
      return true;
    } finally {
      await undo();
    }
  } catch {
    return false;
  } finally {
    await Deno.remove(probe).catch(() => {});
  }
}

const readOnlyWorks = await canMakeReadOnly();
/** Writes through an open handle fail only with the immutable flag (root with chattr). */
const midRunWorks = readOnlyWorks && Deno.uid() === 0;

Deno.test({
  name: "loom run with a read-only audit log serves nothing; the upstream receives nothing",
  ignore: !readOnlyWorks,
  async fn() {
    await using dir = await tempDir();
    await using api = await startUpstream(() => Response.json({ ok: true }));
    const home = join(dir.path, "home");
    const config = join(dir.path, "agent.yaml");
    await Deno.writeTextFile(config, agentYaml(api.url));
    await Deno.mkdir(join(home, "audit"), { recursive: true, mode: 0o700 });
    const file = join(home, "audit", "audit.jsonl");
    await Deno.writeFile(file, new Uint8Array(), { mode: 0o600 });
    const undo = await makeReadOnly(file);
    try {
      const res = await runLoom(["run", config], { home, stdin: session("a1") });
      assert.equal(res.code, 75, res.stderr);
      assert.match(res.stderr, /audit log/i);
      assert.equal(api.requests.length, 0);
    } finally {
      await undo();
    }
  },
});

/**
 * Serve, answer one call, make the audit file read-only (the immutable flag:
 * writes through the open handle fail too), then call again: `runs` says
 * whether that call may reach the upstream.
 */
async function callWhileReadOnly(runtime: string, tier1: boolean, runs: boolean): Promise<void> {
  await using dir = await tempDir();
  await using api = await startUpstream(() => Response.json({ ok: true }));
  const home = join(dir.path, "home");
  const config = join(dir.path, "agent.yaml");
  await Deno.writeTextFile(config, agentYaml(api.url, runtime));
  await using server = await startLoomHttp(config, { home });
  const client = await RawSession.open(server.url, "ro");
  const first = await client.call("get_item", { id: "a1" });
  assert.equal(first.json?.result?.isError, undefined, first.text);
  assert.equal(api.requests.length, 1);
  const undo = await makeReadOnly(join(home, "audit", "audit.jsonl"));
  try {
    // The first write after the change fails (at tier 1 that call has run).
    if (tier1) await client.call("get_item", { id: "a2" });
    const before = api.requests.length;
    const res = await client.call("get_item", { id: "a3" });
    if (runs) {
      assert.equal(res.json?.result?.isError, undefined, res.text);
      assert.equal(api.requests.length, before + 1);
    } else {
      assert.equal(res.json?.result?.isError, true, res.text);
      assert.match(res.text, /Audit log unavailable/);
      assert.equal(api.requests.length, before, "nothing sent upstream");
    }
  } finally {
    await undo();
  }
  await server.stop();
  const verify = await runLoom(["audit", "verify"], { home });
  assert.equal(verify.code, 0, verify.stdout);
}

Deno.test({
  name:
    "loom run: a tier 2 call while the audit log turned read-only answers audit unavailable; the upstream receives nothing",
  ignore: !midRunWorks,
  fn: () => callWhileReadOnly("    trust_tier: 2\n    audit_failure: allow\n", false, false),
});

Deno.test({
  name:
    "loom run: a tier 1 call while the audit log turned read-only is refused under audit_failure: refuse",
  ignore: !midRunWorks,
  fn: () => callWhileReadOnly("", true, false),
});

Deno.test({
  name:
    "loom run: a tier 1 call while the audit log turned read-only runs under audit_failure: allow",
  ignore: !midRunWorks,
  fn: () => callWhileReadOnly("    audit_failure: allow\n", true, true),
});
