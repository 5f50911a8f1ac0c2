/**
 * `loom pin list | show | diff | approve`: the reviewer's side of
 * tool-definition pinning (`docs/security-controls.md`, tool-definition
 * pinning). A server pins each tool's definition the first time it sees it
 * (`src/store/tool_pins.ts`); a later definition with another digest is kept
 * as pending and the tool is not served until a person approves it here.
 * Approving is recorded in the audit log (event `tool_pin`, action
 * `approved`, actor `cli:<user>`, the OS user running the command,
 * `_os_user.ts`) before the pin changes.
 *
 * Descriptions and schemas come from servers and may be written to mislead:
 * every value printed is escaped for the terminal, and definitions are
 * printed as JSON whose strings escape what a terminal would act on.
 *
 * @module
 */

import { parseOptions } from "./_args.ts";
import { unifiedDiff } from "./_diff.ts";
import { NotFoundError, UsageError } from "../errors.ts";
import { AuditLog } from "../security/audit/mod.ts";
import {
  approveToolPin,
  canonicalText,
  changedFields,
  definitionText,
} from "../security/pinning/mod.ts";
import {
  DEFINITION_DIGEST,
  ensureHome,
  type LoomStore,
  openStore,
  type PinRow,
  resolveHome,
} from "../store/mod.ts";
import { escapeForTerminal } from "../_util/terminal.ts";
import { type CliIo, table } from "./_io.ts";
import { cliPrincipal } from "./_os_user.ts";

/** Help text of `loom pin`. */
export const PIN_HELP = `Usage: loom pin <command> [options]

Review tool definitions that changed after they were pinned. The first time
a server sees a tool, it pins the tool's definition: name, title,
description, input and output schemas, annotations and upstream (method and
URL template). When a later definition has another digest, the tool is not
served (it is left out of the tool list and a call of it is refused) until a
person approves the new definition here; clients are told the tool list
changed once it is approved.

Commands:
  list [--agent A] [--json]
                      every pinned tool: pinned digest, when, and whether a
                      changed definition waits (with the changed fields)
  show AGENT TOOL [--json]
                      one tool: its pinned and pending definitions
  diff AGENT TOOL     the pinned definition against the pending one, line by
                      line (canonical JSON, keys sorted)
  approve AGENT TOOL [--digest D]
                      make the pending definition the pin; the tool is served
                      again

Approving is recorded in the audit log (event tool_pin, action approved) with
the actor cli:<user> (the OS user running this command), before the pin
changes. Pass --digest with the pending digest that "loom pin diff" showed, so
that a definition that changed again since you looked is refused.

Options:
  -a, --agent A       (list) only this agent's tools
      --json          (list, show) JSON instead of text
  -d, --digest D      (approve) the reviewed pending digest, sha256:<64 hex>
  -h, --help          show this help

Exit status: 0 done, 64 usage, 66 no such agent or tool, or nothing pending
to approve, 77 the pending definition is not the one given by --digest.

Examples:
  loom pin list
  loom pin diff shop get_item
  loom pin approve shop get_item --digest sha256:3f9c...
  loom pin show shop get_item --json
`;

