/**
 * An OpenAPI document and the files its `$ref`s name, read once, and the
 * resolution of a `$ref` to its target: local JSON pointers (`#/components/...`,
 * `#/definitions/...`) and relative files (`other.yaml#/Pet`). Resolution is
 * synchronous once every file is loaded, bounded in files, and reports cycles
 * to the caller instead of following them.
 *
 * A document given as an `http(s)` URL is fetched with `fetch.ts` (the
 * destination check of bridges, redirects re-checked), and its relative
 * `$ref`s are URLs resolved against it: only on the same origin, so a
 * document cannot make LOOM fetch from another server nor read a local file.
 * The files fetched are bounded by {@linkcode MAX_REF_FILES} and their bytes,
 * together, by {@linkcode MAX_SPEC_BYTES}.
 *
 * @module
 */

import { dirname, isAbsolute, join, normalize } from "node:path";
import { parseYamlData } from "../config/mod.ts";
import { LoomError, NotFoundError, UsageError } from "../errors.ts";
import { fetchDocument, parseFetchUrl, shownUrl } from "./fetch.ts";
import { HttpClient } from "../net/mod.ts";

/** Largest OpenAPI file read, in bytes (64 MiB). */
export const MAX_SPEC_BYTES = 64 * 1024 * 1024;
/** Most files one document may pull in through relative `$ref`s. */
export const MAX_REF_FILES = 64;

/** A document and every file it refers to, by normalized path or URL. */
export interface SpecFiles {
  /** The main file's path, or its URL (after redirects, without the fragment). */
  main: string;
  /** Each file's parsed value. */
  files: Map<string, unknown>;
}

/** A resolved `$ref`: its value, the file it is in, and a key naming it. */
export interface Resolved {
  value: unknown;
  file: string;
  key: string;
}

/** Is `text` a URL rather than a file path? */
export function isUrl(text: string): boolean {
  return /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(text);
}

/** Options of {@linkcode readSpecFiles} for a URL. */
export interface ReadSpecOptions {
  /** Private or special networks (CIDR) a URL's host may resolve to. */
  allowNetworks?: readonly string[];
  /** Cancellation of the fetches. */
  signal?: AbortSignal;
  /** Told each URL before it is fetched (origin and path), for progress. */
  onFetch?: (shown: string) => void;
}

/**
 * Read an OpenAPI document (JSON or YAML) and every file its relative
 * `$ref`s name; an `http(s)` URL is fetched, with its `$ref`s on the same origin.
 *
 * @param path a file path or an `http(s)` URL
 * @param options for a URL: networks allowed, cancellation, progress
 * @throws {UsageError} for a URL that is not http(s) or carries credentials
 * @throws {NotFoundError} when a file does not exist
 * @throws {LoomError} `INPUT_INVALID` when a file is too large or not parseable,
 *   or a URL document refers to another origin or to a file
 * @throws {PolicyError} when the destination check refuses a URL's host
 * @throws {UpstreamError} when nothing answers a URL, or not with a 2xx
 */
export async function readSpecFiles(
  path: string,
  options: ReadSpecOptions = {},
): Promise<SpecFiles> {
  if (isUrl(path)) return await readSpecUrl(path, options);
  const main = normalize(path);
  const files = new Map<string, unknown>();
  const pending = [main];
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (files.has(file)) continue;
    if (files.size >= MAX_REF_FILES) {
      throw new LoomError("INPUT_INVALID", `Document refers to more than ${MAX_REF_FILES} files`);
    }
    const value = await readOne(file);
    files.set(file, value);
    for (const ref of refsIn(value)) {
      const target = refFile(ref, file);
      if (target !== file && !files.has(target)) pending.push(target);
    }
  }
  return { main, files };
}

/** A URL document and its same-origin `$ref` files, through one client. */
async function readSpecUrl(text: string, options: ReadSpecOptions): Promise<SpecFiles> {
  let url: URL;
  try {
    url = parseFetchUrl(text);
  } catch (error) {
    throw new UsageError(`Cannot import "${text.slice(0, 200)}": ${(error as Error).message}`);
  }
  const client = new HttpClient({ maxIdlePerOrigin: 1 });
  const files = new Map<string, unknown>();
  let budget = MAX_SPEC_BYTES;
  const fetchOne = async (target: URL, origin: string | null) => {
    options.onFetch?.(shownUrl(target));
    const fetched = await fetchDocument(target, {
      allowNetworks: options.allowNetworks,
      signal: options.signal,
      maxBytes: budget,
      client,
    });
    if (origin !== null && fetched.url.origin !== origin) {
      throw new LoomError(
        "INPUT_INVALID",
        `${shownUrl(target)} redirected to another origin (${fetched.url.origin}): ` +
          `only files on ${origin} are read`,
      );
    }
    budget -= new TextEncoder().encode(fetched.text).length;
    return { url: fetched.url, value: parseSpecText(fetched.text, shownUrl(fetched.url)) };
  };
  try {
    const first = await fetchOne(url, null);
    const main = first.url.href;
    files.set(main, first.value);
    const pending = refTargets(first.value, main, files);
    while (pending.length > 0) {
      const target = pending.pop()!;
      if (files.has(target)) continue;
      if (files.size >= MAX_REF_FILES) {
        throw new LoomError("INPUT_INVALID", `Document refers to more than ${MAX_REF_FILES} files`);
      }
      const { value } = await fetchOne(new URL(target), first.url.origin);
      files.set(target, value);
      pending.push(...refTargets(value, target, files));
    }
    return { main, files };
  } finally {
    client.close();
  }
}

