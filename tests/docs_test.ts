/**
 * The documents that say what LOOM guarantees stay true to the code.
 *
 * `docs/security-requirements.md` names, for each requirement marked
 * `tested`, the tests that prove it. A renamed or deleted test would leave the
 * document claiming a proof that no longer runs, so the table is parsed and
 * every name is looked up in its file. The configs in `examples/` are what a
 * new user copies first; each is run through the real `loom validate`. A
 * source file over 400 lines is listed in `docs/architecture.md` with the
 * reason it is one file.
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { runLoom, tempDir } from "./_helpers.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const REQUIREMENTS = "docs/security-requirements.md";

/** One row of the requirements table. */
interface Requirement {
  id: string;
  status: string;
  tests: { file: string; name: string }[];
  line: number;
}

/** A requirement id: an upper-case area, a dash, a number (`NET-3`). */
const ID = /^[A-Z]+-[1-9][0-9]*$/;

/**
 * The rows of every table in `text` whose first cell is a requirement id.
 * Cells are `| id | requirement | status | file: name<br>file: name |`.
 */
function parseRequirements(text: string): Requirement[] {
  const rows: Requirement[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (!line.startsWith("|")) continue;
    const cells = line.slice(1, line.endsWith("|") ? -1 : undefined).split("|").map((c) =>
      c.trim()
    );
    if (!ID.test(cells[0])) continue;
    assert.equal(
      cells.length,
      4,
      `${REQUIREMENTS}:${i + 1}: expected 4 cells, got ${cells.length}`,
    );
    const tests = cells[3] === "" ? [] : cells[3].split("<br>").map((entry) => {
      const at = entry.indexOf(": ");
      assert.ok(at > 0, `${REQUIREMENTS}:${i + 1}: "${entry}" is not "file: test name"`);
      return { file: entry.slice(0, at).trim(), name: entry.slice(at + 2).trim() };
    });
    rows.push({ id: cells[0], status: cells[2], tests, line: i + 1 });
  }
  return rows;
}

/**
 * The names of the tests a file declares with a string literal:
 * `Deno.test("name", ...)`, `Deno.test({ name: "name", ... })` and
 * `t.step("name", ...)`. Names built with `${...}` are never matched exactly.
 */
