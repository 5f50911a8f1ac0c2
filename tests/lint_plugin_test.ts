/**
 * The layout lint plugin (scripts/lint_plugin.ts) run by the real
 * `deno lint` on a throwaway tree.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { tempDir } from "./_helpers.ts";

const PLUGIN = fileURLToPath(new URL("../scripts/lint_plugin.ts", import.meta.url));

async function lint(files: Record<string, string>): Promise<string> {
  await using dir = await tempDir("loom-lint-");
  await Deno.writeTextFile(
    join(dir.path, "deno.json"),
    JSON.stringify({ lint: { plugins: [PLUGIN], rules: { tags: [] } } }),
  );
  for (const [path, text] of Object.entries(files)) {
    await Deno.mkdir(join(dir.path, path, ".."), { recursive: true });
    await Deno.writeTextFile(join(dir.path, path), text);
  }
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["lint", "--config", join(dir.path, "deno.json"), join(dir.path, "src")],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
}

Deno.test("lint plugin refuses an import against the layer order", async () => {
  const out = await lint({
    "src/config/bad.ts": 'import { x } from "../web/mod.ts";\nexport const y = x;\n',
    "src/web/mod.ts": "export const x = 1;\n",
  });
  assert.match(out, /src\/config may not import src\/web/);
});

Deno.test("lint plugin refuses reaching past a folder's mod.ts and into private files", async () => {
  const out = await lint({
    "src/runtime/a.ts":
      'import { x } from "../config/schema.ts";\nimport { y } from "../config/_yaml.ts";\nexport const z = [x, y];\n',
    "src/config/schema.ts": "export const x = 1;\n",
    "src/config/_yaml.ts": "export const y = 1;\n",
  });
  assert.match(out, /Import src\/config\/ through its mod\.ts, not "schema\.ts"/);
  assert.match(out, /is private to src\/config\//);
});

Deno.test("lint plugin keeps each third-party package in its owner folder", async () => {
  const out = await lint({
    "src/runtime/a.ts": 'import { Hono } from "hono";\nexport const h = Hono;\n',
  });
  assert.match(out, /"hono" may only be imported in src\/web\//);
});

Deno.test("lint plugin keeps jose (OAuth token checks) in src/web/", async () => {
  const out = await lint({
    "src/runtime/a.ts": 'import { jwtVerify } from "jose";\nexport const v = jwtVerify;\n',
    "src/web/b.ts": 'import { jwtVerify } from "npm:jose@6.2.19";\nexport const v = jwtVerify;\n',
  });
  assert.match(out, /"jose" may only be imported in src\/web\//);
  assert.doesNotMatch(out, /src\/web\/b\.ts/);
});

Deno.test("lint plugin keeps @cfworker/json-schema (input schema validator) in src/config/", async () => {
  const out = await lint({
    "src/security/a.ts":
      'import { Validator } from "@cfworker/json-schema";\nexport const v = Validator;\n',
    "src/config/b.ts":
      'import { Validator } from "npm:@cfworker/json-schema@4.1.6";\nexport const v = Validator;\n',
  });
  assert.match(out, /"@cfworker\/json-schema" may only be imported in src\/config\//);
  assert.doesNotMatch(out, /src\/config\/b\.ts/);
});

Deno.test("lint plugin accepts imports that follow the rules", async () => {
  const out = await lint({
    "src/web/a.ts":
      'import { x } from "../config/mod.ts";\nimport { c } from "../_util/c.ts";\nexport const z = [x, c];\n',
    "src/config/mod.ts": "export const x = 1;\n",
    "src/_util/c.ts": "export const c = 1;\n",
  });
  assert.doesNotMatch(out, /loom\//);
});

Deno.test("lint plugin refuses a dynamic import() against the layer order", async () => {
  const out = await lint({
    "src/config/bad.ts": 'export const w = await import("../web/mod.ts");\n',
    "src/web/mod.ts": "export const x = 1;\n",
  });
  assert.match(out, /loom\/layering/);
  assert.match(out, /src\/config may not import src\/web/);
});

Deno.test("lint plugin refuses a dynamic import() of a private file or past a mod.ts", async () => {
  const out = await lint({
    "src/runtime/a.ts": "export const a = await import(`../config/_yaml.ts`);\n" +
      'export const b = await import("../config/schema.ts");\n',
    "src/config/schema.ts": "export const x = 1;\n",
    "src/config/_yaml.ts": "export const y = 1;\n",
  });
  assert.match(out, /loom\/private-file/);
  assert.match(out, /"\.\.\/config\/_yaml\.ts" is private to src\/config\//);
  assert.match(out, /loom\/mod-entry/);
  assert.match(out, /Import src\/config\/ through its mod\.ts, not "schema\.ts"/);
});

Deno.test("lint plugin refuses a dynamic import() of a package outside its owner", async () => {
  const out = await lint({
    "src/runtime/a.ts": 'export const h = await import("hono");\n',
  });
  assert.match(out, /loom\/package-owner/);
  assert.match(out, /"hono" may only be imported in src\/web\//);
});

Deno.test("lint plugin refuses an npm: specifier outside the package's owner", async () => {
  const out = await lint({
    "src/runtime/a.ts": 'import { Hono } from "npm:hono@4.13.19";\nexport const h = Hono;\n',
  });
  assert.match(out, /"npm:hono@4\.13\.19" may only be imported in src\/web\//);
});

Deno.test("lint plugin refuses export ... from against the rules", async () => {
  const out = await lint({
    "src/config/a.ts": 'export { x } from "../web/mod.ts";\nexport * from "../store/_db.ts";\n',
    "src/web/mod.ts": "export const x = 1;\n",
    "src/store/_db.ts": "export const d = 1;\n",
  });
  assert.match(out, /src\/config may not import src\/web/);
  assert.match(out, /src\/config may not import src\/store/);
  assert.match(out, /"\.\.\/store\/_db\.ts" is private to src\/store\//);
});

Deno.test("lint plugin keeps src/generator to config and below", async () => {
  const out = await lint({
    "src/generator/a.ts": 'import { s } from "../store/mod.ts";\nexport const g = s;\n',
    "src/store/mod.ts": "export const s = 1;\n",
  });
  assert.match(out, /src\/generator may import only config and below, not src\/store/);
});

Deno.test("lint plugin leaves a dynamic import() with a computed specifier alone", async () => {
  const out = await lint({
    "src/config/a.ts": 'const m = "../web/mod.ts";\nexport const w = await import(m);\n',
    "src/web/mod.ts": "export const x = 1;\n",
  });
  assert.doesNotMatch(out, /loom\//);
});

Deno.test("lint plugin lets tests reach private files and packages, not across layers", async () => {
  const out = await lint({
    "src/runtime/a_test.ts":
      'import { y } from "../config/_yaml.ts";\nimport { Hono } from "hono";\n' +
      'import { x } from "../web/mod.ts";\nexport const z = [x, y, Hono];\n',
    "src/config/_yaml.ts": "export const y = 1;\n",
    "src/web/mod.ts": "export const x = 1;\n",
  });
  assert.doesNotMatch(out, /private-file|package-owner|mod-entry/);
  assert.match(out, /src\/runtime may not import src\/web/);
});