/** The files or URLs the `$ref`s of a value point into, not yet read. */
function refTargets(value: unknown, from: string, files: Map<string, unknown>): string[] {
  return refsIn(value).map((ref) => refFile(ref, from))
    .filter((target) => target !== from && !files.has(target));
}

async function readOne(file: string): Promise<unknown> {
  let bytes: Uint8Array;
  try {
    const info = await Deno.stat(file);
    if (!info.isFile) throw new LoomError("INPUT_INVALID", `"${file}" is not a regular file`);
    if (info.size > MAX_SPEC_BYTES) {
      throw new LoomError("INPUT_INVALID", `"${file}" is larger than ${MAX_SPEC_BYTES} bytes`);
    }
    bytes = await Deno.readFile(file);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new NotFoundError(`Cannot read OpenAPI document "${file}": no such file`);
    }
    throw error;
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new LoomError("INPUT_INVALID", `"${file}" is not valid UTF-8`);
  }
  return parseSpecText(text, file);
}

/** A document's text as JSON (when it starts with `{` or `[`) or YAML. */
function parseSpecText(text: string, file: string): unknown {
  if (/^\s*[{[]/.test(text)) {
    try {
      return JSON.parse(text);
    } catch (error) {
      throw new LoomError(
        "INPUT_INVALID",
        `"${file}" is not valid JSON: ${(error as Error).message}`,
      );
    }
  }
  return parseYamlData(text, file);
}

/** Every `$ref` string in a value (iterative, so deep documents do not overflow). */
function refsIn(value: unknown): string[] {
  const found: string[] = [];
  const stack = [value];
  while (stack.length > 0) {
    const node = stack.pop();
    if (Array.isArray(node)) {
      stack.push(...node);
    } else if (node !== null && typeof node === "object") {
      for (const [key, item] of Object.entries(node)) {
        if (key === "$ref" && typeof item === "string") found.push(item);
        else stack.push(item);
      }
    }
  }
  return found;
}

/**
 * The file a `$ref` points into, relative to the file it was written in; for
 * a URL document, the URL it points into, on the same origin only.
 */
function refFile(ref: string, from: string): string {
  const hash = ref.indexOf("#");
  const part = hash === -1 ? ref : ref.slice(0, hash);
  if (part === "") return from;
  if (isUrl(from)) return refUrl(ref, part, new URL(from));
  if (isUrl(part)) {
    throw new UsageError(`Reference "${ref.slice(0, 200)}" names a URL: not supported yet`);
  }
  return normalize(isAbsolute(part) ? part : join(dirname(from), part));
}

function refUrl(ref: string, part: string, from: URL): string {
  const shown = `Reference "${ref.slice(0, 200)}" in ${shownUrl(from)}`;
  if (/^[A-Za-z]:[\\/]|^\\/.test(part)) {
    throw new LoomError(
      "INPUT_INVALID",
      `${shown} names a file: only URLs on ${from.origin} are read`,
    );
  }
  let target: URL;
  try {
    target = new URL(part, from);
  } catch {
    throw new LoomError("INPUT_INVALID", `${shown} is not a valid URL`);
  }
  if (target.origin !== from.origin) {
    const what = target.protocol === "file:" ? "a file" : `another origin (${target.origin})`;
    throw new LoomError(
      "INPUT_INVALID",
      `${shown} names ${what}: only URLs on ${from.origin} are read`,
    );
  }
  target.hash = "";
  return target.href;
}

/**
 * Resolve one `$ref` written in `from`.
 *
 * @throws {LoomError} `INPUT_INVALID` when its target does not exist
 */
export function resolveRef(spec: SpecFiles, ref: string, from: string): Resolved {
  const file = refFile(ref, from);
  const hash = ref.indexOf("#");
  const pointer = hash === -1 ? "" : decodeURIComponent(ref.slice(hash + 1));
  let value = spec.files.get(file);
  const segments = pointer === "" ? [] : pointer.replace(/^\//, "").split("/");
  for (const raw of segments) {
    const key = raw.replaceAll("~1", "/").replaceAll("~0", "~");
    if (value === null || typeof value !== "object" || !Object.hasOwn(value, key)) {
      throw new LoomError("INPUT_INVALID", `Reference "${ref.slice(0, 200)}" points at nothing`);
    }
    value = (value as Record<string, unknown>)[key];
  }
  return { value, file, key: `${file}#${pointer}` };
}

/**
 * Follow `$ref`s of a node until a plain node (at most 32 hops).
 *
 * @returns the node, the file it is in, and the keys of the refs followed
 */
export function follow(
  spec: SpecFiles,
  node: unknown,
  file: string,
): { value: unknown; file: string; keys: string[] } {
  const keys: string[] = [];
  let current = node;
  let at = file;
  for (let hops = 0; hops < 32; hops++) {
    const ref = refOf(current);
    if (ref === undefined) return { value: current, file: at, keys };
    const resolved = resolveRef(spec, ref, at);
    if (keys.includes(resolved.key)) break;
    keys.push(resolved.key);
    current = resolved.value;
    at = resolved.file;
  }
  throw new LoomError("INPUT_INVALID", "A chain of references loops or is too long");
}

/** The `$ref` of a node, if it is a reference object. */
export function refOf(node: unknown): string | undefined {
  if (node === null || typeof node !== "object" || Array.isArray(node)) return undefined;
  const ref = (node as Record<string, unknown>).$ref;
  return typeof ref === "string" ? ref : undefined;
}
