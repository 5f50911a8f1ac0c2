/**
 * The mesh file of profiles: a valid file, then every refusal at its
 * file:line:column (unknown keys with a hint, bad names and patterns, a
 * profile that exposes nothing, a file that is not a mapping), and a
 * missing file.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ConfigError, NotFoundError } from "../errors.ts";
import { loadMeshFile, parseMeshFile } from "./mesh_file.ts";

function problems(text: string): string[] {
  try {
    parseMeshFile(text, "loom-mesh.yaml");
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.issues.map((i) => `${i.line}:${i.column}: ${i.message}`);
  }
  assert.fail("expected a ConfigError");
}

Deno.test("parseMeshFile() reads profiles of patterns and discovery", () => {
  const file = parseMeshFile(
    `profiles:
  ops:
    description: Monitoring, read only
    tools: ["prometheus__*", "grafana__search_*"]
  everything:
    discovery: true
  some-found:
    tools: [github__*]
    discovery: true
`,
    "loom-mesh.yaml",
  );
  assert.deepEqual([...file.profiles.keys()], ["ops", "everything", "some-found"]);
  assert.deepEqual(file.profiles.get("ops"), {
    name: "ops",
    description: "Monitoring, read only",
    tools: ["prometheus__*", "grafana__search_*"],
    discovery: false,
  });
  assert.deepEqual(file.profiles.get("everything")!.tools, []);
  assert.equal(file.profiles.get("some-found")!.discovery, true);
});

Deno.test("parseMeshFile() refuses unknown keys at their line:column with a hint", () => {
  assert.deepEqual(problems("profiles:\n  ops:\n    tool: [a]\n"), [
    "2:3: A profile needs tools (a list of patterns), discovery: true, or both",
    '3:5: Unknown key "tool"; did you mean "tools"?',
  ]);
  assert.deepEqual(problems("profile:\n  ops: {}\n"), [
    '1:1: Unknown key "profile"; did you mean "profiles"?',
    '1:1: Missing required key "profiles"',
  ]);
});

Deno.test("parseMeshFile() refuses bad names, patterns and values where they are", () => {
  const found = problems(`profiles:
  Ops:
    tools: ["ok_*"]
  bad:
    tools: ["a/b", 3]
    discovery: "yes"
  empty:
    tools: []
`);
  assert.deepEqual(found, [
    '2:3: Invalid profile name "Ops": use [a-z0-9_-], 1-64',
    '5:13: Invalid tool pattern "a/b": use lower-case letters, digits, "_", "-" and the wildcards "*" and "?" (at most 140 characters)',
    "5:20: Expected a tool pattern (a string)",
    "6:16: Expected true or false",
    "8:12: Expected a list of 1 to 200 tool patterns",
  ]);
  assert.match(problems("- a\n- b\n")[0], /must be a mapping with the top-level key "profiles"/);
  assert.match(problems("profiles: [a]\n")[0], /Expected a mapping of profile names/);
});

Deno.test("loadMeshFile() says which file is missing", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await assert.rejects(
      () => loadMeshFile(join(dir, "loom-mesh.yaml")),
      (e: unknown) =>
        e instanceof NotFoundError && /loom-mesh\.yaml" does not exist/.test(e.message),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
