/**
 * The audit crash round, shared by `tests/reliability/crash_audit_test.ts` (a
 * few rounds) and `scripts/crash_audit.ts` (200): `loom run --transport http`
 * as a real process under load from concurrent raw clients, `SIGKILL` at a
 * random moment (sometimes before any load), then `loom audit verify` against
 * every checkpoint exported in earlier rounds must pass with no failure
 * verdict, every answered call must have its records, and the latest
 * checkpoint is exported for the next round. The server restarts on the same
 * LOOM_HOME each round, so each round also proves that a killed log and its
 * checkpoint file reopen cleanly (`docs/security-requirements.md`, AUD-10).
 *
 * @module
 */

import { join } from "node:path";
import { runLoom, startLoomHttp, startUpstream, type TempDir, tempDir } from "../_helpers.ts";
import {
  descendants,
  indexCalls,
  isAlive,
  RawSession,
  readAudit,
  resultText,
  waitFor,
} from "./_helpers.ts";

/** What one round saw. */
export interface CrashRoundResult {
  /** Calls whose successful answer reached a client before the kill. */
  answered: number;
  /** Records in the log after the round. */
  records: number;
  /** Checkpoint lines verified, and the seq of the last. */
  checkpoints: number;
  lastCheckpointSeq: number | null;
  /** Warnings `verify` printed (cadence gaps, a torn checkpoint line). */
  warnings: string[];
  /** Why the round failed, or null. */
  failure: string | null;
}

/** A home, an upstream and an agent config for crash rounds. */
export interface CrashBench extends AsyncDisposable {
  round(round: number, clients: number): Promise<CrashRoundResult>;
}

/** Set up a crash bench in a temp dir; dispose to remove it. */
export async function crashBench(): Promise<CrashBench> {
  const dir: TempDir = await tempDir("loom-crash-audit-");
  const api = await startUpstream((req) => {
    const id = decodeURIComponent(new URL(req.url).pathname.split("/").pop() ?? "");
    return Response.json({ id, ok: true });
  });
  const config = join(dir.path, "agent.yaml");
  const home = join(dir.path, "home");
  const exports = join(dir.path, "exported-checkpoints.jsonl");
  await Deno.writeTextFile(
    config,
    `agent:
  name: crash-audit
  exposes:
    - name: get_item
      description: Fetch an item by id
      parameters:
        id: { type: string, pattern: "[a-z0-9-]{1,64}" }
  http_bridge:
    - tool_name: get_item
      url: "${api.url}/items/{{id}}"
  runtime:
    rate_limit: { per_minute: 1000000 }
`,
  );
  await Deno.writeTextFile(exports, "");

  async function round(n: number, clients: number): Promise<CrashRoundResult> {
    const server = await startLoomHttp(config, { home });
    const answered: string[] = [];
    let stop = false;
    let failure: string | null = null;
    const client = async (c: number) => {
      let session: RawSession;
      try {
        session = await RawSession.open(server.url, `crash-${c}`);
      } catch {
        return; // killed before this client got in
      }
      for (let k = 0; !stop && k < 100_000; k++) {
        const id = `r${n}-c${c}-${k}`;
        try {
          const res = await session.call("get_item", { id });
          if (res.status === 200 && res.json?.result && !res.json.result.isError) {
            if (JSON.parse(resultText(res.json.result)).id !== id) failure = `wrong answer ${id}`;
            answered.push(id);
          }
        } catch {
          return; // the connection died with the server
        }
      }
    };
    const running = Array.from({ length: clients }, (_, c) => client(c));
    // A random moment: one round in five before any load, the rest under it.
    if (Math.random() >= 0.2) {
      const want = 1 + Math.floor(Math.random() * 30);
      const started = performance.now();
      while (answered.length < want && performance.now() - started < 10_000) {
        await new Promise((r) => setTimeout(r, 2));
      }
      await new Promise((r) => setTimeout(r, Math.random() * 400));
    }
    const children = descendants(server.child.pid);
    const status = await server.stop("SIGKILL");
    stop = true;
    await Promise.all(running);
    if (status.signal !== "SIGKILL") failure ??= `server ended with ${JSON.stringify(status)}`;
    await waitFor(() => children.every((pid) => !isAlive(pid)), 10_000).catch(() => {
      failure ??= "a child process outlived the killed server";
    });

    // The log as the killed server left it, against every earlier export.
    const verify = await runLoom(["audit", "verify", "--json", "--against", exports], { home });
    let report: {
      ok: boolean;
      records: number;
      checkpoints: { verified: number; last_seq: number | null };
      verdicts: { kind: string; severity: string; detail: string }[];
    } | null = null;
    try {
      report = JSON.parse(verify.stdout);
    } catch {
      failure ??= `verify printed no JSON: ${verify.stdout}${verify.stderr}`;
    }
    if (verify.code !== 0 || report?.ok !== true) {
      failure ??= `verify exit ${verify.code}: ${verify.stdout}${verify.stderr}`;
    }
    const records = await readAudit(home);
    const byArgument = new Map<string, { intent?: unknown; outcome?: { status?: unknown } }>();
    for (const call of indexCalls(records).values()) {
      const id = call.intent?.args?.id;
      if (typeof id === "string" && id.startsWith(`r${n}-`)) byArgument.set(id, call);
    }
    for (const id of answered) {
      const call = byArgument.get(id);
      if (!call?.intent || call.outcome?.status !== "success") {
        failure ??= `answered call ${id} has no outcome record`;
      }
    }
    // Export the latest checkpoint for the next rounds (none yet is fine
    // only when no server ever checkpointed; a restart always does).
    const exported = await runLoom(["audit", "checkpoint"], { home });
    if (exported.code === 0) {
      await Deno.writeTextFile(exports, exported.stdout, { append: true });
    } else if (n > 1) {
      failure ??= `audit checkpoint exit ${exported.code}: ${exported.stderr}`;
    }
    return {
      answered: answered.length,
      records: records.length,
      checkpoints: report?.checkpoints.verified ?? 0,
      lastCheckpointSeq: report?.checkpoints.last_seq ?? null,
      warnings: (report?.verdicts ?? []).filter((v) => v.severity === "warning").map((v) =>
        `${v.kind}: ${v.detail}`
      ),
      failure,
    };
  }

  return {
    round,
    [Symbol.asyncDispose]: async () => {
      await api[Symbol.asyncDispose]();
      await dir[Symbol.asyncDispose]();
    },
  };
}
