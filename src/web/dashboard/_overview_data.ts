/**
 * What the Overview shows, gathered from LOOM's state through the same
 * modules as the CLI: the configs of the agents directory, the agent
 * registry (`loom list`), pending approvals (`loom approvals list`), the
 * quarantine (`loom quarantine list`), the audit log's bounded tail
 * (`_audit_tail.ts`) and its chain check (`checkAuditLog()`, as
 * `loom audit verify`), cached for {@linkcode AUDIT_CHECK_TTL_MS} so a page
 * view does not re-verify a large log every time.
 *
 * @module
 */

import {
  type AuditCheckReport,
  type AuditRecord,
  checkAuditLog,
  publicKeyFileOf,
  readTrustedKey,
} from "../../security/audit/mod.ts";
import { join } from "node:path";
import { type LoomHome, openStore, Quarantine } from "../../store/mod.ts";
import { readAuditTail } from "./_audit_tail.ts";
import { type AgentFile, hostOfTemplate, toolHostsOf, upstreamHostsOf } from "./_agents_data.ts";
import { bucketOf, emptyBuckets, type HourBucket } from "./_chart.ts";

/** How long an audit chain check is reused, in milliseconds. */
export const AUDIT_CHECK_TTL_MS = 30_000;
/** Least time between two checks of a log that keeps growing. */
export const AUDIT_RECHECK_MS = 5_000;

/** The audit chain check and when it ran. */
export interface AuditStatus {
  report: AuditCheckReport | null;
  /** Why the check could not run, when it could not. */
  error: string | null;
  /** When it ran, in milliseconds. */
  checkedAt: number;
  /** The log file's size then, in bytes (-1: unreadable). */
  size: number;
}

const auditCache = new Map<string, AuditStatus>();

/**
 * The audit log's check, reused for 30 seconds per log directory while the
 * log does not grow (a growing one is checked again, at most every 5 s).
 *
 * @param home the LOOM home (log and checkpoint public key)
 * @param now the clock, in milliseconds
 */
export async function auditStatus(home: LoomHome, now: number): Promise<AuditStatus> {
  const cached = auditCache.get(home.audit);
  const size = await logSize(home);
  const age = cached === undefined ? Infinity : now - cached.checkedAt;
  // Reused while fresh and the log has not grown; a growing log is checked again, at most
  // every AUDIT_RECHECK_MS, so the page's numbers and the check's agree.
  if (
    cached !== undefined && age >= 0 &&
    (age < AUDIT_RECHECK_MS || (age < AUDIT_CHECK_TTL_MS && cached.size === size))
  ) {
    return cached;
  }
  let status: AuditStatus;
  try {
    const key = await readTrustedKey(publicKeyFileOf(home.auditSigningKey));
    const report = await checkAuditLog(home.audit, { trustedKeys: key === null ? [] : [key] });
    status = { report, error: null, checkedAt: now, size };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    status = { report: null, error: message.split("\n")[0].slice(0, 300), checkedAt: now, size };
  }
  auditCache.set(home.audit, status);
  return status;
}

/** The audit log file's size, or -1 when it cannot be read. */
async function logSize(home: LoomHome): Promise<number> {
  try {
    return (await Deno.stat(join(home.audit, "audit.jsonl"))).size;
  } catch {
    return -1;
  }
}

/** Calls and errors of one upstream host in the last hour. */
export interface HostHealth {
  host: string;
  agents: string[];
  calls: number;
  errors: number;
}

/** The counts and series of the Overview. */
export interface OverviewData {
  agentsLoaded: number;
  agentsFailed: number;
  tools: number;
  calls24h: number;
  denials24h: number;
  pendingApprovals: number;
  quarantineWaiting: number;
  buckets: HourBucket[];
  hosts: HostHealth[];
  /** How many records the tail held, and whether it was cut by its bound. */
  recordsRead: number;
}

/** The most records of the log's tail an Overview reads. */
export const TAIL_RECORDS = 20_000;

