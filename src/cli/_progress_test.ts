/**
 * Tests of `_progress.ts`: the bar's text, and that the line is drawn and
 * cleared on a terminal only.
 *
 * @module
 */

import assert from "node:assert/strict";
import { BAR_WIDTH, progressBar, progressLine } from "./_progress.ts";
import { memoryIo } from "./_testing.ts";

Deno.test("progressBar: filled cells in proportion, counts and unit", () => {
  assert.equal(progressBar(612, 1223, "operations", 10), "[#####.....] 612/1223 operations");
  assert.equal(progressBar(0, 4, "operations", 4), "[....] 0/4 operations");
  assert.equal(progressBar(4, 4, "operations", 4), "[####] 4/4 operations");
  assert.equal(progressBar(9, 4, "files", 4), "[####] 4/4 files");
  assert.equal(progressBar(0, 0, "files", 4), "[####] 0/0 files");
  assert.equal(progressBar(1, 3, "x").length, BAR_WIDTH + 2 + " 1/3 x".length);
});

Deno.test("progressLine: draws in place and clears on a terminal, nothing otherwise", () => {
  const terminal = { ...memoryIo(), isTerminal: true };
  let drawn = "";
  terminal.err = (text) => void (drawn += text);
  const line = progressLine(terminal);
  line.show("Fetching http://127.0.0.1:1/a.json...");
  line.show("[#...] 1/4 operations");
  line.clear();
  line.clear();
  const long = "Fetching http://127.0.0.1:1/a.json...";
  assert.equal(
    drawn,
    `\r${long}\r[#...] 1/4 operations${" ".repeat(long.length - 21)}\r${" ".repeat(long.length)}\r`,
  );
  const pipe = memoryIo();
  const quiet = progressLine(pipe);
  quiet.show("[#...] 1/4 operations");
  quiet.clear();
  assert.equal(pipe.stderrText(), "");
});

Deno.test("progressLine: text from a document cannot drive the terminal", () => {
  const terminal = { ...memoryIo(), isTerminal: true };
  let drawn = "";
  terminal.err = (text) => void (drawn += text);
  progressLine(terminal).show("Fetching \x1b]0;title\x07...");
  assert.ok(!drawn.includes("\x1b"), JSON.stringify(drawn));
});
