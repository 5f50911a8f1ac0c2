import assert from "node:assert/strict";
import { join } from "node:path";
import { PolicyError } from "../../errors.ts";
import { AuditLog } from "./log.ts";
import { type AuditCheckReport, checkAuditLog } from "./check.ts";
import { CheckpointCadence } from "./_checkpoint_cadence.ts";
import {
  type Checkpoint,
  CHECKPOINT_FILE_NAME,
  formatCheckpointLine,
  LOG_ID_FILE_NAME,
  parseCheckpointLine,
} from "./checkpoint.ts";
import { openCheckpointSigner, publicKeyFileOf, readTrustedKey } from "./checkpoint_keys.ts";
import {
  joinLines,
  resealFrom,
  sampleEntry,
  splitLines,
  tempDir,
  writeCheckpointedLog,
} from "./_testing.ts";

const linuxOnly = { ignore: Deno.build.os !== "linux" };

function failures(report: AuditCheckReport): string[] {
  return report.verdicts.filter((v) => v.severity === "failure").map((v) => v.kind);
}

async function checkpointLines(dir: string): Promise<string[]> {
  return (await Deno.readTextFile(join(dir, CHECKPOINT_FILE_NAME))).trimEnd().split("\n");
}

function checkpointOf(line: string): Checkpoint {
  const parsed = parseCheckpointLine(line);
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.value.checkpoint;
}

async function checkpointSizes(dir: string): Promise<number[]> {
  return (await checkpointLines(dir)).map((l) => checkpointOf(l).size);
}

// --- Negative: each verdict on a real log ------------------------------------------

Deno.test("checkAuditLog() reports truncated when the log is shorter than its last checkpoint", async () => {
  await using tmp = await tempDir();
  const log = await writeCheckpointedLog(tmp.path, 30, 10);
  const file = join(log.dir, "audit.jsonl");
  const lines = splitLines(await Deno.readFile(file));
  // Cut the last 5 whole records: the chain alone still verifies.
  await Deno.writeFile(file, joinLines(lines.slice(0, 25)));
  const report = await checkAuditLog(log.dir, { trustedKeys: [log.trusted] });
  assert.equal(report.chain.ok, true);
  assert.deepEqual(failures(report), ["truncated"]);
  assert.equal(report.verdicts[0].seq, 26);
  assert.match(report.verdicts[0].detail, /ends at seq 25 .* covers 30 records/);
});

Deno.test("checkAuditLog() reports rewritten when the chain under a checkpoint was recomputed", async () => {
  await using tmp = await tempDir();
  const log = await writeCheckpointedLog(tmp.path, 30, 10);
  const file = join(log.dir, "audit.jsonl");
  const lines = splitLines(await Deno.readFile(file));
  await Deno.writeFile(file, joinLines(resealFrom(lines, 13, (r) => (r.agent = "evil"))));
  const report = await checkAuditLog(log.dir, { trustedKeys: [log.trusted] });
  assert.equal(report.chain.ok, true, "the recomputed chain is self-consistent");
  assert.deepEqual(failures(report), ["rewritten"]);
  assert.equal(report.verdicts[0].seq, 20);
  assert.match(report.verdicts[0].detail, /recomputed between seq 11 and 20/);
});

Deno.test("checkAuditLog() reports forged_checkpoint for a bad signature, an unknown key and another log", async () => {
  await using tmp = await tempDir();
  const log = await writeCheckpointedLog(tmp.path, 20, 10);
  const cpFile = join(log.dir, CHECKPOINT_FILE_NAME);
  const lines = await checkpointLines(log.dir);
  const c = checkpointOf(lines[0]);
  // 1. A changed body line under the old signature.
  const changed = JSON.stringify({ note: c.note.replace(`\n${c.size}\n`, `\n${c.size + 1}\n`) });
  // 2. Signed by another key (an attacker's own).
  const other = await openCheckpointSigner(join(tmp.path, "other", "k.key"));
  const last = checkpointOf(lines.at(-1)!);
  const foreignKey = formatCheckpointLine(other.sign({ ...last, prev: null }));
  // 3. A genuine signature over another log's id.
  const mine = await openCheckpointSigner(log.keyFile);
  const otherLog = formatCheckpointLine(mine.sign({ ...last, log: "loom-someone-else" }));
  await Deno.writeTextFile(
    cpFile,
    lines.join("\n") + "\n" + changed + "\n" + foreignKey + otherLog + "{not json\n",
  );
  const report = await checkAuditLog(log.dir, { trustedKeys: [log.trusted] });
  const forged = report.verdicts.filter((v) => v.kind === "forged_checkpoint");
  assert.equal(forged.length, 4, JSON.stringify(report.verdicts));
  assert.match(forged[0].detail, /bad signature/);
  assert.match(forged[1].detail, /unknown key/);
  assert.match(forged[2].detail, /another log/);
  assert.match(forged[3].detail, /not JSON/);
  assert.equal(report.ok, false);
});

