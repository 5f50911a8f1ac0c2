import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { NotFoundError, UsageError } from "../errors.ts";
import {
  claudeConfigCommand,
  LOOM_PERMISSION_FLAGS,
  loomCommandLine,
  meshServerEntry,
} from "./claude_config.ts";
import { memoryIo } from "./_testing.ts";

const DENO_JSON = fileURLToPath(new URL("../../deno.json", import.meta.url));

Deno.test("claudeConfigCommand() refuses a bad --name, two DIRs and a missing DIR", async () => {
  const io = memoryIo();
  await assert.rejects(claudeConfigCommand([".", "--name", "a b"], io), UsageError);
  await assert.rejects(claudeConfigCommand([".", "--name", "x".repeat(65)], io), UsageError);
  await assert.rejects(claudeConfigCommand(["a", "b"], io), UsageError);
  await assert.rejects(claudeConfigCommand(["/nonexistent-loom-mesh-dir"], io), NotFoundError);
  assert.equal(io.stdoutText(), "");
});

Deno.test("LOOM_PERMISSION_FLAGS are exactly the permissions of deno task install", async () => {
  const tasks = JSON.parse(await Deno.readTextFile(DENO_JSON)).tasks;
  const install: string = tasks.install.command ?? tasks.install;
  const allows = install.split(/\s+/).filter((word) => word.startsWith("--allow-"));
  assert.deepEqual(allows, [...LOOM_PERMISSION_FLAGS]);
});

Deno.test("loomCommandLine() runs a checkout with its deno.json, a bundle alone, a binary as itself", () => {
  const base = { execPath: "/opt/deno", exists: (p: string) => p === "/src/loom/deno.json" };
  assert.deepEqual(
    loomCommandLine({ ...base, mainModule: "file:///src/loom/main.ts", standalone: false }),
    {
      command: "/opt/deno",
      args: [
        "run",
        ...LOOM_PERMISSION_FLAGS,
        "--config",
        "/src/loom/deno.json",
        "/src/loom/main.ts",
      ],
    },
  );
  assert.deepEqual(
    loomCommandLine({ ...base, mainModule: "file:///dist/loom.js", standalone: false }),
    { command: "/opt/deno", args: ["run", ...LOOM_PERMISSION_FLAGS, "/dist/loom.js"] },
  );
  assert.deepEqual(
    loomCommandLine({ ...base, execPath: "/bin/loom", mainModule: "file:///x", standalone: true }),
    { command: "/bin/loom", args: [] },
  );
  const entry = meshServerEntry("/agents", "/home/u/.loom", {
    ...base,
    mainModule: "file:///dist/loom.js",
    standalone: false,
  });
  assert.deepEqual(entry.args.slice(-2), ["mesh", "/agents"]);
  assert.deepEqual(entry.env, { LOOM_HOME: "/home/u/.loom" });
});
