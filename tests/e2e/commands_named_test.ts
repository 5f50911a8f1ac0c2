/**
 * The starter config, the README and the docs name only commands the CLI has:
 * a user told to run `loom approvals approve ID` by LOOM's own text, when no
 * such command exists, learns to distrust the rest of it.
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { starterConfig } from "../../src/config/mod.ts";
import { main } from "../../src/cli/mod.ts";
import { memoryIo } from "../../src/cli/_testing.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
/** `loom WORD` or `loom WORD SUB` inside backticks; options and placeholders are skipped. */
const NAMED = /`loom ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?/g;
/** A command line in a fenced code block: `loom WORD [SUB]`, maybe after `$ ` or `deno task`. */
const FENCED_LINE =
  /^\s*(?:\$ )?(?:deno task )?loom ([a-z][a-z-]*)(?: ([a-z][a-z-]*)(?![\w/.-]))?/gm;
/**
 * Commands a doc may name before they exist, each only on a line that says
 * "planned". Keep it short; empty means every named command runs.
 */
const PLANNED: readonly string[] = [];

/** Every `loom WORD [SUB]` a text names: in backticks, or as a line of a fenced code block. */
function namedCommands(text: string): { command: string; sub?: string; line: string }[] {
  const lineOf = (index: number) =>
    text.slice(text.lastIndexOf("\n", index) + 1, text.indexOf("\n", index) >>> 0);
  const out = [...text.matchAll(NAMED)].map((m) => ({
    command: m[1],
    sub: m[2],
    line: lineOf(m.index),
  }));
  for (const block of text.matchAll(/^```[^\n]*\n([\s\S]*?)^```/gm)) {
    for (const m of block[1].matchAll(FENCED_LINE)) {
      out.push({ command: m[1], sub: m[2], line: lineOf(block.index + block[0].indexOf(m[0])) });
    }
  }
  return out;
}

async function help(command: string): Promise<string | null> {
  const io = memoryIo();
  const code = await main([command, "--help"], io);
  return code === 0 ? io.stdoutText() : null;
}

/** The subcommands a help text lists under "Commands:" (none for a plain command). */
function subcommands(usage: string): string[] {
  const section = /\nCommands:\n([\s\S]*?)(?:\n\n|$)/.exec(usage)?.[1] ?? "";
  return [...section.matchAll(/^ {2}([a-z][a-z-]*)/gm)].map((m) => m[1]);
}

async function texts(): Promise<[string, string][]> {
  const out: [string, string][] = [["starterConfig()", starterConfig("demo")]];
  out.push(["README.md", await Deno.readTextFile(`${ROOT}README.md`)]);
  for await (const entry of Deno.readDir(`${ROOT}docs`)) {
    if (entry.isFile && entry.name.endsWith(".md")) {
      out.push([`docs/${entry.name}`, await Deno.readTextFile(`${ROOT}docs/${entry.name}`)]);
    }
  }
  return out;
}

Deno.test("starterConfig(), README.md and docs/ name only loom commands that exist", async () => {
  const missing: string[] = [];
  let named = 0;
  for (const [source, text] of await texts()) {
    for (const { command, sub, line } of namedCommands(text)) {
      named++;
      const usage = await help(command);
      if (usage === null) {
        const planned = PLANNED.includes(command) && /\bplanned\b/i.test(line);
        if (!planned) missing.push(`${source}: loom ${command}`);
        continue;
      }
      const subs = subcommands(usage);
      if (sub !== undefined && subs.length > 0 && !subs.includes(sub)) {
        missing.push(`${source}: loom ${command} ${sub}`);
      }
    }
  }
  assert.ok(named > 10, `only ${named} commands named: is the pattern still right?`);
  assert.deepEqual(missing, []);
});

Deno.test("starterConfig() names the approvals command, which exists", async () => {
  const text = starterConfig("demo");
  assert.match(text, /loom approvals\s+#?\s*approve ID/);
  const usage = await help("approvals");
  assert.ok(usage !== null && subcommands(usage).includes("approve"));
});

Deno.test("namedCommands() finds commands in backticks and in fenced code blocks, not in prose", () => {
  const text = "Run `loom audit verify`; loom repairs a torn tail.\n\n```sh\n" +
    "loom sign config agents/x.yaml\n$ loom quarantine list\n# loom not-a-command\n```\n";
  assert.deepEqual(
    namedCommands(text).map((c) => [c.command, c.sub ?? ""]),
    [["audit", "verify"], ["sign", "config"], ["quarantine", "list"]],
  );
});

Deno.test("starterConfig() names the signing commands, which exist", async () => {
  const text = starterConfig("demo");
  assert.match(text, /loom sign config demo\.yaml/);
  assert.match(text, /loom secrets grant demo KEY --config demo\.yaml/);
  const usage = await help("sign");
  assert.ok(usage !== null && subcommands(usage).includes("config"));
  assert.ok(subcommands(usage).includes("keygen"));
});
