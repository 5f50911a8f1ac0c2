/**
 * `loom quarantine add | list | show | promote | reject | approve`: configs from an
 * untrusted source wait in `$LOOM_HOME/quarantine/` (`src/store/quarantine.ts`)
 * until a person promotes them into the agents directory (validated by the
 * real config loader, optionally signed, written atomically) or rejects them
 * with a reason. Every transition is an audit record (`quarantine`); a
 * promotion with `--sign` also records the signature (`config_signature`).
 *
 * `approve PATH` is the separate, deliberate step a config with `provenance:
 * ai-generated` needs before any of its tools is served: it records that a
 * person (`cli:<os user>`) approved that file's exact bytes, refuses an
 * approver who submitted them (the config's generator, or whoever `add`
 * recorded), and audits both (`config_approval`). Promoting does not approve:
 * moving a file and vouching for it are different acts.
 *
 * @module
 */

import { join } from "node:path";
import { parseOptions } from "./_args.ts";
import { unifiedDiff } from "./_diff.ts";
import { UsageError } from "../errors.ts";
import { AuditLog } from "../security/audit/mod.ts";
import {
  decodeQuarantined,
  parseQuarantined,
  promoteQuarantined,
  rejectQuarantined,
  rejectReasonProblem,
} from "../security/quarantine/mod.ts";
import { signaturePath } from "../security/signing/mod.ts";
import {
  checkQuarantineName,
  ensureHome,
  generatorPrincipal,
  Quarantine,
  resolveHome,
} from "../store/mod.ts";
import { suggest } from "../_util/suggest.ts";
import { escapeForTerminal, escapeLinesForTerminal } from "../_util/terminal.ts";
import { type CliIo, table } from "./_io.ts";
import { cliPrincipal } from "./_os_user.ts";
import { approveConfig, checkSubmitter, recordSubmission } from "./quarantine_approve.ts";

/** Where `show` and `promote` look for the current agents when `--agents`/`--to` is not given. */
export const DEFAULT_AGENTS_DIR = "agents";

/** Help text of `loom quarantine`. */
export const QUARANTINE_HELP = `Usage: loom quarantine <command> [options]

Hold configs from an untrusted source (a generator, a pull request, a
download) in $LOOM_HOME/quarantine/ until a person reviews them. Nothing in
the quarantine is served. Every step is recorded in the audit log.

Commands:
  add PATH [--name NAME] [--force] [--submitted-by P]
                        copy PATH in as NAME (default: its file name without
                        .yaml); --force replaces a pending entry of that name.
                        Records who submitted it: P (kind:name), else the
                        config's provenance generator ("generator:NAME"),
                        else you ("cli:USER"); a submitter cannot approve it
  list                  the pending entries: name, digest, size, source, time
  show NAME [--agents DIR]
                        the entry's content, whether it loads, and a unified
                        diff against DIR/NAME.yaml, the current agent of that
                        name (DIR defaults to ./${DEFAULT_AGENTS_DIR})
  promote NAME [--sign] [--hmac] [--to DIR] [--force]
                        check the entry with the config loader, then write it
                        to DIR/NAME.yaml (default ./${DEFAULT_AGENTS_DIR}) atomically; --sign
                        also writes DIR/NAME.yaml.sig ("loom sign"). Refuses
                        a symlinked target or directory, and an existing file
                        unless --force
  reject NAME --reason R
                        set the entry aside (quarantine/rejected/) with why
  approve PATH          approve the exact bytes of PATH, a config with
                        "provenance: ai-generated": until then its tools are
                        not listed and their calls are refused. The approver
                        (you, "cli:USER") must not be one of its submitters;
                        a changed byte needs a new approval. A running agent
                        picks it up at its next start

NAME is 1-64 letters, digits, '-' or '_', starting with a letter or digit:
never a path.

Options:
      --name NAME    (add) the entry's name
      --agents DIR   (show) where the current agents live
      --to DIR       (promote) where to write the config
      --sign         (promote) sign it with this home's key
      --hmac         (promote --sign) use the HMAC-SHA256 key
      --force        (add, promote) replace an existing entry or file
      --reason R     (reject) why, recorded in the audit log
      --submitted-by P
                     (add) who submitted it, such as "generator:ollama/llama3.1"
  -h, --help         show this help

Examples:
  loom quarantine add drafts/weather.yaml
  loom quarantine list
  loom quarantine show weather --agents agents
  loom quarantine promote weather --sign --to agents
  loom quarantine reject weather --reason "calls an unknown host"
  loom quarantine approve agents/weather.yaml
`;

