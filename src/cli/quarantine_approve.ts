/**
 * `loom quarantine approve PATH`, and who submitted a quarantined config:
 * the human step a config with `provenance: ai-generated` needs before any
 * of its tools is served (`src/runtime/gate/quarantine.ts`). An approval is
 * of the file's exact bytes (the digest the loader computes, which `loom
 * run` computes again), is refused to any of the config's submitters (its
 * generator, and whoever `loom quarantine add` recorded), and is audited
 * whether granted or refused (`config_approval`). The approval record is
 * durable before the approval is stored, so no approval exists unrecorded.
 *
 * @module
 */

import { loadConfig } from "../config/mod.ts";
import { PolicyError, UsageError } from "../errors.ts";
import type { AuditLog } from "../security/audit/mod.ts";
import {
  checkApprover,
  generatorPrincipal,
  isPrincipal,
  type LoomHome,
  openStore,
} from "../store/mod.ts";
import { escapeForTerminal } from "../_util/terminal.ts";
import type { CliIo } from "./_io.ts";
import { cliPrincipal } from "./_os_user.ts";

/**
 * `loom quarantine approve PATH`: record that this person approved the exact
 * bytes of an ai-generated config, unless they submitted them. The record
 * is written (durable) before the approval takes effect, and a refusal is
 * recorded too.
 */
export async function approveConfig(
  path: string,
  home: LoomHome,
  audit: AuditLog,
  io: CliIo,
): Promise<number> {
  // The real loader, on the bytes the served agent will load and hash.
  const config = await loadConfig(path);
  const shown = escapeForTerminal(path);
  if (config.provenance.source !== "ai-generated") {
    throw new UsageError(
      `"${shown}" has provenance "${config.provenance.source}", not "ai-generated": ` +
        `it is served without an approval`,
    );
  }
  const approver = cliPrincipal({ env: io.env });
  await using store = await openStore(home);
  const submitters = new Set(store.configApprovals.submitters(config.source.digest));
  if (config.provenance.generator !== null) {
    submitters.add(generatorPrincipal(config.provenance.generator));
  }
  const record = {
    event: "config_approval",
    agent: config.name,
    tool: null,
    config_digest: `sha256:${config.source.digest}`,
    approver,
    submitters: [...submitters].sort(),
    path,
  } as const;
  const refused = checkApprover(approver, record.submitters);
  if (refused !== null) {
    await audit.append({ ...record, action: "refused", reason: refused });
    throw new PolicyError(`Cannot approve "${shown}": ${escapeForTerminal(refused)}`);
  }
  await audit.append({ ...record, action: "approved" });
  store.configApprovals.put({
    agent: config.name,
    configDigest: config.source.digest,
    approvedBy: approver,
  });
  io.out(
    `Approved agent "${config.name}" (${shown}, sha256 ${config.source.digest.slice(0, 12)}) ` +
      `as ${escapeForTerminal(approver)}: its tools are served from its next start; ` +
      `a changed byte needs a new approval\n`,
  );
  return 0;
}

/** Record who submitted these bytes in the state database, where approvals look. */
export async function recordSubmission(
  home: LoomHome,
  digest: string,
  submittedBy: string,
): Promise<void> {
  await using store = await openStore(home);
  store.configApprovals.addSubmission(digest, submittedBy);
}

/**
 * Check a `--submitted-by` principal (`kind:name`).
 *
 * @throws {UsageError} when it is not one
 */
export function checkSubmitter(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (!isPrincipal(value)) {
    throw new UsageError(
      `Invalid --submitted-by: expected kind:name of printable characters, such as ` +
        `"generator:ollama/llama3.1" or "cli:alice"`,
    );
  }
  return value;
}
