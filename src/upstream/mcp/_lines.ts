/**
 * Lines of a byte stream, each held to a cap while it is read: a line that
 * grows past the cap stops the reading at once, so a server that never
 * sends a newline costs at most the cap in memory.
 *
 * @module
 */

/** A line grew past the cap. */
export class LineTooLongError extends Error {
  /** @param max the cap, bytes */
  constructor(max: number) {
    super(`Line exceeds ${max} bytes`);
    this.name = "LineTooLongError";
  }
}

const DECODER = new TextDecoder("utf-8", { fatal: false });
const LF = 10;
const CR = 13;

/**
 * Read lines (LF or CRLF ended) from a stream; the last line, when not
 * ended, is yielded at the end. Empty lines are skipped.
 *
 * @param stream the bytes
 * @param max cap on one line, bytes (without its end)
 * @throws {LineTooLongError} when a line passes the cap (the stream is cancelled)
 */
export async function* readLines(
  stream: ReadableStream<Uint8Array>,
  max: number,
): AsyncGenerator<string> {
  const reader = stream.getReader();
  let parts: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      let start = 0;
      for (let lf = value.indexOf(LF); lf !== -1; lf = value.indexOf(LF, start)) {
        const piece = value.subarray(start, lf);
        if (size + piece.length > max + 1) throw new LineTooLongError(max);
        const line = join(parts, size, piece);
        parts = [];
        size = 0;
        start = lf + 1;
        const text = decodeLine(line, max);
        if (text !== "") yield text;
      }
      const rest = value.subarray(start);
      size += rest.length;
      if (size > max + 1) throw new LineTooLongError(max);
      if (rest.length > 0) parts.push(rest.slice());
    }
    if (size > 0) {
      const text = decodeLine(join(parts, size, new Uint8Array()), max);
      if (text !== "") yield text;
    }
  } catch (error) {
    await reader.cancel().catch(() => {});
    throw error;
  } finally {
    reader.releaseLock();
  }
}

function join(parts: Uint8Array[], size: number, last: Uint8Array): Uint8Array {
  if (parts.length === 0) return last;
  const out = new Uint8Array(size + last.length);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  out.set(last, at);
  return out;
}

function decodeLine(line: Uint8Array, max: number): string {
  const end = line.length > 0 && line[line.length - 1] === CR ? line.length - 1 : line.length;
  if (end > max) throw new LineTooLongError(max);
  return DECODER.decode(line.subarray(0, end)).trim();
}
