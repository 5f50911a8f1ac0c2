/**
 * The quarantine: `$LOOM_HOME/quarantine/`, where a config from an untrusted
 * source (a generator, a pull request, a download) waits until a person
 * promotes or rejects it. `loom quarantine` (`src/cli/quarantine.ts`) drives
 * it and audits every transition; this module keeps the files.
 *
 * Layout: `NAME.yaml` (the bytes as added) and `NAME.json` (source, time,
 * SHA-256, who submitted it) for each pending entry; a rejected entry moves to
 * `rejected/NAME-<time>.yaml` with its `.json` holding the reason. Every file
 * is 0600 in 0700 directories and read through `private_file.ts`, so a file
 * swapped for a symlink or opened to others is refused.
 *
 * Defends against names that escape the directory: a name is one fixed
 * pattern ({@linkcode QUARANTINE_NAME}: a letter or digit, then letters,
 * digits, `-` or `_`, at most 64), so `/`, `..`, NUL and control characters
 * never reach a path. {@linkcode installFile} writes a promoted config
 * atomically (temp file, then rename or link) and refuses a symlink target,
 * a symlinked directory and, unless forced, an existing file.
 *
 * @module
 */

import { basename, join } from "node:path";
import { LoomError, NotFoundError, PolicyError } from "../errors.ts";
import type { LoomHome } from "./home.ts";
import {
  ensurePrivateDir,
  readPrivateFile,
  writeFileAtomic,
  writeFileExclusive,
} from "./private_file.ts";

/** The pattern every quarantine name matches. */
export const QUARANTINE_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

/** The largest config the quarantine takes (as the config loader). */
export const MAX_QUARANTINE_BYTES = 1024 * 1024;

/** One pending entry. */
export interface QuarantineEntry {
  name: string;
  /** The entry's config file inside the quarantine. */
  file: string;
  /** Where it was added from, as given. */
  source: string;
  /** When it was added, ISO-8601 UTC. */
  addedAt: string;
  /** Hex SHA-256 of its bytes. */
  digest: string;
  size: number;
  /**
   * Who submitted it (`generator:<name>`, `cli:<user>`, ...): that principal
   * may not approve an ai-generated config (`config_approvals.ts`); null
   * for an entry added before this was recorded.
   */
  submittedBy: string | null;
}

/** A rejected entry's record. */
export interface RejectedEntry extends QuarantineEntry {
  reason: string;
  rejectedAt: string;
}

/**
 * Refuse a name that is not one of {@linkcode QUARANTINE_NAME}. The name is
 * not quoted when it holds control characters.
 *
 * @throws {LoomError} `USAGE`
 */
export function checkQuarantineName(name: string): string {
  if (typeof name === "string" && QUARANTINE_NAME.test(name)) return name;
  // deno-lint-ignore no-control-regex
  const shown = typeof name === "string" && !/[\u0000-\u001f\u007f]/.test(name) &&
      name.length <= 64
    ? ` "${name}"`
    : "";
  throw new LoomError(
    "USAGE",
    `Invalid quarantine name${shown}: use 1-64 letters, digits, '-' or '_', starting with a ` +
      `letter or digit (no '/', '.', or control characters)`,
  );
}

/** The quarantine name a config file gets by default: its file name without `.yaml`/`.yml`. */
export function quarantineNameOf(path: string): string {
  return basename(path).replace(/\.ya?ml$/, "");
}

/** The quarantine directory of a LOOM home. */
export class Quarantine {
  /** The directory. */
  readonly dir: string;

  private constructor(dir: string) {
    this.dir = dir;
  }

  /**
   * Open (and create, 0700) the quarantine of a home.
   *
   * @throws {PolicyError} when the directory is not private
   */
  static async open(home: LoomHome): Promise<Quarantine> {
    await ensurePrivateDir(home.quarantine, "quarantine directory");
    return new Quarantine(home.quarantine);
  }