Deno.test("checkAuditLog() reports rollback when the log no longer holds an exported checkpoint's record", async () => {
  await using tmp = await tempDir();
  const log = await writeCheckpointedLog(tmp.path, 10, 5);
  const file = join(log.dir, "audit.jsonl");
  const old = await Deno.readFile(file);
  const oldCheckpoints = await Deno.readFile(join(log.dir, CHECKPOINT_FILE_NAME));
  // The log goes on; its latest checkpoint is exported.
  {
    await using writer = await AuditLog.open(log.dir, {
      checkpoints: { keyFile: log.keyFile, everyRecords: 5, now: () => 0, timer: false },
    });
    for (let i = 0; i < 10; i++) await writer.append(sampleEntry(100 + i));
  }
  const exported = checkpointOf((await checkpointLines(log.dir)).at(-1)!).note;
  const exportFile = join(tmp.path, "exported.txt");
  await Deno.writeTextFile(exportFile, exported);
  // Rollback: both files restored from the older copy; each alone verifies.
  await Deno.writeFile(file, old);
  await Deno.writeFile(join(log.dir, CHECKPOINT_FILE_NAME), oldCheckpoints);
  const plain = await checkAuditLog(log.dir, { trustedKeys: [log.trusted] });
  assert.equal(plain.ok, true, "without the export the old copy looks fine");
  const against = [{ source: exportFile, text: exported }];
  const report = await checkAuditLog(log.dir, { trustedKeys: [log.trusted], against });
  assert.deepEqual(failures(report), ["rollback"]);
  assert.match(report.verdicts[0].detail, /ends at seq 10, but the exported checkpoint/);
});

Deno.test("checkAuditLog() without a trusted key refuses to call checkpoints good", async () => {
  await using tmp = await tempDir();
  const log = await writeCheckpointedLog(tmp.path, 5, 10);
  const report = await checkAuditLog(log.dir, { trustedKeys: [] });
  assert.deepEqual(failures(report), ["forged_checkpoint"]);
  assert.match(report.verdicts[0].detail, /no trusted public key/);
});

Deno.test("checkAuditLog() warns of a cadence gap and still passes", async () => {
  await using tmp = await tempDir();
  const log = await writeCheckpointedLog(tmp.path, 12, 5);
  // The records after the last checkpoint as if the checkpoints had stopped.
  const lines = await checkpointLines(log.dir);
  await Deno.writeTextFile(join(log.dir, CHECKPOINT_FILE_NAME), lines[0] + "\n");
  const report = await checkAuditLog(log.dir, { trustedKeys: [log.trusted], everyRecords: 5 });
  assert.equal(report.ok, true);
  const gap = report.verdicts.find((v) => v.kind === "cadence_gap");
  assert.equal(gap?.severity, "warning");
  assert.match(gap!.detail, /records after the last checkpoint \(seq \d+\)/);
});

Deno.test("checkAuditLog() passes an intact log and verifies every checkpoint", async () => {
  await using tmp = await tempDir();
  const log = await writeCheckpointedLog(tmp.path, 25, 10);
  const report = await checkAuditLog(log.dir, { trustedKeys: [log.trusted], everyRecords: 10 });
  assert.deepEqual(report.verdicts, []);
  assert.equal(report.ok, true);
  assert.equal(report.checkpoints.verified, report.checkpoints.total);
  assert.equal(report.checkpoints.last?.size, 25, "close checkpoints the final head");
});

// --- Cadence (injected clock, no wall time) ---------------------------------------

Deno.test("CheckpointCadence without a heartbeat is due after everyRecords records or everyMs with activity, never when idle", () => {
  const cadence = new CheckpointCadence(100, 60_000, 0, 0);
  assert.equal(cadence.due(0, 10 ** 9), false, "idle: nothing to cover");
  assert.equal(cadence.due(99, 59_999), false);
  assert.equal(cadence.due(100, 1), true, "by count");
  assert.equal(cadence.due(1, 60_000), true, "by time, with one record");
  cadence.written(100, 1000);
  assert.equal(cadence.due(100, 10 ** 9), false, "covered: idle again");
  assert.equal(cadence.dueAt(100), null);
  assert.equal(cadence.dueAt(101), 61_000);
  cadence.failed(2000);
  assert.equal(cadence.due(250, 2001), false, "after a failure, retried one interval later");
  assert.equal(cadence.due(250, 62_000), true);
  assert.throws(() => new CheckpointCadence(0, 1, 0, 0), RangeError);
});

