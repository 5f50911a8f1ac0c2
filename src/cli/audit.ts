/**
 * `loom audit verify | checkpoint | show | tail | hash`: read and check the
 * tamper-evident log; `verify` also checks the signed checkpoints (and, with
 * `--against`, checkpoints exported earlier) and prints typed verdicts
 * (`docs/security-requirements.md` AUD-1, AUD-10); `checkpoint` prints the latest
 * checkpoint for export; `hash` computes the `value_hmac` of a known secret value so the log can
 * be searched for its uses (`docs/security-requirements.md` SEC-12, Vault's
 * `/sys/audit-hash`).
 *
 * @module
 */

import { parseOptions } from "./_args.ts";
import { NotFoundError, UsageError } from "../errors.ts";
import { resolveHome } from "../store/mod.ts";
import { auditHmac, loadAuditHmacKey } from "../security/secrets/mod.ts";
import {
  AUDIT_EVENTS,
  type AuditCheckReport,
  type AuditEventName,
  type AuditRecord,
  auditRecordMatches,
  checkAuditLog,
  CHECKPOINT_FILE_NAME,
  parseNote,
  publicKeyFileOf,
  readAuditRecords,
  readTrustedKey,
  tailAuditLog,
  type TrustedKey,
} from "../security/audit/mod.ts";
import { escapeForTerminal, jsonForTerminal } from "../_util/terminal.ts";
import type { CliIo } from "./_io.ts";
import { readSecretValue } from "./secrets.ts";

/** Help text of `loom audit`. */
export const AUDIT_HELP = `Usage: loom audit <verify|checkpoint|show|tail|hash> [options]

Commands:
  verify            check the hash chain of the whole log and its signed
                    checkpoints; names each problem and its kind: modified,
                    deleted, reordered, chain_broken, malformed, truncated (torn,
                    or shorter than its last checkpoint), rewritten (a chain
                    recomputed under a checkpoint), forged_checkpoint, gap
                    (checkpoints deleted), fork (two signed histories), rollback
                    (an older copy; with --against). A cadence_gap is only a
                    warning. Exit 0 when intact, 65 when not.
  checkpoint        print the latest verified checkpoint (a signed note: origin,
                    size, Merkle root, head, time), to keep elsewhere and give
                    back later to verify --against
  show              print records, oldest first
  tail              print the last records; with -f, keep printing new ones
  hash              read a value from stdin (or a prompt that does not echo;
                    never an argument) and print hmac-sha256:<hex>, the
                    value_hmac that credential_access records carry for it,
                    keyed by $LOOM_HOME/keys/audit.salt

Options (show, tail):
  -n, --lines N     at most the last N records (show: all; tail: 10)
      --event E     only this event type (${AUDIT_EVENTS.join(", ")})
      --agent A     only this agent
      --tool T      only this tool
      --since TIME  only records at or after TIME (ISO-8601, or 10m / 2h / 1d ago)
      --until TIME  only records at or before TIME
      --json        one JSON record per line instead of a summary
  -f, --follow      (tail) keep printing new records until interrupted
      --dir DIR     audit directory (default $LOOM_HOME/audit)

Options (verify, checkpoint):
      --key FILE    the trusted public key (default $LOOM_HOME/keys/audit-signing.pub)
      --against FILE  (verify) checkpoints printed earlier by "loom audit
                    checkpoint" (or lines of a checkpoints.jsonl): the log must
                    still hold exactly the records each one signed (detects
                    rollback to an older copy and a forked history)
      --json        (verify) the report as one JSON object

Options (hash):
      --salt FILE   the audit salt to use (default $LOOM_HOME/keys/audit.salt),
                    e.g. an auditor's copy; must be a private 32-byte file

Examples:
  loom audit verify
  loom audit checkpoint > /elsewhere/loom-checkpoint.txt
  loom audit verify --against /elsewhere/loom-checkpoint.txt
  loom audit show --event trust_violation --since 1h
  loom audit tail -f --agent prometheus-bridge
  printf '%s' "$LEAKED_TOKEN" | loom audit hash    # then grep the log for it
`;