  /**
   * Copy a config file in. The source must be a regular file (not a
   * symlink) of at most {@linkcode MAX_QUARANTINE_BYTES}.
   *
   * @param source the file to quarantine
   * @param options `name` (default: the file name without `.yaml`), `force`
   *   to replace a pending entry of that name, `submittedBy` the principal
   *   that submitted it, `label` what to record as its source (default: the
   *   path; `loom import openapi` names the document it read)
   * @returns the entry
   * @throws {LoomError} `USAGE` for a bad name or an existing entry without `force`
   * @throws {NotFoundError} when the source does not exist
   * @throws {PolicyError} when the source is a symlink or not a regular file
   */
  async add(
    source: string,
    options: { name?: string; force?: boolean; submittedBy?: string; label?: string } = {},
  ): Promise<QuarantineEntry> {
    const name = checkQuarantineName(options.name ?? quarantineNameOf(source));
    const bytes = await readSource(source);
    const label = options.label ?? source;
    const file = join(this.dir, `${name}.yaml`);
    if (options.force) {
      await writeFileAtomic(file, bytes);
    } else if (!(await writeFileExclusive(file, bytes))) {
      throw new LoomError(
        "USAGE",
        `Quarantine entry "${name}" exists; promote or reject it, or add with --force`,
      );
    }
    const entry: QuarantineEntry = {
      name,
      file,
      source: label,
      addedAt: new Date().toISOString(),
      digest: await sha256Hex(bytes),
      size: bytes.length,
      submittedBy: options.submittedBy ?? null,
    };
    await writeJson(join(this.dir, `${name}.json`), {
      source: label,
      added_at: entry.addedAt,
      digest: entry.digest,
      ...(entry.submittedBy === null ? {} : { submitted_by: entry.submittedBy }),
    });
    return entry;
  }

  /**
   * Record who submitted a pending entry (known only once its bytes were
   * read and parsed, after {@linkcode Quarantine.add}).
   *
   * @throws {NotFoundError} when there is no entry of that name
   */
  async setSubmitter(name: string, submittedBy: string): Promise<void> {
    const { entry } = await this.get(name);
    await writeJson(join(this.dir, `${name}.json`), {
      source: entry.source,
      added_at: entry.addedAt,
      digest: entry.digest,
      submitted_by: submittedBy,
    });
  }

  /** The pending entries, by name. */
  async list(): Promise<QuarantineEntry[]> {
    const names: string[] = [];
    for await (const e of Deno.readDir(this.dir)) {
      const name = e.name.endsWith(".yaml") ? e.name.slice(0, -5) : "";
      if (e.isFile && QUARANTINE_NAME.test(name)) names.push(name);
    }
    const entries: QuarantineEntry[] = [];
    for (const name of names.sort()) {
      const found = await this.#entry(name);
      if (found !== null) entries.push(found.entry);
    }
    return entries;
  }

  /**
   * One pending entry and its bytes.
   *
   * @throws {NotFoundError} when there is none of that name
   * @throws {PolicyError} when its file is not private or is a symlink
   */
  async get(name: string): Promise<{ entry: QuarantineEntry; bytes: Uint8Array }> {
    checkQuarantineName(name);
    const found = await this.#entry(name);
    if (found === null) {
      throw new NotFoundError(`No quarantine entry "${name}" (see "loom quarantine list")`);
    }
    return found;
  }

  /** Remove a pending entry (after it was promoted). */
  async remove(name: string): Promise<void> {
    checkQuarantineName(name);
    await Deno.remove(join(this.dir, `${name}.yaml`));
    await Deno.remove(join(this.dir, `${name}.json`)).catch(() => {});
  }

  /**
   * Set a pending entry aside with a reason: it moves to `rejected/`.
   *
   * @returns the rejected entry's record
   * @throws {NotFoundError} when there is no entry of that name
   */
  async reject(name: string, reason: string): Promise<RejectedEntry> {
    const { entry } = await this.get(name);
    const rejectedDir = join(this.dir, "rejected");
    await ensurePrivateDir(rejectedDir, "quarantine directory");
    const rejectedAt = new Date().toISOString();
    const stem = `${name}-${rejectedAt.replace(/[:.]/g, "")}`;
    await writeJson(join(rejectedDir, `${stem}.json`), {
      name,
      source: entry.source,
      added_at: entry.addedAt,
      digest: entry.digest,
      ...(entry.submittedBy === null ? {} : { submitted_by: entry.submittedBy }),
      rejected_at: rejectedAt,
      reason,
    });
    await Deno.rename(entry.file, join(rejectedDir, `${stem}.yaml`));
    await Deno.remove(join(this.dir, `${name}.json`)).catch(() => {});
    return { ...entry, reason, rejectedAt };
  }

