/**
 * A load-time upper bound of the backtracking work of a parameter `pattern`.
 *
 * V8's regular expressions backtrack: `(a+)+`, `(a|a)*` or `\d+\d+\d+` over a
 * hostile argument of a few thousand characters runs for seconds to forever,
 * and a match cannot be interrupted on the thread running it. LOOM's gate
 * runs on the process's one event loop, so such a match would stall every
 * call, session and agent. This module decides, once per pattern, whether its
 * worst case is small enough to run inline; every other pattern is tested in
 * a worker with a deadline (`src/security/validate/pattern_worker.ts`). It
 * lives here, below both, because the config loader warns about such a
 * pattern at load and the gate decides with it at call time.
 *
 * The estimate parses the pattern as a unicode-mode regular expression and
 * counts, for an input of the parameter's maximum length `L`:
 *
 * - `ways`: how many distinct ways a piece can finish, each of which the rest
 *   of the pattern is retried from. A variable quantifier `{m,n}` over a piece
 *   with one way has `n - m + 1` ways (an unbounded one counts as `L`);
 *   nested, with `b` ways inside, `b^0 + ... + b^n`; a sequence multiplies and
 *   an alternation adds the ways of its parts. So an alternation inside a
 *   repeated group is raised to the repetition count.
 * - `work`: steps spent, `ways` reaching a piece times the piece's own work.
 *
 * One refinement keeps the common separated forms inline: a variable
 * quantifier over a single character set followed by a single required
 * character outside that set (`[a-z]+/`, or the end of input) can finish in
 * only one way that the separator accepts, so the separator resets `ways`.
 *
 * Lookarounds, backreferences, modifier groups and anything the parser does not
 * recognise are "unknown": infinite cost, never inline. When in doubt, the
 * estimate is high, never low.
 *
 * @module
 */

/**
 * Patterns whose estimate is at most this many steps are tested inline. A
 * backtracking step costs V8 a few nanoseconds, so the worst case of an
 * inline pattern holds the event loop for a few milliseconds at most: about
 * ten ordinary tool calls' worth of CPU, once per hostile call. Every pattern
 * LOOM's example and test configs use estimates at most a few times the
 * maximum length, far below it.
 */
export const INLINE_BUDGET = 1_000_000;

/**
 * How long one call's off-thread pattern checks may run once the worker began
 * them, in milliseconds. A pattern that is merely super-linear matches a
 * length-bounded argument well within it; one that backtracks
 * catastrophically runs for seconds or forever. It bounds the worker time one
 * hostile call can take, and how long that call waits for its refusal.
 */
export const PATTERN_DEADLINE_MS = 100;

/** A set of code points as sorted [low, high] ranges; null means "any" (or unknown). */
type CharSet = readonly (readonly [number, number])[] | null;

interface Cost {
  work: number;
  ways: number;
  /** Least number of characters the piece consumes. */
  minWidth: number;
}

interface Term {
  kind: "char" | "group" | "assert" | "end";
  /** Characters a `char` term matches. */
  set?: CharSet;
  /** The inner cost of a `group`. */
  inner?: Cost;
  min: number;
  max: number;
}

class Unknown {}

const DIGIT: CharSet = [[0x30, 0x39]];
const WORD: CharSet = [[0x30, 0x39], [0x41, 0x5a], [0x5f, 0x5f], [0x61, 0x7a]];

/**
 * An upper bound of the backtracking steps to test `pattern` (anchored as
 * the gate anchors it) against one string of at most `maxLength` code points.
 *
 * @param pattern the parameter's pattern, a valid unicode-mode regular expression
 * @param maxLength the parameter's maximum string length
 * @returns the estimate; `Infinity` for lookarounds, backreferences or anything not understood
 */
export function patternCost(pattern: string, maxLength: number): number {
  try {
    const parser = new Parser(pattern, Math.max(1, maxLength));
    const inner = parser.disjunction();
    if (parser.pos !== parser.chars.length) return Infinity;
    // The gate tests `^(?:pattern)$`: the group, then the end of input.
    const seq = parser.sequence([
      { kind: "group", inner, min: 1, max: 1 },
      { kind: "end", min: 1, max: 1 },
    ]);
    // A start position other than the first fails at `^` in one step.
    const cost = seq.work + maxLength;
    return Number.isNaN(cost) ? Infinity : cost;
  } catch (e) {
    if (e instanceof Unknown) return Infinity;
    throw e;
  }
}

/**
 * Whether `pattern` is cheap enough to test on the gate's thread for strings
 * of at most `maxLength` code points.
 *
 * @example
 * ```ts
 * import { isInlinePattern } from "./regex_cost.ts";
 * isInlinePattern("[a-z0-9-]{1,32}", 10_000); // true
 * isInlinePattern("(a+)+", 10_000); // false
 * ```
 */
