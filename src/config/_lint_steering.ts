/**
 * The part of the tool-poisoning lint that looks for descriptions steering the
 * model toward tools this config does not serve: "before using this tool, call
 * send_email", "use the other server's read_file", "this tool replaces the tool
 * named ...". A poisoned server uses such text to act through another server's
 * tools, which its own gate never sees (tool shadowing, cross-server steering).
 *
 * Precision matters more than reach: a description may name its own tools and
 * parameters ("Use search_issues first to find the number"), and it often says
 * "use" and "run" about data. So a sentence is flagged only when an invocation
 * verb (call, invoke, execute, trigger, use, run) governs a tool reference that is
 * not one of the config's own names:
 *
 * - a name shaped like a tool (`send_email`, or any name in backticks; not a
 *   constant such as `ANY_OF`), after call, invoke, execute or trigger; after
 *   use or run only with the word tool beside it or an ordering word in the
 *   sentence (first, before, instead, also, then, always, ...); never when a
 *   data word follows ("use next_cursor from the response", "... field");
 * - a plain word only as "the mailer tool" or "the tool named mailer" (not "a
 *   specialized tool"), and not when it is one word of an own tool's name
 *   ("the search tool" for `search_issues`);
 * - a namespaced name (`server.read_file`, `server__tool`, `mcp__server__tool`)
 *   after any of the verbs; `mcp__...` anywhere, and "the other server's" with a
 *   verb in the sentence;
 * - "replaces", "overrides", "supersedes", "shadows" a tool (the word tool, "the
 *   tool named x", or a name not its own in a sentence that says tool), and
 *   "instead of" one in a sentence with an invocation verb.
 *
 * Paraphrases that avoid these shapes ("the mailer should hear about this too"),
 * and text in other languages, pass: the lint is a tripwire, not a proof.
 *
 * @module
 */

/** Sentences end at `.`, `!`, `?` or `;` followed by a space or the end, or at a line break. */
const SENTENCE_END = /[.!?;]+(?=\s|$)|\n+/;

