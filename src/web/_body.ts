/**
 * Reading a request body within a size cap and a deadline: bytes are counted
 * as they stream in and the read stops past the cap, so a client cannot make
 * the server buffer more than it accepts, or hold a request open forever.
 *
 * @module
 */

import { Deadlines } from "../_util/deadlines.ts";

const DECODER = new TextDecoder();
/** Body deadlines of every request, on shared timers (a slot late at most). */
const BODY_DEADLINES = new Deadlines();
const NO_DEADLINE = (): void => {};

/** What reading a body gave. */
export type BodyResult =
  | { kind: "ok"; text: string }
  | { kind: "too_large" }
  | { kind: "timeout" };

/**
 * Read a request body, counting bytes as they stream in (never buffering past the cap).
 *
 * @param req the request
 * @param max the largest accepted body in bytes
 * @param timeoutMs the deadline for the whole body
 * @returns the text, or why there is none
 */
export async function readBody(req: Request, max: number, timeoutMs: number): Promise<BodyResult> {
  const declared = Number(req.headers.get("content-length") ?? NaN);
  if (Number.isFinite(declared) && declared > max) return { kind: "too_large" };
  if (!req.body) return { kind: "ok", text: "" };
  let cancel = NO_DEADLINE;
  const timeout = new Promise<"timeout">((resolve) => {
    cancel = BODY_DEADLINES.after(timeoutMs, () => resolve("timeout"));
  });
  try {
    return Number.isFinite(declared)
      ? await readDeclared(req, max, timeout)
      : await readStreamed(req.body, max, timeout);
  } finally {
    cancel();
  }
}

/**
 * A body with a `content-length` within the cap: the HTTP framing holds it to
 * that length, so it is read in one go.
 */
async function readDeclared(
  req: Request,
  max: number,
  timeout: Promise<"timeout">,
): Promise<BodyResult> {
  const got = await Promise.race([req.bytes(), timeout]);
  if (got === "timeout") return { kind: "timeout" };
  if (got.byteLength > max) return { kind: "too_large" };
  return { kind: "ok", text: DECODER.decode(got) };
}

/** A chunked body: counted as it arrives, cancelled past the cap. */
async function readStreamed(
  body: ReadableStream<Uint8Array>,
  max: number,
  timeout: Promise<"timeout">,
): Promise<BodyResult> {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  while (true) {
    const next = await Promise.race([reader.read(), timeout]);
    if (next === "timeout") {
      reader.cancel().catch(() => {});
      return { kind: "timeout" };
    }
    if (next.done) break;
    total += next.value.length;
    if (total > max) {
      reader.cancel().catch(() => {});
      return { kind: "too_large" };
    }
    chunks.push(next.value);
  }
  const all = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    all.set(c, offset);
    offset += c.length;
  }
  return { kind: "ok", text: DECODER.decode(all) };
}
