import assert from "node:assert/strict";
import { UsageError } from "../errors.ts";
import { splitCommandLine } from "./_probe_target.ts";

Deno.test("splitCommandLine() refuses what only a shell would interpret, unbalanced quotes and empty lines", () => {
  for (
    const line of [
      "server | tee log",
      "server > out",
      "server; rm -rf x",
      "server && other",
      "echo $HOME",
      "echo `id`",
      "ls *.ts",
      "cat ~/x",
      "a\\ b",
      "run 'unclosed",
      "",
      "   ",
      "'' arg",
    ]
  ) {
    assert.throws(() => splitCommandLine(line), UsageError, line);
  }
});

Deno.test("splitCommandLine() splits on spaces and tabs; quotes group words literally", () => {
  assert.deepEqual(splitCommandLine("deno run -A server.ts"), ["deno", "run", "-A", "server.ts"]);
  assert.deepEqual(splitCommandLine(`  node\t"my server.js"  --name='a b' `), [
    "node",
    "my server.js",
    "--name=a b",
  ]);
  assert.deepEqual(splitCommandLine(`tool "$HOME|x" 'a"b'`), ["tool", "$HOME|x", 'a"b']);
  assert.deepEqual(splitCommandLine("run a~b"), ["run", "a~b"]);
});
