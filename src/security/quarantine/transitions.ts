/**
 * The two decisions a person makes about a quarantined config, shared by
 * `loom quarantine promote | reject` and the dashboard's quarantine page:
 *
 * - {@linkcode promoteQuarantined}: the real config loader on the exact bytes
 *   that will be written, an optional signature (written first, so an old
 *   config beside a new signature fails closed), an atomic install into the
 *   agents directory that refuses a symlinked directory or target and an
 *   existing file unless `force`, then the `config_signature` and
 *   `quarantine` audit records;
 * - {@linkcode rejectQuarantined}: the entry set aside with its reason, and
 *   its `quarantine` record.
 *
 * {@linkcode parseQuarantined} and {@linkcode decodeQuarantined} read an
 * entry as `show` does; {@linkcode rejectReasonProblem} is the one rule for a
 * rejection's reason.
 *
 * @module
 */

import { join } from "node:path";
import { type AgentConfig, parseConfig } from "../../config/mod.ts";
import { ConfigError, formatConfigIssue, LoomError } from "../../errors.ts";
import type { AuditLog } from "../audit/mod.ts";
import {
  loadSigningKey,
  prepareSignature,
  signaturePath,
  type SigningAlgorithm,
  writeSignature,
} from "../signing/mod.ts";
import {
  checkInstallTarget,
  checkQuarantineName,
  installFile,
  type LoomHome,
  type Quarantine,
  type RejectedEntry,
} from "../../store/mod.ts";

/** The longest rejection reason recorded. */
export const MAX_REJECT_REASON = 500;

/** An entry read with the config loader: the config, or every problem as `file:line:column`. */
export type ParsedEntry = { ok: true; config: AgentConfig } | { ok: false; problems: string[] };

/** Load an entry's text with the real config loader, keeping its problems instead of throwing. */
export function parseQuarantined(text: string, path: string): ParsedEntry {
  try {
    return { ok: true, config: parseConfig(text, { path }) };
  } catch (error) {
    if (error instanceof ConfigError) {
      return { ok: false, problems: error.issues.map(formatConfigIssue) };
    }
    if (error instanceof LoomError) return { ok: false, problems: [error.message] };
    throw error;
  }
}

/**
 * An entry's bytes as text.
 *
 * @throws {LoomError} `INPUT_INVALID` when they are not UTF-8
 */
export function decodeQuarantined(bytes: Uint8Array, file: string): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new LoomError("INPUT_INVALID", `Quarantined config "${file}" is not valid UTF-8`);
  }
}

/**
 * What is wrong with a rejection's reason: `missing` (absent or blank),
 * `invalid` (over {@linkcode MAX_REJECT_REASON} characters or holding control
 * characters), or null when it may be recorded.
 */
export function rejectReasonProblem(reason: string | undefined): "missing" | "invalid" | null {
  if (reason === undefined || reason.trim() === "") return "missing";
  // deno-lint-ignore no-control-regex
  if (reason.length > MAX_REJECT_REASON || /[\u0000-\u001f\u007f]/.test(reason)) {
    return "invalid";
  }
  return null;
}

/** Options of {@linkcode promoteQuarantined}. */
export interface PromoteOptions {
  home: LoomHome;
  quarantine: Quarantine;
  audit: AuditLog;
  /** The entry's name (checked). */
  name: string;
  /** The agents directory to write `NAME.yaml` into. */
  dir: string;
  /** Sign with this home's key of that algorithm (`NAME.yaml.sig`). */
  sign?: SigningAlgorithm;
  /** Replace an existing regular file. */
  force?: boolean;
  /** Who decided, recorded as `actor` (the dashboard's `dashboard:<label>`); none from the CLI. */
  actor?: string;
}

/** What {@linkcode promoteQuarantined} did. */
export interface Promotion {
  name: string;
  /** The file written. */
  target: string;
  /** The config's agent name. */
  agent: string;
  /** Hex SHA-256 of the bytes written. */
  digest: string;
  /** The key that signed it, when signed. */
  key?: { algorithm: SigningAlgorithm; keyId: string };
  /** Unsigned, beside a signature file left from an earlier version: `loom run` refuses it. */
  staleSignature: boolean;
}

