import assert from "node:assert/strict";
import { join } from "node:path";
import { PolicyError } from "../errors.ts";
import { ensurePrivateDir, readPrivateFile, statPrivateFile } from "./private_file.ts";
import { writeFileAtomic, writeFileExclusive } from "./private_file.ts";
import { tempDir } from "../../tests/_helpers.ts";

// --- Negative tests first ---------------------------------------------------

Deno.test("statPrivateFile() refuses files accessible by group or others, naming the file", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "f");
  await Deno.writeFile(path, new Uint8Array([1]), { mode: 0o600 });
  for (const mode of [0o644, 0o640, 0o604, 0o620, 0o602, 0o660]) {
    await Deno.chmod(path, mode);
    await assert.rejects(statPrivateFile(path, "test file"), (error: unknown) => {
      assert.ok(error instanceof PolicyError);
      assert.ok(error.message.includes(`test file "${path}"`), error.message);
      assert.ok(error.message.includes(`mode 0${mode.toString(8)}`), error.message);
      return true;
    });
  }
});

Deno.test("statPrivateFile() refuses a symlink and a directory", async () => {
  await using dir = await tempDir();
  const target = join(dir.path, "target");
  await Deno.writeFile(target, new Uint8Array([1]), { mode: 0o600 });
  await Deno.symlink(target, join(dir.path, "link"));
  await assert.rejects(statPrivateFile(join(dir.path, "link"), "f"), /not a regular file/);
  await Deno.mkdir(join(dir.path, "d"), { mode: 0o700 });
  await assert.rejects(statPrivateFile(join(dir.path, "d"), "f"), /not a regular file/);
});

Deno.test({
  name: "statPrivateFile() refuses a file owned by another uid",
  ignore: Deno.build.os === "windows" || Deno.uid() !== 0,
  fn: async () => {
    await using dir = await tempDir();
    const path = join(dir.path, "f");
    await Deno.writeFile(path, new Uint8Array([1]), { mode: 0o600 });
    await Deno.chown(path, 65534, 65534);
    await assert.rejects(statPrivateFile(path, "test file"), /owned by uid 65534/);
    await assert.rejects(readPrivateFile(path, "test file", { maxBytes: 10 }), PolicyError);
  },
});

Deno.test("ensurePrivateDir() refuses an existing directory open to others", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "keys");
  await Deno.mkdir(path);
  await Deno.chmod(path, 0o755);
  await assert.rejects(ensurePrivateDir(path, "key directory"), /mode 0755/);
});

Deno.test("readPrivateFile() refuses a file larger than maxBytes", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "f");
  await Deno.writeFile(path, new Uint8Array(11), { mode: 0o600 });
  await assert.rejects(readPrivateFile(path, "f", { maxBytes: 10 }), RangeError);
});

Deno.test("writeFileExclusive() never overwrites an existing file", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "f");
  assert.equal(await writeFileExclusive(path, new Uint8Array([1])), true);
  assert.equal(await writeFileExclusive(path, new Uint8Array([2])), false);
  assert.deepEqual(await Deno.readFile(path), new Uint8Array([1]));
  assert.deepEqual([...Deno.readDirSync(dir.path)].map((e) => e.name), ["f"]);
});

// --- Positive behaviour -----------------------------------------------------

Deno.test("writeFileAtomic() replaces content with a 0600 file and leaves no temp files", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "f");
  await writeFileAtomic(path, new TextEncoder().encode("one"));
  await writeFileAtomic(path, new TextEncoder().encode("two"));
  assert.equal(await Deno.readTextFile(path), "two");
  assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
  assert.deepEqual([...Deno.readDirSync(dir.path)].map((e) => e.name), ["f"]);
});

Deno.test("readPrivateFile() returns the bytes of a private file and null for a missing one", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "f");
  assert.equal(await readPrivateFile(path, "f", { maxBytes: 10 }), null);
  await writeFileExclusive(path, new Uint8Array([7, 8]));
  assert.deepEqual(await readPrivateFile(path, "f", { maxBytes: 10 }), new Uint8Array([7, 8]));
});