function testNames(source: string): Set<string> {
  const names = new Set<string>();
  const call = /(?:Deno\.test|\.step)\(\s*(?:\{\s*name:\s*)?(["'`])((?:\\.|(?!\1)[^\\])*)\1/g;
  for (const m of source.matchAll(call)) {
    names.add(m[2].replace(/\\(.)/g, "$1"));
  }
  return names;
}

Deno.test("testNames() reads plain, object-form and step names, escapes included", () => {
  const source = [
    'Deno.test("a() refuses x", () => {});',
    "Deno.test(\n  'b() keeps \\'y\\'',\n  () => {},\n);",
    'Deno.test({ name: "c() ends", fn() {} });',
    'await t.step("d is 400", () => {});',
    "Deno.test(`e for ${mode}`, () => {});",
  ].join("\n");
  assert.deepEqual(
    [...testNames(source)],
    ["a() refuses x", "b() keeps 'y'", "c() ends", "d is 400", "e for ${mode}"],
  );
});

Deno.test("parseRequirements() refuses a test entry without a file", () => {
  assert.throws(
    () => parseRequirements("| NET-1 | x | tested | a name with no file |"),
    /is not "file: test name"/,
  );
});

Deno.test("docs/security-requirements.md: ids are unique, tested rows name tests, every named test exists", async () => {
  const rows = parseRequirements(await Deno.readTextFile(`${ROOT}${REQUIREMENTS}`));
  assert.ok(rows.length > 50, `only ${rows.length} requirements parsed`);
  const problems: string[] = [];
  const seen = new Map<string, number>();
  const sources = new Map<string, Set<string> | null>();
  for (const row of rows) {
    const where = `${REQUIREMENTS}:${row.line} ${row.id}`;
    const first = seen.get(row.id);
    if (first !== undefined) problems.push(`${where}: id repeats the one on line ${first}`);
    else seen.set(row.id, row.line);
    if (row.status !== "tested" && row.status !== "planned") {
      problems.push(`${where}: status "${row.status}" is neither tested nor planned`);
    }
    if (row.status === "tested" && row.tests.length === 0) {
      problems.push(`${where}: tested but names no test`);
    }
    if (row.status === "planned" && row.tests.length > 0) {
      problems.push(`${where}: planned but names tests`);
    }
    for (const { file, name } of row.tests) {
      if (!sources.has(file)) {
        try {
          sources.set(file, testNames(await Deno.readTextFile(`${ROOT}${file}`)));
        } catch (e) {
          if (!(e instanceof Deno.errors.NotFound)) throw e;
          sources.set(file, null);
        }
      }
      const names = sources.get(file);
      if (names === null) problems.push(`${where}: file "${file}" does not exist`);
      else if (!names?.has(name)) problems.push(`${where}: "${file}" has no test "${name}"`);
    }
  }
  assert.deepEqual(problems, []);
});

Deno.test("examples/*.yaml: loom validate accepts every example config with exit status 0", async () => {
  await using home = await tempDir();
  const files: string[] = [];
  for await (const entry of Deno.readDir(`${ROOT}examples`)) {
    if (entry.isFile && entry.name.endsWith(".yaml")) files.push(entry.name);
  }
  files.sort();
  assert.ok(files.length >= 3, `only ${files.length} example configs`);
  for (const file of files) {
    const result = await runLoom(["validate", `${ROOT}examples/${file}`], { home: home.path });
    assert.equal(result.code, 0, `examples/${file}: exit ${result.code}\n${result.stderr}`);
  }
});

/** Lines above which a source file needs a stated reason. */
const LONG_FILE_LINES = 400;
const ARCHITECTURE = "docs/architecture.md";

/** The `| file | reason |` rows of the section on long files. */
function parseLongFiles(text: string): Map<string, string> {
  const start = text.indexOf("\n## Files over 400 lines");
  assert.ok(start >= 0, `${ARCHITECTURE} has no "Files over 400 lines" section`);
  const end = text.indexOf("\n## ", start + 1);
  const rows = new Map<string, string>();
  for (const line of text.slice(start, end < 0 ? undefined : end).split("\n")) {
    const m = /^\| `(src\/[^`]+\.ts)` \| (.+) \|$/.exec(line.trim());
    if (m) rows.set(m[1], m[2].trim());
  }
  return rows;
}

async function sourceFiles(dir: string, out: string[] = []): Promise<string[]> {
  for await (const entry of Deno.readDir(`${ROOT}${dir}`)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory && entry.name !== "testdata") await sourceFiles(path, out);
    else if (entry.isFile && path.endsWith(".ts") && !path.endsWith("_test.ts")) out.push(path);
  }
  return out;
}

Deno.test("docs/architecture.md: every source file over 400 lines is listed with its reason, and only those", async () => {
  const listed = parseLongFiles(await Deno.readTextFile(`${ROOT}${ARCHITECTURE}`));
  const problems: string[] = [];
  const long = new Set<string>();
  for (const file of await sourceFiles("src")) {
    const text = await Deno.readTextFile(`${ROOT}${file}`);
    const lines = text.endsWith("\n") ? text.split("\n").length - 1 : text.split("\n").length;
    if (lines > LONG_FILE_LINES) {
      long.add(file);
      if (!listed.has(file)) problems.push(`${file}: ${lines} lines, not listed with a reason`);
    }
  }
  for (const [file, reason] of listed) {
    if (!long.has(file)) problems.push(`${file}: listed, but not over ${LONG_FILE_LINES} lines`);
    if (reason.length < 20) problems.push(`${file}: the reason "${reason}" says too little`);
  }
  assert.deepEqual(problems, []);
});