/** `loom audit`. */
export async function auditCommand(args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === "-h" || sub === "--help" || sub === "help") {
    io.out(AUDIT_HELP);
    return sub === undefined ? 64 : 0;
  }
  // Parsed by hand: the input is a secret, and parseArgs quotes what it rejects.
  if (sub === "hash") return await hashCommand(rest, io);
  const { values } = parseOptions({
    args: rest,
    allowPositionals: false,
    options: {
      lines: { type: "string", short: "n" },
      event: { type: "string" },
      agent: { type: "string" },
      tool: { type: "string" },
      since: { type: "string" },
      until: { type: "string" },
      json: { type: "boolean" },
      follow: { type: "boolean", short: "f" },
      dir: { type: "string" },
      key: { type: "string" },
      against: { type: "string", multiple: true },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return (io.out(AUDIT_HELP), 0);
  const home = resolveHome(io.env);
  const dir = values.dir ?? home.audit;
  if (sub === "verify" || sub === "checkpoint") {
    const keyFile = values.key ?? publicKeyFileOf(home.auditSigningKey);
    const key = await readTrustedKey(keyFile);
    if (key === null && values.key !== undefined) {
      throw new NotFoundError(`Cannot read audit public key: no such file "${keyFile}"`);
    }
    const trustedKeys = key === null ? [] : [key];
    if (sub === "checkpoint") return await checkpointCommand(dir, trustedKeys, io);
    return await verifyCommand(dir, trustedKeys, values.against ?? [], values.json === true, io);
  }
  if (values.key !== undefined || values.against !== undefined) {
    throw new UsageError(`--key and --against apply to verify and checkpoint only`);
  }

  if (sub !== "show" && sub !== "tail") {
    throw new UsageError(
      `Unknown audit command "${
        sub.slice(0, 32)
      }": expected verify, checkpoint, show, tail or hash`,
    );
  }
  if (values.event !== undefined && !(AUDIT_EVENTS as readonly string[]).includes(values.event)) {
    throw new UsageError(
      `Invalid --event "${values.event.slice(0, 40)}": expected one of ${AUDIT_EVENTS.join(", ")}`,
    );
  }
  const limit = values.lines === undefined
    ? (sub === "tail" ? 10 : undefined)
    : Number(values.lines);
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 0)) {
    throw new UsageError(`Invalid --lines "${values.lines}": expected a whole number`);
  }
  const filter = {
    event: values.event as AuditEventName | undefined,
    agent: values.agent,
    tool: values.tool,
    since: values.since === undefined ? undefined : parseTime(values.since, "--since"),
    until: values.until === undefined ? undefined : parseTime(values.until, "--until"),
  };
  // Records hold client-supplied text: both views keep terminal controls out.
  const print = (r: AuditRecord) =>
    io.out((values.json ? jsonForTerminal(r) : summarize(r)) + "\n");
  for (const r of await readAuditRecords(dir, { ...filter, limit })) print(r);
  if (sub === "tail" && values.follow) {
    const controller = new AbortController();
    const stop = () => controller.abort();
    Deno.addSignalListener("SIGINT", stop);
    try {
      for await (const r of tailAuditLog(dir, { signal: controller.signal })) {
        if (auditRecordMatches(r, filter)) print(r);
      }
    } finally {
      Deno.removeSignalListener("SIGINT", stop);
    }
  }
  return 0;
}

/** `loom audit verify [--key FILE] [--against FILE]... [--json]`. */
async function verifyCommand(
  dir: string,
  trustedKeys: TrustedKey[],
  againstFiles: string[],
  json: boolean,
  io: CliIo,
): Promise<number> {
  const against = [];
  for (const source of againstFiles) {
    try {
      against.push({ source, text: await Deno.readTextFile(source) });
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        throw new NotFoundError(`Cannot read exported checkpoint: no such file "${source}"`);
      }
      throw error;
    }
  }
  let lastShown = 0;
  const report = await checkAuditLog(dir, {
    trustedKeys,
    against,
    onProgress: io.isTerminal && !json
      ? ({ records, bytes, totalBytes }) => {
        if (records - lastShown >= 100_000) {
          lastShown = records;
          const pct = totalBytes > 0 ? Math.floor((bytes / totalBytes) * 100) : 100;
          io.err(`\rverified ${records} records (${pct}%)…`);
        }
      }
      : undefined,
  });
  if (lastShown > 0) io.err("\r\x1b[K");
  if (json) {
    io.out(jsonForTerminal(reportJson(report)) + "\n");
    return report.ok ? 0 : 65;
  }
  const { chain, checkpoints } = report;
  const bad = chain.firstBad;
  if (bad === undefined) {
    io.out(`Audit log intact: ${chain.records} records, last seq ${chain.lastSeq}\n`);
  } else {
    io.out(
      `Audit log damaged: ${bad.kind} at ${bad.seq === null ? "?" : `seq ${bad.seq}`} ` +
        `(line ${bad.line}): ${escapeForTerminal(bad.detail)}\n` +
        `${chain.records} record${
          chain.records === 1 ? "" : "s"
        } verified before it; last good seq ${chain.lastSeq}\n`,
    );
  }
  if (checkpoints.total > 0 || against.length > 0) {
    const last = checkpoints.last;
    io.out(
      `Checkpoints: ${checkpoints.verified} of ${checkpoints.total} verified` +
        (last === null ? "" : `, the last at seq ${last.size} (${escapeForTerminal(last.time)})`) +
        "\n",
    );
  }
  for (const v of report.verdicts) {
    if (v.kind === bad?.kind && v.line === bad.line && v.seq === bad.seq) continue;
    const at = v.seq === null ? "" : ` at seq ${v.seq}`;
    const line = `${v.kind}${at}: ${escapeForTerminal(v.detail)}\n`;
    if (v.severity === "warning") io.err(`warning: ${line}`);
    else io.out(`Audit log damaged: ${line}`);
  }
  return report.ok ? 0 : 65;
}