export function isInlinePattern(pattern: string, maxLength: number): boolean {
  return patternCost(pattern, maxLength) <= INLINE_BUDGET;
}

function disjoint(a: CharSet, b: CharSet): boolean {
  if (a === null || b === null) return false;
  for (const [lo, hi] of a) {
    for (const [lo2, hi2] of b) if (lo <= hi2 && lo2 <= hi) return false;
  }
  return true;
}

/** `b^from + ... + b^to`, saturating at Infinity. */
function powerSum(b: number, from: number, to: number): number {
  if (to < from) return 0;
  if (b === 1) return to - from + 1;
  if (b === 0) return from === 0 ? 1 : 0;
  const sum = (Math.pow(b, to + 1) - Math.pow(b, from)) / (b - 1);
  return Number.isFinite(sum) ? sum : Infinity;
}

class Parser {
  readonly chars: number[];
  pos = 0;

  constructor(source: string, readonly length: number) {
    this.chars = [...source].map((c) => c.codePointAt(0)!);
  }

  #peek(offset = 0): string {
    const c = this.chars[this.pos + offset];
    return c === undefined ? "" : String.fromCodePoint(c);
  }

  #eat(s: string): boolean {
    for (let i = 0; i < s.length; i++) if (this.#peek(i) !== s[i]) return false;
    this.pos += s.length;
    return true;
  }

  disjunction(): Cost {
    const branches: Cost[] = [];
    for (;;) {
      const terms: Term[] = [];
      while (this.pos < this.chars.length && this.#peek() !== "|" && this.#peek() !== ")") {
        terms.push(this.#term());
      }
      branches.push(this.sequence(terms));
      if (!this.#eat("|")) break;
    }
    let work = 0, ways = 0, minWidth = Infinity;
    for (const b of branches) {
      work += b.work;
      ways += b.ways;
      minWidth = Math.min(minWidth, b.minWidth);
    }
    return { work, ways, minWidth };
  }

  /** The cost of a sequence of terms, with the separator refinement. */
  sequence(terms: readonly Term[]): Cost {
    let work = 0, ways = 1, minWidth = 0;
    // The last term, when it is a variable quantifier over one character set.
    let open: { set: CharSet; waysBefore: number } | null = null;
    for (const t of terms) {
      if (t.kind === "assert") {
        work += ways;
        open = null;
        continue;
      }
      if (t.kind === "end") {
        work += ways;
        if (open !== null) ways = open.waysBefore;
        open = null;
        continue;
      }
      const set = t.kind === "char" ? t.set! : undefined;
      if (set !== undefined && t.min === 1 && t.max === 1) {
        work += ways;
        minWidth += 1;
        if (open !== null && disjoint(open.set, set)) ways = open.waysBefore;
        open = null;
        continue;
      }
      const inner: Cost = set !== undefined ? { work: 1, ways: 1, minWidth: 1 } : t.inner!;
      const reps = t.max === Infinity
        ? this.length
        : inner.minWidth >= 1
        ? Math.min(t.max, this.length)
        : t.max;
      const min = Math.min(t.min, reps);
      const loopWays = powerSum(inner.ways, min, reps);
      const loopWork = inner.work * Math.max(1, powerSum(inner.ways, 0, reps - 1));
      work += ways * loopWork;
      open = set !== undefined && t.min !== t.max ? { set, waysBefore: ways } : null;
      ways *= loopWays;
      minWidth += inner.minWidth * t.min;
    }
    return { work, ways, minWidth };
  }

  #term(): Term {
    const c = this.#peek();
    if (c === "^" || c === "$") {
      this.pos++;
      this.#noQuantifier();
      return c === "$" ? { kind: "end", min: 1, max: 1 } : { kind: "assert", min: 1, max: 1 };
    }
    if (c === "\\" && (this.#peek(1) === "b" || this.#peek(1) === "B")) {
      this.pos += 2;
      this.#noQuantifier();
      return { kind: "assert", min: 1, max: 1 };
    }
    let term: Term;
    if (c === "(") {
      this.pos++;
      if (this.#eat("?")) {
        if (this.#eat(":")) {
          // non-capturing
        } else if (this.#peek() === "<" && this.#peek(1) !== "=" && this.#peek(1) !== "!") {
          this.pos++;
          while (this.pos < this.chars.length && this.#peek() !== ">") this.pos++;
          if (!this.#eat(">")) throw new Unknown();
        } else {
          // lookarounds and modifier groups
          throw new Unknown();
        }
      }
      const inner = this.disjunction();
      if (!this.#eat(")")) throw new Unknown();
      term = { kind: "group", inner, min: 1, max: 1 };
    } else if (c === "[") {
      this.pos++;
      term = { kind: "char", set: this.#classBody(), min: 1, max: 1 };
    } else if (c === ".") {
      this.pos++;
      term = { kind: "char", set: null, min: 1, max: 1 };
    } else if (c === "\\") {
      this.pos++;
      term = { kind: "char", set: this.#escape(false), min: 1, max: 1 };
    } else if (c === "" || "*+?{})]|".includes(c)) {
      throw new Unknown();
    } else {
      const code = this.chars[this.pos++];
      term = { kind: "char", set: [[code, code]], min: 1, max: 1 };
    }
    this.#quantifier(term);
    return term;
  }

  #noQuantifier(): void {
    const c = this.#peek();
    if (c === "*" || c === "+" || c === "?" || c === "{") throw new Unknown();
  }

  #quantifier(term: Term): void {
    const c = this.#peek();
    if (c === "*") [term.min, term.max] = [0, Infinity];
    else if (c === "+") [term.min, term.max] = [1, Infinity];
    else if (c === "?") [term.min, term.max] = [0, 1];
    else if (c === "{") {
      this.pos++;
      const min = this.#number();
      let max = min;
      if (this.#eat(",")) max = this.#peek() === "}" ? Infinity : this.#number();
      if (this.#peek() !== "}") throw new Unknown();
      [term.min, term.max] = [min, max];
    } else return;
    this.pos++;
    this.#eat("?");
  }

  #number(): number {
    let digits = "";
    while (/^[0-9]$/.test(this.#peek())) digits += this.chars[this.pos++] - 0x30;
    if (digits === "") throw new Unknown();
    return Number(digits);
  }

  /** After `[`: the set of a class, up to and including `]`. */
  #classBody(): CharSet {
    const negated = this.#eat("^");
    const ranges: [number, number][] = [];
    let any = false;
    while (this.#peek() !== "]") {
      if (this.pos >= this.chars.length) throw new Unknown();
      const lo = this.#classAtom();
      if (this.#peek() === "-" && this.#peek(1) !== "]" && this.#peek(1) !== "") {
        this.pos++;
        const hi = this.#classAtom();
        if (lo === null || hi === null || lo.length !== 1 || hi.length !== 1) {
          throw new Unknown();
        }
        ranges.push([lo[0][0], hi[0][0]]);
      } else if (lo === null) any = true;
      else ranges.push(...lo.map(([a, b]) => [a, b] as [number, number]));
    }
    this.pos++;
    return negated || any ? null : ranges;
  }

  #classAtom(): CharSet {
    if (this.#eat("\\")) return this.#escape(true);
    const code = this.chars[this.pos++];
    return [[code, code]];
  }

  /** After `\`: the set of an escape; throws Unknown on a backreference. */
  #escape(inClass: boolean): CharSet {
    const c = this.#peek();
    this.pos++;
    const one = (code: number): CharSet => [[code, code]];
    switch (c) {
      case "d":
        return DIGIT;
      case "w":
        return WORD;
      case "D":
      case "W":
      case "s":
      case "S":
        return null;
      case "p":
      case "P": {
        if (!this.#eat("{")) throw new Unknown();
        while (this.pos < this.chars.length && this.#peek() !== "}") this.pos++;
        if (!this.#eat("}")) throw new Unknown();
        return null;
      }
      case "n":
        return one(10);
      case "r":
        return one(13);
      case "t":
        return one(9);
      case "f":
        return one(12);
      case "v":
        return one(11);
      case "b":
        if (inClass) return one(8);
        throw new Unknown();
      case "0":
        if (/^[0-9]$/.test(this.#peek())) throw new Unknown();
        return one(0);
      case "c": {
        const code = this.chars[this.pos++];
        if (code === undefined) throw new Unknown();
        return one(code % 32);
      }
      case "x": {
        const hex = String.fromCodePoint(...this.chars.slice(this.pos, this.pos + 2));
        if (!/^[0-9a-fA-F]{2}$/.test(hex)) throw new Unknown();
        this.pos += 2;
        return one(parseInt(hex, 16));
      }
      case "u": {
        if (this.#eat("{")) {
          let hex = "";
          while (/^[0-9a-fA-F]$/.test(this.#peek())) hex += this.#peek(), this.pos++;
          if (hex === "" || !this.#eat("}")) throw new Unknown();
          return one(parseInt(hex, 16));
        }
        const hex = String.fromCodePoint(...this.chars.slice(this.pos, this.pos + 4));
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) throw new Unknown();
        this.pos += 4;
        const code = parseInt(hex, 16);
        // A surrogate pair written as two escapes: one code point, not known here.
        return code >= 0xd800 && code <= 0xdfff ? null : one(code);
      }
      case "k":
        throw new Unknown();
      case "":
        throw new Unknown();
      default:
        // \1 to \9 are backreferences; anything else left is an identity escape.
        if (/^[1-9]$/.test(c)) throw new Unknown();
        return one(c.codePointAt(0)!);
    }
  }
}
