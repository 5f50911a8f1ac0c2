/**
 * Putting a config a generator made into the quarantine, as `loom quarantine
 * add` does: the entry, its submitter (`generator:NAME`, who can then never
 * approve it), the submission record, and a `quarantine` audit record. Used
 * by `loom import openapi` and `loom generate`.
 *
 * @module
 */

import { join } from "node:path";
import { AuditLog } from "../security/audit/mod.ts";
import { ensureHome, generatorPrincipal, Quarantine, resolveHome } from "../store/mod.ts";
import type { CliIo } from "./_io.ts";
import { recordSubmission } from "./quarantine_approve.ts";

/** What to submit. */
export interface Submission {
  /** The config's YAML text. */
  text: string;
  /** The entry name (the agent name). */
  name: string;
  /** Where it came from, as `loom quarantine list` shows it (a file, a URL, a model). */
  source: string;
  /** The generator recorded as its submitter, such as "loom import openapi". */
  generator: string;
  /** Replace a pending entry of the same name. */
  force?: boolean;
}

/**
 * Add the text to the quarantine.
 *
 * @returns the entry's name
 * @throws {ConflictError} when an entry of that name waits and `force` is not set
 */
export async function submitToQuarantine(submission: Submission, io: CliIo): Promise<string> {
  const { text, name, source, generator, force } = submission;
  const home = await ensureHome(resolveHome(io.env));
  const box = await Quarantine.open(home);
  await using audit = await AuditLog.open(home.audit);
  const dir = await Deno.makeTempDir({ prefix: "loom-submit-" });
  try {
    const file = join(dir, `${name}.yaml`);
    await Deno.writeTextFile(file, text, { mode: 0o600 });
    const entry = await box.add(file, { name, force, label: source });
    const submittedBy = generatorPrincipal(generator);
    await box.setSubmitter(entry.name, submittedBy);
    await recordSubmission(home, entry.digest, submittedBy);
    await audit.append({
      event: "quarantine",
      agent: name,
      tool: null,
      action: "add",
      name: entry.name,
      config_digest: `sha256:${entry.digest}`,
      source,
      submitted_by: submittedBy,
    });
    return entry.name;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