/** An invocation verb, what it governs, and whether the word tool stands after it. */
const INVOCATION =
  /\b(call|invoke|execute|trigger|use|run)\s+((?:(?:the|a|an|tool|function|named|called)\s+){0,4})(`[^`\s]{1,128}`|[A-Za-z][\w.-]{0,127})(\s+tool\b(?!'))?/gi;

/** Words that say the name is data, not a tool: "use the next_cursor field". */
const DATA_WORD =
  /^\s+(?:(?:field|value|parameter|param|argument|arg|key|property|header|column|attribute|option|setting|variable|query|filter|format|syntax|cursor|token|id|string|number)s?|from|of|in|as|returned|given|provided)\b/i;

/** Words that order or add a call: the marks of steering. */
const STEERING_CUE =
  /\b(?:first|before|beforehand|after|afterwards|then|next|instead|also|always|additionally|in\s+addition|as\s+well|prior\s+to|whenever|every\s+time|each\s+time)\b/i;

/** Words that are not tool names even when the word tool follows ("this tool", "any tool"). */
const NOT_A_NAME = new Set([
  "this",
  "that",
  "these",
  "those",
  "same",
  "other",
  "another",
  "each",
  "every",
  "any",
  "which",
  "its",
  "our",
  "your",
  "own",
  "one",
  "right",
  "correct",
  "appropriate",
  "relevant",
  "corresponding",
  "previous",
  "next",
  "following",
  "above",
  "below",
  "first",
  "second",
  "new",
  "different",
  "separate",
  "specialized",
  "dedicated",
  "specific",
  "suitable",
  "general",
  "generic",
  "better",
]);

/** Second parts of dotted words that are files or hosts, not `server.tool`. */
const NOT_A_TOOL_SUFFIX =
  /^(?:md|txt|json|ya?ml|toml|csv|tsv|xml|html?|pdf|png|jpe?g|gif|svg|js|mjs|cjs|ts|tsx|py|rb|go|rs|java|sh|sql|log|zip|gz|tar|com|org|net|io|dev|app|ai|co|edu|gov|info|example|test|local|localhost|internal)$/;

const OTHER_SERVER =
  /\b(?:other|another|different|second|external|remote|third-party)\s+(?:mcp\s+)?server(?:s|'s|s')?\b/i;
const ANY_VERB = /\b(?:call|invoke|execute|trigger|use|run)\b/i;
const MCP_PREFIXED = /\bmcp__[a-z0-9_-]+/i;

const REPLACES =
  /\b(replaces?|overrides?|supersedes?|shadows?|takes?\s+precedence\s+over|instead\s+of|rather\s+than|in\s+place\s+of)\s+(?:(?:the|any|all|every|other|another|existing|original|default|built-?in|standard|similar|previous|(?:tool|function)\s+(?:named|called))\s+){0,4}(`[^`\s]{1,128}`|[A-Za-z][\w.-]{0,127})(\s+tools?\b(?!'))?/gi;
const TOOL_WORD = /^tools?$/i;
const ANY_TOOL_WORD = /\btools?\b/i;
const GENERIC_TOOL =
  /\b(?:any|all|every|other|another|existing|built-?in|default)\s+tools?\b(?!')/i;

/** What shape a referenced name has. */
type NameShape = "namespaced" | "tool-like" | "word";

/** The shape of `raw` (backticks included), or undefined when it cannot name a tool. */
function shapeOf(raw: string): { name: string; shape: NameShape } | undefined {
  const ticked = raw.startsWith("`");
  const name = (ticked ? raw.slice(1, -1).replace(/\(\)$/, "") : raw).replace(/[.-]+$/, "")
    .toLowerCase();
  if (name === "") return undefined;
  if (/^[a-z][\w-]*__[a-z0-9_]+$/.test(name)) return { name, shape: "namespaced" };
  const dotted = /^([a-z][\w-]*)\.([a-z][\w]*)$/.exec(name);
  if (dotted) {
    // `server.read_file`; a dotted word without `_` ("aws.events") needs the word tool.
    if (/[A-Z]/.test(raw) || NOT_A_TOOL_SUFFIX.test(dotted[2])) return undefined;
    return { name, shape: dotted[2].includes("_") ? "namespaced" : "word" };
  }
  if (name.includes(".")) return undefined;
  if (/^[A-Z0-9_]+$/.test(raw)) return undefined; // a constant such as ANY_OF
  if (ticked || /^[a-z0-9]+(?:_[a-z0-9]+)+$/.test(name)) return { name, shape: "tool-like" };
  if (/^[a-z][a-z0-9-]*$/.test(name) && !NOT_A_NAME.has(name)) return { name, shape: "word" };
  return undefined;
}

/** The own names of a config, and each word of its tool-like names. */
export interface OwnNames {
  /** Tool and parameter names of the config. */
  readonly names: ReadonlySet<string>;
  /** Every `_`-separated word of those names. */
  readonly words: ReadonlySet<string>;
}

/**
 * Index a config's own names for {@linkcode findSteering}.
 *
 * @param names its tool names, parameter and property names
 */
export function ownNames(names: Iterable<string>): OwnNames {
  const all = new Set<string>();
  const words = new Set<string>();
  for (const name of names) {
    const lower = name.toLowerCase();
    all.add(lower);
    for (const word of lower.split("_")) if (word !== "") words.add(word);
  }
  return { names: all, words };
}

const NO_NAMES: OwnNames = ownNames([]);

/**
 * Find text that steers the model to a tool this config does not serve.
 *
 * @param text a tool or parameter description, or a tool title
 * @param own the config's own names (none when absent)
 * @returns a label, or undefined
 */
export function findSteering(text: string, own: OwnNames = NO_NAMES): string | undefined {
  if (MCP_PREFIXED.test(text)) return "reference to another server's tool";
  for (const sentence of text.split(SENTENCE_END)) {
    const found = steeringIn(sentence, own);
    if (found) return found;
  }
  return undefined;
}

function isOwn(name: string, shape: NameShape, own: OwnNames): boolean {
  return own.names.has(name) || (shape === "word" && own.words.has(name));
}

function steeringIn(sentence: string, own: OwnNames): string | undefined {
  const hasVerb = ANY_VERB.test(sentence);
  if (hasVerb) {
    if (OTHER_SERVER.test(sentence)) return "reference to another server's tool";
    const found = invocationIn(sentence, own);
    if (found) return found;
  }
  return replacementIn(sentence, own, hasVerb);
}

/** An invocation verb governing a name that is not the config's own. */
function invocationIn(sentence: string, own: OwnNames): string | undefined {
  const cue = STEERING_CUE.test(sentence);
  for (const match of sentence.matchAll(INVOCATION)) {
    const [whole, verb, between, raw, toolAfter] = match;
    const shaped = shapeOf(raw);
    if (!shaped || isOwn(shaped.name, shaped.shape, own)) continue;
    const rest = sentence.slice(match.index + whole.length);
    if (shaped.shape === "namespaced") return "reference to another server's tool";
    if (DATA_WORD.test(rest)) continue;
    const named = /\b(?:named|called)\s+$/i.test(between);
    const toolWord = toolAfter !== undefined || named || /\b(?:tool|function)\b/i.test(between);
    // A plain word is a name only as "the X tool" or "the tool named X".
    if (
      shaped.shape === "word" && !raw.startsWith("`") &&
      !named && (toolAfter === undefined || /\ban?\s/i.test(between))
    ) {
      continue; // "use a specialized tool" names no tool
    }
    const strongVerb = !/^(?:use|run)$/i.test(verb);
    if (strongVerb || toolWord || cue) return "instruction to call another tool";
  }
  return undefined;
}

/**
 * A claim to replace a tool: "replaces the tool named x", "overrides any
 * tool". "Instead of" a name counts only in a sentence with an invocation verb
 * ("use this instead of read_file"), not in one about data ("JSON instead of
 * YAML").
 */
function replacementIn(sentence: string, own: OwnNames, hasVerb: boolean): string | undefined {
  for (const match of sentence.matchAll(REPLACES)) {
    const [whole, phrase, raw, toolAfter] = match;
    if (sentence[match.index + whole.length] === "'") continue; // "the tool's default"
    const insteadOf = /^(?:instead|rather|in\s)/i.test(phrase);
    if (TOOL_WORD.test(raw)) {
      if (!insteadOf || GENERIC_TOOL.test(match[0])) return "claim to replace another tool";
      continue;
    }
    const shaped = shapeOf(raw);
    if (!shaped || isOwn(shaped.name, shaped.shape, own)) continue;
    if (shaped.shape === "namespaced") return "reference to another server's tool";
    if (toolAfter === undefined) {
      if (shaped.shape === "word" && !raw.startsWith("`")) continue;
      // A bare name: "use this instead of read_file", "this tool replaces send_message";
      // not "JSON in place of created_at", "override model_dump".
      if (insteadOf ? !hasVerb : !ANY_TOOL_WORD.test(sentence)) continue;
    }
    return "claim to replace another tool";
  }
  return undefined;
}