/**
 * Promote a quarantined config into the agents directory.
 *
 * @returns what was written
 * @throws {ConfigError} when the entry does not load (nothing is written)
 * @throws {NotFoundError} when there is no such entry, or no directory
 * @throws {PolicyError} when the directory or target is a symlink or not regular
 * @throws {LoomError} `USAGE` for a bad name, or an existing target without `force`
 */
export async function promoteQuarantined(options: PromoteOptions): Promise<Promotion> {
  const { home, quarantine, audit, dir, force } = options;
  const name = checkQuarantineName(options.name);
  const { entry, bytes } = await quarantine.get(name);
  const text = decodeQuarantined(bytes, entry.file);
  // The real loader, on the exact bytes that will be written.
  const config = parseConfig(text, { path: entry.file });
  const out = new TextEncoder().encode(text);
  const target = join(dir, `${name}.yaml`);
  const key = options.sign === undefined ? undefined : await loadSigningKey(home, options.sign);
  // Refuse a symlinked directory or target, or an existing one, before writing anything.
  await checkInstallTarget(dir, `${name}.yaml`, { force });
  await checkInstallTarget(dir, `${name}.yaml.sig`, { force: true });
  // The signature goes first: until the config lands, an old config
  // beside a new signature fails closed (digest mismatch).
  // Version: one more than this home signed or accepted for the agent; expiry: 365 days.
  const signature = key === undefined ? undefined : await prepareSignature(
    home,
    { name: config.name, path: target, digest: config.source.digest },
    key,
  );
  if (signature !== undefined) await writeSignature(signaturePath(target), signature);
  await installFile(dir, `${name}.yaml`, out, { force });
  await quarantine.remove(name);
  const actor = options.actor === undefined ? {} : { actor: options.actor };
  if (key !== undefined) {
    await audit.append({
      event: "config_signature",
      agent: config.name,
      tool: null,
      action: "sign",
      algorithm: key.algorithm,
      key_id: key.keyId,
      config_digest: `sha256:${config.source.digest}`,
      path: target,
      ...(signature ? { version: signature.version, expires: signature.expires } : {}),
    });
  }
  await audit.append({
    event: "quarantine",
    agent: config.name,
    tool: null,
    action: "promote",
    name,
    config_digest: `sha256:${config.source.digest}`,
    target,
    ...(key ? { key_id: key.keyId } : {}),
    ...actor,
  });
  return {
    name,
    target,
    agent: config.name,
    digest: config.source.digest,
    ...(key ? { key: { algorithm: key.algorithm, keyId: key.keyId } } : {}),
    staleSignature: key === undefined && (await exists(signaturePath(target))),
  };
}

/** Options of {@linkcode rejectQuarantined}. */
export interface RejectOptions {
  quarantine: Quarantine;
  audit: AuditLog;
  name: string;
  /** Why; check it with {@linkcode rejectReasonProblem} first. */
  reason: string;
  /** Who decided, recorded as `actor`; none from the CLI. */
  actor?: string;
}

/**
 * Set a quarantined config aside (`quarantine/rejected/`) with its reason.
 *
 * @returns the rejected entry's record
 * @throws {NotFoundError} when there is no such entry
 * @throws {LoomError} `USAGE` for a bad name or reason
 */
export async function rejectQuarantined(options: RejectOptions): Promise<RejectedEntry> {
  const { quarantine, audit, reason } = options;
  if (rejectReasonProblem(reason) !== null) {
    throw new LoomError("USAGE", "Invalid reason: 1-500 characters, no control characters");
  }
  const name = checkQuarantineName(options.name);
  const { bytes, entry } = await quarantine.get(name);
  const config = parseQuarantined(decodeQuarantined(bytes, entry.file), entry.file);
  const rejected = await quarantine.reject(name, reason);
  await audit.append({
    event: "quarantine",
    agent: config.ok ? config.config.name : name,
    tool: null,
    action: "reject",
    name,
    config_digest: `sha256:${rejected.digest}`,
    reason,
    ...(options.actor === undefined ? {} : { actor: options.actor }),
  });
  return rejected;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}