/** The JSON form of a report (`--json`): snake_case, the chain and every verdict. */
function reportJson(report: AuditCheckReport): Record<string, unknown> {
  const { chain, checkpoints } = report;
  return {
    ok: report.ok,
    records: chain.records,
    last_seq: chain.lastSeq,
    last_hash: chain.lastHash,
    checkpoints: {
      total: checkpoints.total,
      verified: checkpoints.verified,
      last_seq: checkpoints.last?.size ?? null,
      last_root: checkpoints.last?.root ?? null,
      last_time: checkpoints.last?.time ?? null,
    },
    verdicts: report.verdicts.map((v) => ({
      kind: v.kind,
      severity: v.severity,
      seq: v.seq,
      line: v.line,
      detail: v.detail,
    })),
  };
}

/**
 * `loom audit checkpoint`: the latest checkpoint (highest seq) whose signature
 * verifies, as the exact line to export.
 */
async function checkpointCommand(
  dir: string,
  trustedKeys: TrustedKey[],
  io: CliIo,
): Promise<number> {
  const report = await checkAuditLog(dir, { trustedKeys });
  const last = report.checkpoints.last;
  if (last === null) {
    throw new NotFoundError(
      `Cannot find a verified checkpoint in ${CHECKPOINT_FILE_NAME}` +
        (trustedKeys.length === 0 ? ": no trusted public key (pass --key FILE)" : ""),
    );
  }
  // Re-parse what is printed: the exported note is exactly the signed one.
  if (!parseNote(last.note).ok) throw new TypeError("Checkpoint note malformed");
  io.out(last.note);
  if (!report.ok) {
    io.err(
      `warning: the log does not verify (run "loom audit verify"); ` +
        `this checkpoint is still the latest one signed\n`,
    );
  }
  return 0;
}

/** `loom audit hash [--salt FILE]`: the value comes from stdin or a hidden prompt. */
async function hashCommand(args: string[], io: CliIo): Promise<number> {
  if (args.some((a) => a === "-h" || a === "--help")) return (io.out(AUDIT_HELP), 0);
  let salt: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--salt" && i + 1 < args.length && salt === undefined) salt = args[++i];
    else if (arg.startsWith("--salt=") && salt === undefined) salt = arg.slice(7);
    else if (arg.startsWith("-")) {
      // Never quoted: a mistyped option could hold the value.
      throw new UsageError(
        `"loom audit hash" takes only --salt FILE; the value is read from stdin`,
      );
    } else {
      throw new UsageError(
        `"loom audit hash" takes no value argument: a value on the command line would show in ` +
          `the process list and shell history; pipe it on stdin or type it at the prompt`,
      );
    }
  }
  if (salt === "") throw new UsageError("Missing FILE: --salt FILE");
  const key = await loadAuditHmacKey(resolveHome(io.env), { path: salt });
  const value = await readSecretValue(io, {
    prompt: "Value to hash (input hidden): ",
    what: "hash the value",
  });
  if (value.length === 0) throw new UsageError("Refusing to hash an empty value");
  io.out(`${await auditHmac(key, value)}\n`);
  return 0;
}

/** Parse an ISO time or a relative one (`10m`, `2h`, `1d`: that long ago). */
export function parseTime(text: string, flag: string, now = Date.now()): Date {
  const rel = /^(\d+)\s*(s|m|h|d)$/.exec(text.trim());
  if (rel) {
    const unit = { s: 1e3, m: 6e4, h: 36e5, d: 864e5 }[rel[2] as "s" | "m" | "h" | "d"];
    return new Date(now - Number(rel[1]) * unit);
  }
  const t = Date.parse(text);
  if (Number.isNaN(t)) {
    throw new UsageError(`Invalid ${flag} "${text.slice(0, 40)}": expected ISO-8601 or 10m/2h/1d`);
  }
  return new Date(t);
}

const SUMMARY_SKIP = new Set(["seq", "ts", "event", "agent", "tool", "prev", "hash"]);

/**
 * One line per record: seq, time, event, agent/tool, then the fields. Every
 * value comes from the record, so each is escaped for the terminal: a string
 * with {@linkcode escapeForTerminal}, any other value as JSON with
 * {@linkcode jsonForTerminal}; a record can neither span two lines nor drive
 * the terminal.
 */
export function summarize(r: AuditRecord): string {
  const fields = Object.entries(r)
    .filter(([k]) => !SUMMARY_SKIP.has(k))
    .map(([k, v]) =>
      `${escapeForTerminal(k)}=${typeof v === "string" ? escapeForTerminal(v) : jsonForTerminal(v)}`
    )
    .join(" ");
  const who = escapeForTerminal(r.tool ? `${r.agent}/${r.tool}` : String(r.agent));
  const head = `${String(r.seq).padStart(6)} ${escapeForTerminal(String(r.ts))} ` +
    `${escapeForTerminal(String(r.event)).padEnd(17)}`;
  return `${head} ${who} ${fields}`.trimEnd();
}
