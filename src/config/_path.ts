/**
 * Document paths and positions shared by the YAML front ends and the checks.
 *
 * @module
 */

/** One key or index of a path inside the document. */
export type PathSegment = string | number;

/** A problem with a position (1-based; 0 when unknown) and a document path. */
export interface Located {
  line: number;
  column: number;
  path: string;
  message: string;
}

/** A 1-based position; 0 when unknown. */
export interface Position {
  line: number;
  column: number;
}

/** A parsed config document that can position a path (for messages). */
export interface YamlSource {
  /**
   * Position of a path: its value node (or its key with `key: true`), or the
   * deepest existing ancestor when the path goes past what the document holds
   * (a missing key, a default). A null value is positioned at its key.
   */
  locate(path: readonly PathSegment[], key?: boolean): Position;
  /** A {@linkcode Located} problem at a path. */
  at(path: readonly PathSegment[], message: string, key?: boolean): Located;
}

/**
 * Format a document path: `agent.exposes[0].name`, with keys that are not
 * plain words quoted: `headers["X Bad"]`.
 */
export function formatPath(path: readonly PathSegment[]): string {
  let out = "";
  for (const segment of path) {
    if (typeof segment === "number") out += `[${segment}]`;
    else if (/^[A-Za-z0-9_-]+$/.test(segment)) out += out ? `.${segment}` : segment;
    else out += `[${quote(segment)}]`;
  }
  return out;
}

/** Quote a config-provided string for a message: JSON-escaped, at most 64 characters. */
export function quote(text: string): string {
  return JSON.stringify(text.length > 64 ? `${text.slice(0, 61)}...` : text);
}
