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
    for (const [, command, sub] of text.matchAll(NAMED)) {
      named++;
      const usage = await help(command);
      if (usage === null) {
        missing.push(`${source}: loom ${command}`);
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

Deno.test("starterConfig() promises no approvals command", () => {
  const text = starterConfig("demo");
  assert.doesNotMatch(text, /loom approvals|loom sign\b/);
  assert.match(text, /approvals are not\s+#?\s*available in this version yet/);
});