const SUBCOMMANDS = ["list", "show", "diff", "approve"];
/** Names printed as a ready-to-run command line (config names are of this form). */
const PLAIN_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/** `loom pin`. */
export async function pinCommand(args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === "-h" || sub === "--help" || sub === "help") {
    io.out(PIN_HELP);
    return sub === undefined ? 64 : 0;
  }
  if (!SUBCOMMANDS.includes(sub)) {
    throw new UsageError(
      `Unknown pin command "${sub.slice(0, 32)}": expected ${SUBCOMMANDS.join(", ")}`,
    );
  }
  const { values, positionals } = parseOptions({
    args: rest,
    allowPositionals: true,
    options: {
      agent: { type: "string", short: "a" },
      json: { type: "boolean" },
      digest: { type: "string", short: "d" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return (io.out(PIN_HELP), 0);
  only(sub, "agent", values.agent, ["list"]);
  only(sub, "json", values.json, ["list", "show"]);
  only(sub, "digest", values.digest, ["approve"]);

  if (sub === "list") {
    expectArgs(positionals, 0, "loom pin list [--agent A] [--json]");
    return await withStore(io, (store) => {
      const rows = store.toolPins.list({ agent: values.agent });
      if (values.json) io.out(canonicalText(rows.map(summary)));
      else if (rows.length === 0) io.err("No pinned tools\n");
      else {
        io.out(table([
          ["AGENT", "TOOL", "PINNED", "PINNED-AT", "STATUS"],
          ...rows.map((r) => [r.agent, r.tool, short(r.pinnedDigest), iso(r.pinnedAt), status(r)]),
        ]));
      }
      return 0;
    });
  }

  expectArgs(positionals, 2, `loom pin ${sub} AGENT TOOL`);
  const [agent, tool] = positionals;
  if (values.digest !== undefined && !DEFINITION_DIGEST.test(values.digest)) {
    throw new UsageError("Invalid --digest: a definition digest is sha256:<64 lower-case hex>");
  }
  if (sub === "approve") {
    const home = await ensureHome(resolveHome(io.env));
    await using audit = await AuditLog.open(home.audit);
    await using store = await openStore(home);
    find(store, agent, tool);
    const done = await approveToolPin(store, audit, {
      agent,
      tool,
      actor: cliPrincipal({ env: io.env }),
      expect: values.digest,
    });
    io.out(
      `Approved tool "${escapeForTerminal(tool)}" of agent "${escapeForTerminal(agent)}"\n` +
        `  pinned now  ${done.to} (changed: ${done.changed.join(", ")})\n` +
        `  was         ${done.from}\n` +
        "A server that left the tool out serves it again once it sees the approval\n",
    );
    return 0;
  }
  return await withStore(io, (store) => {
    const row = find(store, agent, tool);
    if (sub === "show") {
      io.out(values.json ? canonicalText(detail(row)) : describe(row));
      return 0;
    }
    if (row.pending === null) {
      io.out(`No change pending: the definition matches its pin (${row.pinnedDigest})\n`);
      return 0;
    }
    const diff = unifiedDiff(definitionText(row.pinned), definitionText(row.pending.definition), {
      before: `pinned ${row.pinnedDigest}`,
      after: `pending ${row.pending.digest}`,
    });
    // Both texts are terminal-safe JSON (definitionText), and so is the diff.
    io.out(diff === null ? "(too large to compare)\n" : diff);
    io.out(`\nchanged: ${changedFields(row.pinned, row.pending.definition).join(", ")}\n`);
    io.out(`approve: ${approveLine(row)}\n`);
    return 0;
  });
}

async function withStore(io: CliIo, fn: (store: LoomStore) => number): Promise<number> {
  const home = await ensureHome(resolveHome(io.env));
  await using store = await openStore(home);
  return fn(store);
}

/** The tool's row, or a NotFoundError that says whether the agent is known at all. */
function find(store: LoomStore, agent: string, tool: string): PinRow {
  const row = store.toolPins.get(agent, tool);
  if (row !== undefined) return row;
  if (store.toolPins.list({ agent }).length === 0) {
    throw new NotFoundError(`No tool of agent "${agent}" is pinned (see "loom pin list")`);
  }
  throw new NotFoundError(`Agent "${agent}" has no pinned tool "${tool}" (see "loom pin list")`);
}

function status(row: PinRow): string {
  return row.pending === null
    ? "ok"
    : `changed: ${changedFields(row.pinned, row.pending.definition).join(", ")}`;
}

function summary(row: PinRow): Record<string, unknown> {
  return {
    agent: row.agent,
    tool: row.tool,
    status: row.pending === null ? "ok" : "changed",
    changed: row.pending === null ? [] : changedFields(row.pinned, row.pending.definition),
    pinned_digest: row.pinnedDigest,
    pinned_at: iso(row.pinnedAt),
    pinned_by: row.pinnedBy,
    pending_digest: row.pending?.digest ?? null,
    pending_since: row.pending === null ? null : iso(row.pending.since),
  };
}

function detail(row: PinRow): Record<string, unknown> {
  return { ...summary(row), pinned: row.pinned, pending: row.pending?.definition ?? null };
}

function describe(row: PinRow): string {
  const lines: [string, string][] = [
    ["agent", row.agent],
    ["tool", row.tool],
    ["status", status(row)],
    ["pinned digest", row.pinnedDigest],
    ["pinned at", iso(row.pinnedAt)],
    ["pinned by", row.pinnedBy],
  ];
  if (row.pending !== null) {
    lines.push(["pending digest", row.pending.digest], ["pending since", iso(row.pending.since)]);
  }
  let out = lines.map(([k, v]) => `${k.padEnd(15)} ${escapeForTerminal(v)}`).join("\n") + "\n";
  out += `\npinned definition:\n${definitionText(row.pinned)}`;
  if (row.pending !== null) {
    out += `\npending definition:\n${definitionText(row.pending.definition)}`;
    out += `\napprove: ${approveLine(row)}\n`;
  }
  return out;
}

/** The command that approves exactly this pending definition. */
function approveLine(row: PinRow): string {
  const names = PLAIN_NAME.test(row.agent) && PLAIN_NAME.test(row.tool)
    ? `${row.agent} ${row.tool}`
    : "AGENT TOOL";
  return `loom pin approve ${names} --digest ${row.pending?.digest}`;
}

function short(digest: string): string {
  return digest.slice(0, "sha256:".length + 12);
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function only(sub: string, option: string, value: unknown, subs: readonly string[]): void {
  if (value !== undefined && !subs.includes(sub)) {
    throw new UsageError(
      `Option --${option} applies only to ${subs.map((s) => `"pin ${s}"`).join(" and ")}`,
    );
  }
}

function expectArgs(positionals: string[], count: number, usage: string): void {
  if (positionals.length !== count) {
    throw new UsageError(
      `Expected ${count === 0 ? "no arguments" : `${count} arguments`}: ${usage}`,
    );
  }
}