Deno.test("AuditLog writes a checkpoint every N records and after T ms of activity (injected clock)", async () => {
  await using tmp = await tempDir();
  let now = 1_000_000;
  const keyFile = join(tmp.path, "keys", "audit-signing.key");
  const dir = join(tmp.path, "audit");
  {
    await using log = await AuditLog.open(dir, {
      checkpoints: {
        keyFile,
        everyRecords: 4,
        everyMs: 60_000,
        heartbeatMs: null,
        now: () => now,
        timer: false,
      },
    });
    for (let i = 0; i < 4; i++) await log.append(sampleEntry(i));
    await log.checkpointIfDue();
    assert.equal(log.checkpointStats?.written, 1, "4 records: one by count");
    await log.append(sampleEntry(5));
    now += 59_999;
    await log.checkpointIfDue();
    assert.equal(log.checkpointStats?.written, 1, "one record, not yet a minute");
    now += 1;
    await log.checkpointIfDue();
    assert.equal(log.checkpointStats?.written, 2, "a minute with activity");
    now += 10 * 60_000;
    await log.checkpointIfDue();
    assert.equal(log.checkpointStats?.written, 2, "idle: none");
  }
  assert.deepEqual(await checkpointSizes(dir), [4, 5], "close adds none: the head is covered");
});

// --- The key ------------------------------------------------------------------------

Deno.test("AuditLog creates the signing key 0600 outside the log, its public key beside it, and a log id", async () => {
  await using tmp = await tempDir();
  const log = await writeCheckpointedLog(tmp.path, 3, 10);
  assert.ok(!log.keyFile.startsWith(log.dir));
  if (Deno.build.os !== "windows") {
    assert.equal((await Deno.stat(log.keyFile)).mode! & 0o777, 0o600);
    assert.equal((await Deno.stat(join(tmp.path, "keys"))).mode! & 0o777, 0o700);
  }
  const pub = await readTrustedKey(publicKeyFileOf(log.keyFile));
  assert.equal(pub?.keyId, log.trusted.keyId);
  const line = (await checkpointLines(log.dir))[0];
  assert.ok(!line.includes("PRIVATE"), "no private key material in checkpoints");
  const id = (await Deno.readTextFile(join(log.dir, LOG_ID_FILE_NAME))).trim();
  assert.equal(checkpointOf(line).log, id);
});

Deno.test("AuditLog refuses a signing key that group or others can read", linuxOnly, async () => {
  await using tmp = await tempDir();
  const log = await writeCheckpointedLog(tmp.path, 1, 10);
  await Deno.chmod(log.keyFile, 0o644);
  await assert.rejects(
    AuditLog.open(log.dir, { checkpoints: { keyFile: log.keyFile } }),
    PolicyError,
  );
  // The failed open released the log: it opens again once the key is private.
  await Deno.chmod(log.keyFile, 0o600);
  await (await AuditLog.open(log.dir, { checkpoints: { keyFile: log.keyFile } })).close();
});

Deno.test(
  "AuditLog reports a checkpoint it cannot write and loses no record",
  linuxOnly,
  async () => {
    await using tmp = await tempDir();
    const dir = join(tmp.path, "audit");
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    // Every write to /dev/full fails with ENOSPC.
    await Deno.symlink("/dev/full", join(dir, CHECKPOINT_FILE_NAME));
    const problems: string[] = [];
    {
      await using log = await AuditLog.open(dir, {
        checkpoints: {
          keyFile: join(tmp.path, "keys", "audit-signing.key"),
          everyRecords: 2,
          now: () => 0,
          timer: false,
          onProblem: (m) => problems.push(m),
        },
      });
      for (let i = 0; i < 6; i++) await log.append(sampleEntry(i));
      await log.checkpointIfDue();
      assert.ok((log.checkpointStats?.failures ?? 0) >= 1);
    }
    assert.ok(problems.length >= 1);
    assert.match(problems[0], /Cannot write audit checkpoint at seq \d+: .*no record is lost/);
    await Deno.remove(join(dir, CHECKPOINT_FILE_NAME));
    const report = await checkAuditLog(dir, { trustedKeys: [] });
    assert.equal(report.chain.ok, true);
    assert.equal(report.chain.records, 6);
  },
);

Deno.test("AuditLog checkpoints on open the records a killed writer left uncovered", async () => {
  await using tmp = await tempDir();
  const log = await writeCheckpointedLog(tmp.path, 4, 100);
  // Records from a writer without checkpoints (as a killed one leaves them).
  {
    await using plain = await AuditLog.open(log.dir);
    for (let i = 0; i < 3; i++) await plain.append(sampleEntry(i));
  }
  await (await AuditLog.open(log.dir, { checkpoints: { keyFile: log.keyFile } })).close();
  assert.deepEqual(await checkpointSizes(log.dir), [4, 7]);
});

Deno.test("checkAuditLog() tells a loss from a torn write: a repair that cut a checkpointed record fails", async () => {
  await using tmp = await tempDir();
  const log = await writeCheckpointedLog(tmp.path, 5, 10);
  const file = join(log.dir, "audit.jsonl");
  const bytes = await Deno.readFile(file);
  // Record 5 was synced and checkpointed; tearing it now is not a crash.
  await Deno.writeFile(file, bytes.subarray(0, bytes.length - 20));
  await (await AuditLog.open(log.dir)).close(); // the repair replaces it
  const report = await checkAuditLog(log.dir, { trustedKeys: [log.trusted] });
  assert.equal(report.chain.ok, true);
  assert.deepEqual(failures(report), ["rewritten"]);
  assert.equal(report.verdicts[0].seq, 5);
});