  async #entry(name: string): Promise<{ entry: QuarantineEntry; bytes: Uint8Array } | null> {
    const file = join(this.dir, `${name}.yaml`);
    const bytes = await readPrivateFile(file, "quarantined config", {
      maxBytes: MAX_QUARANTINE_BYTES,
    });
    if (bytes === null) return null;
    const metaBytes = await readPrivateFile(join(this.dir, `${name}.json`), "quarantine record", {
      maxBytes: 64 * 1024,
    });
    let meta: Record<string, unknown> = {};
    try {
      if (metaBytes !== null) meta = JSON.parse(new TextDecoder().decode(metaBytes));
    } catch {
      meta = {};
    }
    const digest = await sha256Hex(bytes);
    return {
      entry: {
        name,
        file,
        source: typeof meta.source === "string" ? meta.source : "(unknown)",
        addedAt: typeof meta.added_at === "string" ? meta.added_at : "(unknown)",
        digest,
        size: bytes.length,
        submittedBy: typeof meta.submitted_by === "string" ? meta.submitted_by : null,
      },
      bytes,
    };
  }
}

/**
 * Check that `dir/fileName` may be written by {@linkcode installFile}: the
 * directory exists and is not a symlink, the target is not a symlink or
 * anything but a regular file, and (unless `force`) does not exist.
 *
 * @returns the target path
 * @throws {PolicyError} when the directory or the target is a symlink
 * @throws {LoomError} `USAGE` when the target exists and `force` is not set
 * @throws {NotFoundError} when the directory does not exist
 */
export async function checkInstallTarget(
  dir: string,
  fileName: string,
  options: { force?: boolean } = {},
): Promise<string> {
  if (fileName.includes("/") || fileName.includes("\\") || fileName.startsWith(".")) {
    throw new TypeError("installFile() takes a plain file name");
  }
  const dirInfo = await lstatOrNull(dir);
  if (dirInfo === null) throw new NotFoundError(`Directory "${dir}" does not exist`);
  if (dirInfo.isSymlink || !dirInfo.isDirectory) {
    throw new PolicyError(`Refusing to write into "${dir}": it is not a directory (or a symlink)`);
  }
  const target = join(dir, fileName);
  const existing = await lstatOrNull(target);
  if (existing?.isSymlink) throw new PolicyError(`Refusing to replace symlink "${target}"`);
  if (existing !== null && !existing.isFile) {
    throw new PolicyError(`Refusing to replace "${target}": it is not a regular file`);
  }
  if (existing !== null && !options.force) {
    throw new LoomError("USAGE", `"${target}" exists; pass --force to replace it`);
  }
  return target;
}

/**
 * Write a file into a directory atomically: a temp file beside the target,
 * then a rename (`force`) or a hard link that fails when the target exists,
 * after {@linkcode checkInstallTarget}.
 *
 * @param dir the directory (must exist and not be a symlink)
 * @param fileName the file's name inside it (no separators)
 * @param bytes the content
 * @param options `force`: replace an existing regular file
 * @returns the path written
 * @throws see {@linkcode checkInstallTarget}
 */
export async function installFile(
  dir: string,
  fileName: string,
  bytes: Uint8Array,
  options: { force?: boolean } = {},
): Promise<string> {
  const target = await checkInstallTarget(dir, fileName, options);
  if (options.force) {
    await writeFileAtomic(target, bytes);
  } else if (!(await writeFileExclusive(target, bytes))) {
    throw new LoomError("USAGE", `"${target}" exists; pass --force to replace it`);
  }
  return target;
}

async function readSource(source: string): Promise<Uint8Array> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(source);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new NotFoundError(`Cannot quarantine "${source}": no such file`);
    }
    throw error;
  }
  if (info.isSymlink || !info.isFile) {
    throw new PolicyError(`Cannot quarantine "${source}": not a regular file (or a symlink)`);
  }
  if (info.size > MAX_QUARANTINE_BYTES) {
    throw new LoomError("INPUT_INVALID", `Cannot quarantine "${source}": larger than 1 MiB`);
  }
  const bytes = await Deno.readFile(source);
  if (bytes.length > MAX_QUARANTINE_BYTES) {
    throw new LoomError("INPUT_INVALID", `Cannot quarantine "${source}": larger than 1 MiB`);
  }
  return bytes;
}

async function lstatOrNull(path: string): Promise<Deno.FileInfo | null> {
  try {
    return await Deno.lstat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

async function writeJson(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, new TextEncoder().encode(JSON.stringify(value, null, 2) + "\n"));
}

/** Hex SHA-256 of bytes. */
async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new Uint8Array(bytes)));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}
