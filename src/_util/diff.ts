/**
 * A unified diff of two texts, line by line (longest common subsequence,
 * three lines of context), for `loom quarantine show`, `loom pin` and the
 * dashboard's quarantine page. Bounded: texts of more
 * than {@linkcode MAX_DIFF_LINES} lines each are not compared.
 *
 * @module
 */

/** The most lines per side compared. */
export const MAX_DIFF_LINES = 2000;

const CONTEXT = 3;

type Op = { kind: " " | "-" | "+"; line: string; a: number; b: number };

/**
 * The unified diff of `before` and `after`, or "" when they are equal, or
 * null when either has more than {@linkcode MAX_DIFF_LINES} lines.
 *
 * @param before the old text
 * @param after the new text
 * @param labels the `---` and `+++` names
 */
export function unifiedDiff(
  before: string,
  after: string,
  labels: { before: string; after: string },
): string | null {
  if (before === after) return "";
  const a = splitLines(before);
  const b = splitLines(after);
  if (a.length > MAX_DIFF_LINES || b.length > MAX_DIFF_LINES) return null;
  const ops = diffLines(a, b);
  let out = `--- ${labels.before}\n+++ ${labels.after}\n`;
  const changed = ops.map((op, i) => (op.kind === " " ? -1 : i)).filter((i) => i >= 0);
  let i = 0;
  while (i < changed.length) {
    let start = Math.max(0, changed[i] - CONTEXT);
    let end = Math.min(ops.length, changed[i] + CONTEXT + 1);
    while (i + 1 < changed.length && changed[i + 1] - CONTEXT <= end) {
      i++;
      end = Math.min(ops.length, changed[i] + CONTEXT + 1);
    }
    i++;
    const hunk = ops.slice(start, end);
    const aStart = hunk.find((o) => o.kind !== "+")?.a ?? hunk[0].a;
    const bStart = hunk.find((o) => o.kind !== "-")?.b ?? hunk[0].b;
    const aCount = hunk.filter((o) => o.kind !== "+").length;
    const bCount = hunk.filter((o) => o.kind !== "-").length;
    out += `@@ -${range(aStart, aCount)} +${range(bStart, bCount)} @@\n`;
    for (const op of hunk) out += `${op.kind}${op.line}\n`;
    start = end;
  }
  return out;
}

function range(start: number, count: number): string {
  // Unified diff: an empty range names the line before it.
  const first = count === 0 ? start : start + 1;
  return count === 1 ? `${first}` : `${first},${count}`;
}

function splitLines(text: string): string[] {
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}

/** Edit script by LCS; `a`/`b` are the 0-based positions before each op. */
function diffLines(a: string[], b: string[]): Op[] {
  const n = a.length;
  const m = b.length;
  const width = m + 1;
  const lcs = new Uint32Array((n + 1) * width);
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i * width + j] = a[i] === b[j]
        ? lcs[(i + 1) * width + j + 1] + 1
        : Math.max(lcs[(i + 1) * width + j], lcs[i * width + j + 1]);
    }
  }
  const ops: Op[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) {
      ops.push({ kind: " ", line: a[i], a: i, b: j });
      i++;
      j++;
    } else if (i < n && (j === m || lcs[(i + 1) * width + j] >= lcs[i * width + j + 1])) {
      ops.push({ kind: "-", line: a[i], a: i, b: j });
      i++;
    } else {
      ops.push({ kind: "+", line: b[j], a: i, b: j });
      j++;
    }
  }
  return ops;
}