const SUBCOMMANDS = ["add", "list", "show", "promote", "reject", "approve"];

/** Which options each command takes. */
const ALLOWED: Record<string, string[]> = {
  add: ["name", "force", "submitted-by"],
  list: [],
  show: ["agents"],
  promote: ["sign", "hmac", "to", "force"],
  reject: ["reason"],
  approve: [],
};

/** `loom quarantine`. */
export async function quarantineCommand(args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === "-h" || sub === "--help" || sub === "help") {
    io.out(QUARANTINE_HELP);
    return sub === undefined ? 64 : 0;
  }
  if (!SUBCOMMANDS.includes(sub)) {
    const hint = suggest(sub, SUBCOMMANDS);
    throw new UsageError(
      `Unknown quarantine command "${escapeForTerminal(sub.slice(0, 32))}"` +
        (hint ? `: did you mean "${hint}"?` : `: expected ${SUBCOMMANDS.join(", ")}`),
    );
  }
  const { values, positionals } = parseOptions({
    args: rest,
    allowPositionals: true,
    options: {
      name: { type: "string" },
      agents: { type: "string" },
      to: { type: "string" },
      sign: { type: "boolean" },
      hmac: { type: "boolean" },
      force: { type: "boolean" },
      reason: { type: "string" },
      "submitted-by": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return (io.out(QUARANTINE_HELP), 0);
  for (const [option, value] of Object.entries(values)) {
    if (value !== undefined && !ALLOWED[sub].includes(option)) {
      throw new UsageError(`Option --${option} does not apply to "quarantine ${sub}"`);
    }
  }
  if (values.hmac && !values.sign) throw new UsageError("--hmac needs --sign");
  const home = await ensureHome(resolveHome(io.env));
  const quarantine = await Quarantine.open(home);
  await using audit = await AuditLog.open(home.audit);

  switch (sub) {
    case "add": {
      expectArgs(positionals, 1, "loom quarantine add PATH [--name NAME]");
      const claimed = checkSubmitter(values["submitted-by"]);
      const entry = await quarantine.add(positionals[0], {
        name: values.name,
        force: values.force,
      });
      const { bytes } = await quarantine.get(entry.name);
      const config = parseQuarantined(decodeQuarantined(bytes, entry.file), entry.file);
      const generator = config.ok ? config.config.provenance.generator : null;
      const submittedBy = claimed ??
        (generator !== null ? generatorPrincipal(generator) : cliPrincipal({ env: io.env }));
      await quarantine.setSubmitter(entry.name, submittedBy);
      await recordSubmission(home, entry.digest, submittedBy);
      await audit.append({
        event: "quarantine",
        agent: config.ok ? config.config.name : entry.name,
        tool: null,
        action: "add",
        name: entry.name,
        config_digest: `sha256:${entry.digest}`,
        source: positionals[0],
        submitted_by: submittedBy,
      });
      io.out(
        `Quarantined "${positionals[0]}" as ${entry.name} (sha256 ${entry.digest.slice(0, 12)})\n`,
      );
      if (!config.ok) {
        io.err(`warning: it does not load yet; "loom quarantine show ${entry.name}"\n`);
      }
      return 0;
    }
    case "list": {
      expectArgs(positionals, 0, "loom quarantine list");
      const entries = await quarantine.list();
      if (entries.length === 0) {
        io.err(`The quarantine is empty (add a config with "loom quarantine add PATH")\n`);
        return 0;
      }
      io.out(table([
        ["NAME", "DIGEST", "BYTES", "ADDED-AT", "SOURCE"],
        ...entries.map((e) => [e.name, e.digest.slice(0, 12), String(e.size), e.addedAt, e.source]),
      ]));
      return 0;
    }
    case "show": {
      expectArgs(positionals, 1, "loom quarantine show NAME [--agents DIR]");
      const { entry, bytes } = await quarantine.get(checkQuarantineName(positionals[0]));
      const text = decodeQuarantined(bytes, entry.file);
      const config = parseQuarantined(text, entry.file);
      io.out(
        `name:    ${entry.name}\nsource:  ${escapeForTerminal(entry.source)}\n` +
          `submitted by: ${escapeForTerminal(entry.submittedBy ?? "(not recorded)")}\n` +
          (config.ok ? `provenance: ${config.config.provenance.source}\n` : "") +
          `added:   ${entry.addedAt}\nsha256:  ${entry.digest}\n` +
          `loads:   ${config.ok ? `yes (agent "${config.config.name}")` : "no"}\n`,
      );
      if (!config.ok) {
        for (const line of config.problems) io.out(`  ${escapeForTerminal(line)}\n`);
      }
      const current = join(values.agents ?? DEFAULT_AGENTS_DIR, `${entry.name}.yaml`);
      const before = await readTextOrNull(current);
      if (before === null) {
        io.out(`current: none at ${escapeForTerminal(current)} (a new agent)\n\n`);
        io.out(escapeLinesForTerminal(text));
        return 0;
      }
      const diff = unifiedDiff(before, text, {
        before: current,
        after: `quarantine/${entry.name}`,
      });
      io.out(`current: ${escapeForTerminal(current)}\n\n`);
      io.out(
        diff === null
          ? "(too large to compare)\n"
          : diff === ""
          ? "(identical to the current agent)\n"
          : escapeLinesForTerminal(diff),
      );
      return 0;
    }
    case "promote": {
      expectArgs(positionals, 1, "loom quarantine promote NAME [--sign] [--to DIR]");
      const promoted = await promoteQuarantined({
        home,
        quarantine,
        audit,
        name: positionals[0],
        dir: values.to ?? DEFAULT_AGENTS_DIR,
        sign: values.sign ? (values.hmac ? "hmac-sha256" : "ed25519") : undefined,
        force: values.force,
      });
      const { key, target } = promoted;
      io.out(
        `Promoted ${promoted.name} to ${escapeForTerminal(target)}` +
          (key ? `, signed with ${key.algorithm} key ${key.keyId}` : "") + "\n",
      );
      if (promoted.staleSignature) {
        io.err(
          `warning: "${escapeForTerminal(signaturePath(target))}" is for an earlier version: ` +
            `"loom run" refuses the new config until it is signed again\n`,
        );
      }
      return 0;
    }
    case "approve":
      expectArgs(positionals, 1, "loom quarantine approve PATH");
      return await approveConfig(positionals[0], home, audit, io);
    default: { // reject
      expectArgs(positionals, 1, `loom quarantine reject NAME --reason R`);
      const reason = checkReason(values.reason);
      const name = checkQuarantineName(positionals[0]);
      await rejectQuarantined({ quarantine, audit, name, reason });
      io.out(`Rejected ${name}: ${escapeForTerminal(reason)}\n`);
      return 0;
    }
  }
}

async function readTextOrNull(path: string): Promise<string | null> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

function checkReason(reason: string | undefined): string {
  const problem = rejectReasonProblem(reason);
  if (problem === "missing") {
    throw new UsageError(`Missing --reason R: a rejection records why`);
  }
  if (problem === "invalid") {
    throw new UsageError(`Invalid --reason: at most 500 characters, no control characters`);
  }
  return reason as string;
}

function expectArgs(positionals: string[], count: number, usage: string): void {
  if (positionals.length !== count) {
    throw new UsageError(
      `Expected ${count === 0 ? "no arguments" : `${count} argument`}: ${usage}`,
    );
  }
}