/**
 * Gather the Overview's numbers.
 *
 * @param home the LOOM home
 * @param files the agents directory's configs
 * @param now the clock, in milliseconds
 */
export async function overviewData(
  home: LoomHome,
  files: AgentFile[],
  now: number,
): Promise<OverviewData> {
  const loaded = files.flatMap((f) => (f.config === null ? [] : [f.config]));
  const records = await readAuditTail(home.audit, {
    maxRecords: TAIL_RECORDS,
    since: new Date(now - 24 * 3_600_000),
  });
  const buckets = emptyBuckets(now, 24);
  let calls = 0;
  let denials = 0;
  for (const r of records) {
    if (!isOutcome(r)) continue;
    const bucket = bucketOf(buckets, Date.parse(r.ts));
    if (bucket === undefined) continue;
    calls++;
    bucket.calls++;
    if (r.status === "denied") (denials++, bucket.denials++);
  }
  const { pending, waiting } = await queues(home, now);
  return {
    agentsLoaded: loaded.length,
    agentsFailed: files.length - loaded.length,
    tools: loaded.reduce((n, c) => n + c.tools.length + (c.mcpUpstream?.tools?.length ?? 0), 0),
    calls24h: calls,
    denials24h: denials,
    pendingApprovals: pending,
    quarantineWaiting: waiting,
    buckets,
    hosts: hostHealth(files, records, now),
    recordsRead: records.length,
  };
}

/** A call's outcome: a `tool_call` outcome or a policy refusal. */
function isOutcome(r: AuditRecord): boolean {
  return (r.event === "tool_call" || r.event === "trust_violation") && r.phase === "outcome";
}

async function queues(home: LoomHome, now: number): Promise<{ pending: number; waiting: number }> {
  let pending: number;
  {
    await using store = await openStore(home);
    pending = store.approvals.list({ status: ["pending"] }).filter((a) => a.expiresAt > now)
      .length;
  }
  const quarantine = await Quarantine.open(home);
  return { pending, waiting: (await quarantine.list()).length };
}

/**
 * Per upstream host of the configs: outcomes in the last hour, from the
 * records' own URL when they have one, else from the tool's bridge (or the
 * gateway agent's upstream). Errors are `error` and `timeout` outcomes.
 */
function hostHealth(files: AgentFile[], records: AuditRecord[], now: number): HostHealth[] {
  const hosts = new Map<string, HostHealth>();
  const byAgent = new Map<string, { tools: Map<string, string>; upstream: string | null }>();
  for (const f of files) {
    if (f.config === null) continue;
    const all = upstreamHostsOf(f.config);
    for (const host of all) {
      const entry = hosts.get(host) ?? { host, agents: [], calls: 0, errors: 0 };
      entry.agents.push(f.config.name);
      hosts.set(host, entry);
    }
    const upstream = f.config.mcpUpstream === null ? null : (all.at(-1) ?? null);
    byAgent.set(f.config.name, { tools: toolHostsOf(f.config), upstream });
  }
  const since = now - 3_600_000;
  for (const r of records) {
    if (r.event !== "tool_call" || r.phase !== "outcome" || Date.parse(r.ts) < since) continue;
    const host = hostOfRecord(r, byAgent.get(r.agent));
    const entry = host === null ? undefined : hosts.get(host);
    if (entry === undefined) continue;
    entry.calls++;
    if (r.status === "error" || r.status === "timeout") entry.errors++;
  }
  return [...hosts.values()].sort((a, b) => a.host.localeCompare(b.host));
}

function hostOfRecord(
  r: AuditRecord,
  agent: { tools: Map<string, string>; upstream: string | null } | undefined,
): string | null {
  const http = r.http as { url?: unknown } | undefined;
  if (typeof http?.url === "string") {
    const host = hostOfTemplate(http.url);
    if (host !== null) return host;
  }
  if (agent === undefined) return null;
  if (typeof r.tool === "string" && agent.tools.has(r.tool)) return agent.tools.get(r.tool)!;
  return agent.upstream;
}
