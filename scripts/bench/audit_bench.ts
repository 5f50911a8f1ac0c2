/**
 * Audit log benchmark (see `docs/performance.md`): durable records/s with 64 appends in flight,
 * and `verifyAuditLog` time over 1,000,000 records, also with the Merkle roots
 * `loom audit verify` recomputes for a checkpoint every 1000 records (the
 * budget is 5 s for the whole check). Works in a temp dir that it removes
 * afterwards.
 *
 * Run: `deno run --allow-read --allow-write --allow-env scripts/bench/audit_bench.ts`
 * Options: `--records=<n>` for the verify log size (default 1000000),
 * `--seconds=<s>` for the durable append run (default 3), `--strict` to also
 * time strict verification.
 *
 * @module
 */

import {
  type AuditEvent,
  AuditLog,
  verifyAuditLog,
  type VerifyOptions,
} from "../../src/security/audit/mod.ts";

const args = new Map(
  Deno.args.map((arg) => {
    const [key, value = "true"] = arg.replace(/^--/, "").split("=");
    return [key, value] as const;
  }),
);
const VERIFY_RECORDS = Number(args.get("records") ?? 1_000_000);
const APPEND_SECONDS = Number(args.get("seconds") ?? 3);
const IN_FLIGHT = 64;

/** A record of realistic size (a call's outcome, about 330 bytes on disk). */
function sampleEntry(i: number): AuditEvent {
  return {
    event: "tool_call",
    agent: "github",
    tool: "list_issues",
    call: `7f3a01c2-${i}`,
    phase: "outcome",
    status: "success",
    duration_ms: 12.5 + (i % 100),
    client: "claude-ai",
    http: {
      bytes: 2048 + (i % 500),
      method: "GET",
      status: 200,
      url: `https://api.github.com/repos/denoland/deno/issues?state=open&page=${i % 50}`,
    },
  };
}

async function benchDurableAppends(dir: string): Promise<void> {
  await using log = await AuditLog.open(dir);
  const deadline = performance.now() + APPEND_SECONDS * 1000;
  let done = 0;
  const start = performance.now();
  const worker = async (): Promise<void> => {
    while (performance.now() < deadline) {
      await log.append(sampleEntry(done));
      done++;
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  const seconds = (performance.now() - start) / 1000;
  const { batches } = log.stats;
  console.log(
    `durable appends, ${IN_FLIGHT} in flight: ${Math.round(done / seconds)} records/s ` +
      `(${done} records, ${batches} fsyncs, ${(done / batches).toFixed(1)} records/fsync, ` +
      `${(seconds * 1000 / batches).toFixed(2)} ms/fsync)`,
  );
}

async function generate(dir: string, records: number): Promise<number> {
  const start = performance.now();
  await using log = await AuditLog.open(dir);
  const chunk = 16_384;
  for (let i = 0; i < records; i += chunk) {
    const n = Math.min(chunk, records - i);
    await Promise.all(Array.from({ length: n }, (_, j) => log.append(sampleEntry(i + j))));
  }
  return (performance.now() - start) / 1000;
}

async function benchVerify(dir: string, label: string, options: VerifyOptions): Promise<void> {
  const start = performance.now();
  const report = await verifyAuditLog(dir, options);
  const seconds = (performance.now() - start) / 1000;
  if (!report.ok) throw new Error(`Verification failed: ${report.firstBad?.detail}`);
  if (options.rootsAt !== undefined && report.rootsAt?.size !== options.rootsAt.size) {
    throw new Error("Verification did not report every Merkle root asked for");
  }
  console.log(
    `verify (${label}): ${report.records} records in ${seconds.toFixed(2)} s ` +
      `(${Math.round(report.records / seconds)} records/s)`,
  );
}

const root = await Deno.makeTempDir({ prefix: "loom_audit_bench_" });
try {
  console.log(
    `Deno ${Deno.version.deno}, ${Deno.build.os}/${Deno.build.arch}, ` +
      `${navigator.hardwareConcurrency} CPUs`,
  );
  await benchDurableAppends(`${root}/durable`);
  const genSeconds = await generate(`${root}/big`, VERIFY_RECORDS);
  const { size } = await Deno.stat(`${root}/big/audit.jsonl`);
  console.log(
    `generated ${VERIFY_RECORDS} records (${(size / 1048576).toFixed(0)} MiB) in ` +
      `${genSeconds.toFixed(2)} s (${
        Math.round(VERIFY_RECORDS / genSeconds)
      } records/s, large batches)`,
  );
  await benchVerify(`${root}/big`, "default: hashing on a worker", {});
  await benchVerify(`${root}/big`, "one thread", { parallel: false });
  // What `loom audit verify` asks for with a checkpoint every 1000 records.
  const sizes = new Set(
    Array.from({ length: Math.floor(VERIFY_RECORDS / 1000) }, (_, i) => (i + 1) * 1000),
  );
  await benchVerify(`${root}/big`, "with Merkle roots at every checkpoint", {
    hashesAt: sizes,
    rootsAt: sizes,
  });
  if (args.has("strict")) await benchVerify(`${root}/big`, "strict", { strict: true });
} finally {
  await Deno.remove(root, { recursive: true });
}
