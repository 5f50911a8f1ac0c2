/**
 * Checkpoints as signed notes over a Merkle tree: the note layout, unknown
 * cosignatures, roots and proofs against the records, deleted checkpoints
 * (`gap`), two histories (`fork`), idle heartbeats, and a writer that refuses
 * to sign over a log that changed (`docs/security-requirements.md`, AUD-12 to
 * AUD-15).
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import { AuditLog } from "./log.ts";
import { type AuditCheckReport, checkAuditLog } from "./check.ts";
import {
  bodyDigest,
  type Checkpoint,
  CHECKPOINT_FILE_NAME,
  formatCheckpointLine,
  parseCheckpointLine,
  parseNote,
} from "./checkpoint.ts";
import {
  checkCheckpointSignature,
  openCheckpointSigner,
  readTrustedKey,
  type TrustedKey,
} from "./checkpoint_keys.ts";
import { recordLeaf } from "./_log_follower.ts";
import {
  consistencyProof,
  inclusionProof,
  leafHash,
  rootOf,
  verifyConsistency,
  verifyInclusion,
} from "./merkle.ts";
import { sampleEntry, splitLines, tempDir, writeCheckpointedLog } from "./_testing.ts";

const DECODER = new TextDecoder();

function failures(report: AuditCheckReport): string[] {
  return report.verdicts.filter((v) => v.severity === "failure").map((v) => v.kind);
}

async function storedLines(dir: string): Promise<string[]> {
  return (await Deno.readTextFile(join(dir, CHECKPOINT_FILE_NAME))).trimEnd().split("\n");
}

function checkpointOf(line: string): Checkpoint {
  const parsed = parseCheckpointLine(line);
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.value.checkpoint;
}

async function trustedKeyIn(root: string): Promise<TrustedKey> {
  const key = await readTrustedKey(join(root, "keys", "audit-signing.pub"));
  if (key === null) throw new Error("no public key");
  return key;
}

async function recordLeaves(dir: string): Promise<Uint8Array[]> {
  const lines = splitLines(await Deno.readFile(join(dir, "audit.jsonl")));
  return lines.map((l) => recordLeaf(JSON.parse(DECODER.decode(l)).hash));
}

// --- The note -----------------------------------------------------------------------

Deno.test("checkpoint note: origin, size, base64 root, extensions, empty line, one em-dash signature line", async () => {
  await using tmp = await tempDir();
  const log = await writeCheckpointedLog(tmp.path, 7, 100);
  const c = checkpointOf((await storedLines(log.dir)).at(-1)!);
  assert.match(
    c.note,
    /^loom\/loom-[0-9a-f-]{36}\/audit\n7\n[A-Za-z0-9+/]{43}=\nhead [0-9a-f]{64}\ntime \S+Z\nopened \S+Z\nprev (-|[0-9a-f]{64})\nheartbeat 600\n\n\u2014 loom-audit [A-Za-z0-9+/]{91}=\n$/,
  );
  // 4-byte key hint + 64-byte Ed25519 signature.
  assert.equal(Buffer.from(c.note.trimEnd().split(" ").at(-1)!, "base64").length, 68);
  assert.equal(checkCheckpointSignature(c, [log.trusted]), null);
});

Deno.test("checkpoint note: any changed body line fails its signature", async () => {
  await using tmp = await tempDir();
  const log = await writeCheckpointedLog(tmp.path, 5, 100);
  const c = checkpointOf((await storedLines(log.dir)).at(-1)!);
  const bodyLines = c.body.trimEnd().split("\n");
  for (let i = 0; i < bodyLines.length; i++) {
    const changed = [...bodyLines];
    changed[i] = i === 1
      ? String(c.size + 1)
      : i === 2
      ? Buffer.alloc(32, 7).toString("base64")
      : changed[i].replace(/.$/, (ch) => (ch === "0" ? "1" : "0"));
    const note = changed.join("\n") + "\n" + c.note.slice(c.body.length);
    const parsed = parseNote(note);
    if (!parsed.ok) continue; // a change that breaks the layout is refused anyway
    assert.equal(
      checkCheckpointSignature(parsed.value, [log.trusted]),
      "bad signature",
      `body line ${i + 1}`,
    );
  }
});

Deno.test("checkpoint note: an unknown cosignature line is ignored, the trusted one still verifies", async () => {
  await using tmp = await tempDir();
  const log = await writeCheckpointedLog(tmp.path, 5, 100);
  const c = checkpointOf((await storedLines(log.dir)).at(-1)!);
  const witness = "\u2014 witness.example " + Buffer.alloc(68, 9).toString("base64") + "\n";
  for (
    const note of [c.note + witness, c.body + "\n" + witness + c.note.slice(c.body.length + 1)]
  ) {
    const parsed = parseNote(note);
    assert.ok(parsed.ok, parsed.ok ? "" : parsed.reason);
    assert.equal(checkCheckpointSignature(parsed.value, [log.trusted]), null);
  }
  // Only the unknown one: no trusted signature at all.
  const alone = parseNote(c.body + "\n" + witness);
  assert.ok(alone.ok);
  assert.match(checkCheckpointSignature(alone.value, [log.trusted]) ?? "", /unknown key/);
});

Deno.test("checkpoint note: malformed layouts are refused with the line named", () => {
  const body = "loom/loom-12345678/audit\n1\n" + Buffer.alloc(32).toString("base64") +
    "\nhead " + "a".repeat(64) +
    "\ntime 2026-01-01T00:00:00.000Z\nopened 2026-01-01T00:00:00.000Z\nprev -\n";
  const sig = "\u2014 loom-audit " + Buffer.alloc(68).toString("base64") + "\n";
  assert.ok(parseNote(body + "\n" + sig).ok);
  const cases: [string, RegExp][] = [
    [body + sig, /empty line/],
    [body + "\n", /signature/],
    [body.replace("loom/", "evil/") + "\n" + sig, /origin/],
    [body.replace("\n1\n", "\n01\n") + "\n" + sig, /size/],
    [body.replace("prev -", "prev x") + "\n" + sig, /prev/],
    [body + "extra thing\n\n" + sig, /unknown extension/],
    [body + "\n" + sig.replace("\u2014", "-"), /signature line/],
  ];
  for (const [note, reason] of cases) {
    const parsed = parseNote(note);
    assert.equal(parsed.ok, false);
    if (!parsed.ok) assert.match(parsed.reason, reason);
  }
});

// --- Roots and proofs ---------------------------------------------------------------

Deno.test("checkpoints sign the RFC 9162 Merkle root of the records; inclusion and consistency proofs verify against them", async () => {
  await using tmp = await tempDir();
  const log = await writeCheckpointedLog(tmp.path, 37, 10);
  const leaves = await recordLeaves(log.dir);
  // The leaf is SHA-256(0x00 ‖ the record hash's 32 bytes), as merkle.ts defines it.
  const hashes = splitLines(await Deno.readFile(join(log.dir, "audit.jsonl")))
    .map((l) => String(JSON.parse(DECODER.decode(l)).hash));
  hashes.forEach((h, i) => assert.deepEqual(leaves[i], leafHash(Buffer.from(h, "hex"))));
  const checkpoints = (await storedLines(log.dir)).map(checkpointOf);
  assert.deepEqual(checkpoints.map((c) => c.size), [10, 20, 30, 37]);
  for (const c of checkpoints) {
    const root = rootOf(leaves.slice(0, c.size));
    assert.equal(Buffer.from(root).toString("base64"), c.root, `root at ${c.size}`);
  }
  const leafAt = (i: number) => leaves[i];
  const [, second, , last] = checkpoints;
  const rootOfCheckpoint = (c: Checkpoint) => new Uint8Array(Buffer.from(c.root, "base64"));
  // Record 13 is in the tree of checkpoint 2, and not as another index.
  const proof = inclusionProof(leafAt, 12, second.size);
  assert.ok(verifyInclusion(leaves[12], 12, second.size, proof, rootOfCheckpoint(second)));
  assert.ok(!verifyInclusion(leaves[12], 13, second.size, proof, rootOfCheckpoint(second)));
  // Checkpoint 4 extends checkpoint 2.
  const consistency = consistencyProof(leafAt, second.size, last.size);
  assert.ok(
    verifyConsistency(
      second.size,
      last.size,
      consistency,
      rootOfCheckpoint(second),
      rootOfCheckpoint(last),
    ),
  );
});

// --- Deleted checkpoints, two histories, shrinking ----------------------------------

Deno.test("checkAuditLog() reports a gap with its interval when a checkpoint is deleted from the middle", async () => {
  await using tmp = await tempDir();
  const log = await writeCheckpointedLog(tmp.path, 40, 10);
  const lines = await storedLines(log.dir);
  assert.equal(lines.length, 4);
  const before = checkpointOf(lines[1]);
  const after = checkpointOf(lines[3]);
  await Deno.writeTextFile(
    join(log.dir, CHECKPOINT_FILE_NAME),
    [lines[0], lines[1], lines[3]].join("\n") + "\n",
  );
  const report = await checkAuditLog(log.dir, { trustedKeys: [log.trusted] });
  assert.equal(report.chain.ok, true);
  assert.deepEqual(failures(report), ["gap"]);
  assert.ok(
    report.verdicts[0].detail.includes(
      `between ${before.time} (line 2) and ${after.time} (line 3)`,
    ),
  );
  // The first ones deleted: the earliest left does not start the chain.
  await Deno.writeTextFile(join(log.dir, CHECKPOINT_FILE_NAME), lines.slice(2).join("\n") + "\n");
  const head = await checkAuditLog(log.dir, { trustedKeys: [log.trusted] });
  assert.deepEqual(failures(head), ["gap"]);
  assert.match(head.verdicts[0].detail, /missing before /);
});

Deno.test("checkAuditLog() reports a fork for two signed checkpoints of one size with different roots", async () => {
  await using tmp = await tempDir();
  const log = await writeCheckpointedLog(tmp.path, 20, 10);
  const lines = await storedLines(log.dir);
  const last = checkpointOf(lines.at(-1)!);
  // The key holder signs another history of the same size (split view).
  const signer = await openCheckpointSigner(log.keyFile);
  const other = signer.sign({ ...last, root: Buffer.alloc(32, 1).toString("base64") });
  const exportFile = join(tmp.path, "other-view.txt");
  await Deno.writeTextFile(exportFile, other.note);
  const report = await checkAuditLog(log.dir, {
    trustedKeys: [log.trusted],
    against: [{ source: exportFile, text: other.note }],
  });
  const kinds = failures(report);
  assert.ok(kinds.includes("fork"), kinds.join());
  assert.ok(!kinds.includes("forged_checkpoint"), "both are genuinely signed");
  const fork = report.verdicts.find((v) => v.kind === "fork")!;
  assert.match(fork.detail, /different Merkle roots|another history/);
  // The same inside the local file.
  await Deno.writeTextFile(
    join(log.dir, CHECKPOINT_FILE_NAME),
    lines.join("\n") + "\n" + formatCheckpointLine(other),
  );
  const local = await checkAuditLog(log.dir, { trustedKeys: [log.trusted] });
  assert.ok(failures(local).includes("fork"), failures(local).join());
});

Deno.test("checkAuditLog() reports rollback for a later checkpoint that covers fewer records", async () => {
  await using tmp = await tempDir();
  const log = await writeCheckpointedLog(tmp.path, 20, 10);
  const lines = await storedLines(log.dir);
  const [first, second] = lines.map(checkpointOf);
  const signer = await openCheckpointSigner(log.keyFile);
  const smaller = signer.sign({ ...first, prev: null });
  const chained = signer.sign({
    ...smaller,
    prev: bodyDigest(second.body),
  });
  await Deno.writeTextFile(
    join(log.dir, CHECKPOINT_FILE_NAME),
    lines.join("\n") + "\n" + formatCheckpointLine(chained),
  );
  const report = await checkAuditLog(log.dir, { trustedKeys: [log.trusted] });
  assert.deepEqual(failures(report), ["rollback"]);
  assert.match(report.verdicts[0].detail, /covers 10 records, fewer than the 20/);
});

// --- Heartbeats ---------------------------------------------------------------------

Deno.test("AuditLog signs a heartbeat checkpoint every heartbeat while idle (injected clock); a deleted one is a gap", async () => {
  await using tmp = await tempDir();
  let now = 5_000_000;
  const keyFile = join(tmp.path, "keys", "audit-signing.key");
  const dir = join(tmp.path, "audit");
  const options = { keyFile, heartbeatMs: 60_000, now: () => now, timer: false };
  {
    await using log = await AuditLog.open(dir, { checkpoints: options });
    for (let i = 0; i < 3; i++) await log.append(sampleEntry(i));
    for (let i = 0; i < 3; i++) {
      now += 60_000;
      await log.checkpointIfDue();
    }
    assert.equal(log.checkpointStats?.written, 3);
  }
  const lines = await storedLines(dir);
  const sizes = lines.map((l) => checkpointOf(l).size);
  assert.deepEqual(sizes, [3, 3, 3], "idle 3 x T: three heartbeats over the same size");
  const key = await trustedKeyIn(tmp.path);
  const intact = await checkAuditLog(dir, { trustedKeys: [key] });
  assert.deepEqual(intact.verdicts, []);
  await Deno.writeTextFile(
    join(dir, CHECKPOINT_FILE_NAME),
    [lines[0], lines[2]].join("\n") + "\n",
  );
  const cut = await checkAuditLog(dir, { trustedKeys: [key] });
  assert.deepEqual(failures(cut), ["gap"]);
});

Deno.test("AuditLog heartbeat timer signs checkpoints of an idle log on its own", async () => {
  await using tmp = await tempDir();
  const keyFile = join(tmp.path, "keys", "audit-signing.key");
  const dir = join(tmp.path, "audit");
  await using log = await AuditLog.open(dir, { checkpoints: { keyFile, heartbeatMs: 1000 } });
  await log.append(sampleEntry(1));
  // Bounded wait for three heartbeats (about 3 s of real time).
  for (let i = 0; i < 100 && (log.checkpointStats?.written ?? 0) < 3; i++) {
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok((log.checkpointStats?.written ?? 0) >= 3, JSON.stringify(log.checkpointStats));
});

Deno.test("checkAuditLog() warns when a running writer's checkpoints are further apart than its heartbeat", async () => {
  await using tmp = await tempDir();
  let now = 1_000_000;
  const keyFile = join(tmp.path, "keys", "audit-signing.key");
  const dir = join(tmp.path, "audit");
  {
    await using log = await AuditLog.open(dir, {
      checkpoints: { keyFile, heartbeatMs: 60_000, now: () => now, timer: false },
    });
    await log.append(sampleEntry(1));
    now += 60_000;
    await log.checkpointIfDue();
    now += 3_600_000; // asleep for an hour
    await log.checkpointIfDue();
  }
  const key = await trustedKeyIn(tmp.path);
  const report = await checkAuditLog(dir, { trustedKeys: [key] });
  assert.equal(report.ok, true);
  const gap = report.verdicts.find((v) => v.kind === "cadence_gap");
  assert.equal(gap?.severity, "warning");
  assert.match(gap!.detail, /No checkpoint for 3600 s .*\(heartbeat 60 s\)/);
});

// --- The writer never signs over a changed log --------------------------------------

Deno.test("AuditLog signs no checkpoint over a log shorter than its last checkpoint, and says so", async () => {
  await using tmp = await tempDir();
  const log = await writeCheckpointedLog(tmp.path, 10, 5);
  const file = join(log.dir, "audit.jsonl");
  const lines = splitLines(await Deno.readFile(file));
  await Deno.writeTextFile(
    file,
    lines.slice(0, 7).map((l) => DECODER.decode(l) + "\n").join(""),
  );
  const before = (await storedLines(log.dir)).length;
  const problems: string[] = [];
  {
    await using writer = await AuditLog.open(log.dir, {
      checkpoints: { keyFile: log.keyFile, everyRecords: 1, onProblem: (m) => problems.push(m) },
    });
    await writer.append(sampleEntry(99));
    await writer.checkpointIfDue();
  }
  assert.equal((await storedLines(log.dir)).length, before, "nothing signed");
  assert.equal(problems.length, 1, problems.join("\n"));
  assert.match(
    problems[0],
    /Cannot sign audit checkpoints any more: the log ends at seq 7, but its last checkpoint covers 10 records/,
  );
});

Deno.test("AuditLog resumes the Merkle tree from its last checkpoint's hints, and distrusts hints that do not reproduce the signed root", async () => {
  await using tmp = await tempDir();
  const log = await writeCheckpointedLog(tmp.path, 12, 4);
  const file = join(log.dir, "audit.jsonl");
  const text = await Deno.readTextFile(file);
  // Damage record 1 (already covered; same length): a resumed writer does not read it again.
  assert.ok(text.includes('"seq":1,'));
  await Deno.writeTextFile(file, text.replace('"seq":1,', '"seq":9,'));
  {
    await using writer = await AuditLog.open(log.dir, {
      checkpoints: { keyFile: log.keyFile, everyRecords: 1, onProblem: () => {} },
    });
    await writer.append(sampleEntry(50));
    await writer.checkpointIfDue();
    assert.ok((writer.checkpointStats?.written ?? 0) >= 1, "resumed from the hints");
  }
  // Now tamper with the hints: the range no longer gives the signed root.
  const lines = await storedLines(log.dir);
  const lastLine = JSON.parse(lines.at(-1)!);
  lastLine.range = lastLine.range.map(() => "ab".repeat(32));
  await Deno.writeTextFile(
    join(log.dir, CHECKPOINT_FILE_NAME),
    [...lines.slice(0, -1), JSON.stringify(lastLine)].join("\n") + "\n",
  );
  const problems: string[] = [];
  {
    await using writer = await AuditLog.open(log.dir, {
      checkpoints: { keyFile: log.keyFile, everyRecords: 1, onProblem: (m) => problems.push(m) },
    });
    await writer.append(sampleEntry(51));
    await writer.checkpointIfDue();
  }
  assert.equal(problems.length, 1, "read from the start, it meets the damaged record 1");
  assert.match(problems[0], /record 1 does not verify/);
});
