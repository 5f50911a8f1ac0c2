/**
 * Injection heuristics run on every string argument (nested ones too) before a
 * tool call reaches its bridge (SPEC section 6).
 *
 * Design rules:
 *
 * - Every rule is compiled once, at module load.
 * - Every rule runs in time linear in the input: no nested unbounded
 *   quantifiers, no two unbounded quantifiers that can consume the same run of
 *   characters, and paired delimiters (`{{ ... }}`) are found with two
 *   `indexOf` calls instead of a lazy `.*?`.
 * - Precision over recall on ordinary text: SQL keywords fire only after a
 *   quote, shell command words only after a metacharacter, "you are now" only
 *   when followed by a role-changing noun. PromQL and LogQL selectors do not
 *   fire (tested). A parameter that legitimately carries a category lists it in
 *   `allow`.
 * - A finding names the rule, never the matched text, so it is safe to audit
 *   and to show.
 *
 * Text with non-ASCII characters is also checked after NFKC normalisation with
 * invisible characters (zero-width, soft hyphen, bidi controls) removed, so
 * `ｒｍ` or `ig\u200Bnore previous instructions` does not slip past.
 *
 * @module
 */

import type { InjectionCategory } from "../../config/mod.ts";

/** One injection heuristic that matched a string argument. */
export interface InjectionFinding {
  /** The argument, dotted for nested values (`filters.name`, `tags[2]`). */
  field: string;
  /** Which family of attack the rule looks for. */
  category: InjectionCategory;
  /** The name of the rule that matched (never the matched value). */
  pattern: string;
}

/** Options of {@linkcode detectInjection}. */
export interface DetectInjectionOptions {
  /** Field name to put in the finding. Default `""`. */
  field?: string;
}

interface Rule {
  readonly name: string;
  readonly category: InjectionCategory;
  test(value: string): boolean;
}

function regexRule(name: string, category: InjectionCategory, re: RegExp): Rule {
  if (re.global || re.sticky) throw new TypeError(`Rule "${name}" must not be global or sticky`);
  return { name, category, test: (value) => re.test(value) };
}

/** `open` somewhere, then `close` somewhere after it: linear, unlike `open.*?close`. */
function pairRule(name: string, category: InjectionCategory, open: string, close: string): Rule {
  return {
    name,
    category,
    test(value) {
      const at = value.indexOf(open);
      return at >= 0 && value.indexOf(close, at + open.length) >= 0;
    },
  };
}

// Command words that make a metacharacter dangerous. The word must end at
// whitespace, another metacharacter, a closing paren or the end, so that
// `?a=1&cat=2` (a query string) does not fire while `; cat /etc/x` does.
const SHELL_COMMANDS = [
  "rm",
  "curl",
  "wget",
  "nc",
  "ncat",
  "netcat",
  "socat",
  "telnet",
  "ssh",
  "scp",
  "bash",
  "sh",
  "zsh",
  "ksh",
  "csh",
  "tcsh",
  "dash",
  "python",
  "python2",
  "python3",
  "perl",
  "ruby",
  "php",
  "node",
  "deno",
  "lua",
  "exec",
  "eval",
  "chmod",
  "chown",
  "kill",
  "pkill",
  "killall",
  "cat",
  "dd",
  "mkfs",
  "sudo",
  "su",
  "whoami",
  "uname",
  "id",
  "base64",
  "xargs",
  "nohup",
  "crontab",
  "powershell",
  "pwsh",
  "cmd",
  "shutdown",
  "reboot",
].join("|");

// The optional `[\w./-]*\/` prefix lets `; /bin/rm` match; it cannot overlap
// the metacharacter class, so scans from different starts never overlap.
const SHELL_AFTER_METACHAR = new RegExp(
  String.raw`(?:[;&|\x60]|\$\()[ \t]*(?:[\w./-]*\/)?(?:${SHELL_COMMANDS})(?=[\s;&|<>\x60)]|$)`,
  "i",
);

// A newline separates commands too, but ordinary multi-line text often starts
// a line with "ID 42" or "Cat named Tom". So after a newline the word must be
// lower case (as the shell needs it) and look like a command: followed by an
// option, a path, a variable, a quote or URL, or by a metacharacter or the end
// of the line.
const SHELL_AFTER_NEWLINE = new RegExp(
  String
    .raw`[\n\r][ \t]*(?:[\w./-]*\/)?(?:${SHELL_COMMANDS})(?=[ \t]+(?:[-/$~.'"]|https?:)|[ \t]*(?:[;&|<>\x60\r\n]|$))`,
);

// `.`, `/` and `\` in their plain, percent-encoded, double-encoded and
// overlong UTF-8 forms.
const DOT = String.raw`(?:\.|%2e|%252e|%c0%ae|%e0%80%ae)`;
const SLASH = String.raw`(?:[/\\]|%2f|%5c|%252f|%255c|%c0%af|%c1%9c)`;

const SQL_KEYWORDS = "or|and|union|select|drop|delete|insert|update|exec|having";

const RULES: readonly Rule[] = [
  // shell
  regexRule("shell-command-after-metacharacter", "shell", SHELL_AFTER_METACHAR),
  regexRule("shell-command-after-newline", "shell", SHELL_AFTER_NEWLINE),
  regexRule("shell-command-substitution", "shell", /\$\(\s*[A-Za-z_/.~]/),
  regexRule("shell-dev-tcp", "shell", /\/dev\/(?:tcp|udp)\//i),

  // path
  regexRule("path-traversal", "path", new RegExp(`${DOT}${DOT}${SLASH}`, "i")),
  regexRule("path-traversal-trailing", "path", new RegExp(`(?:^|${SLASH})${DOT}${DOT}$`, "i")),
  regexRule(
    "path-sensitive-file",
    "path",
    /\/etc\/(?:passwd|shadow|gshadow|sudoers)\b|\/proc\/(?:self\b|\d+\/)|~\/\.(?:ssh|aws|gnupg)\b|\/\.ssh\/|\bid_(?:rsa|dsa|ecdsa|ed25519)\b|\.aws\/credentials\b|[a-z]:\\windows\\system32\b|\bwin\.ini\b|\/var\/run\/docker\.sock\b/i,
  ),

  // sql
  regexRule(
    "sql-keyword-after-quote",
    "sql",
    new RegExp(String.raw`'\s*(?:${SQL_KEYWORDS})\s`, "i"),
  ),
  regexRule(
    "sql-tautology",
    "sql",
    /\b(?:or|and)\s+\(?(['"]?)(\w{1,20})\1\s*(?:=|like\s)\s*['"]?\2\b/i,
  ),
  regexRule("sql-comment-after-quote", "sql", /'(?:\s*;)?\s*--(?:\s|$)/),
  regexRule(
    "sql-stacked-query",
    "sql",
    /;\s*(?:(?:drop|truncate|alter|create)\s+(?:table|database|schema|view|index|user|procedure|function)\b|delete\s+from\b|insert\s+into\b|update\s+\w+\s+set\b|shutdown\b|exec(?:ute)?\s+(?:xp_|sp_))/i,
  ),
  regexRule(
    "sql-union-select",
    "sql",
    /\bunion(?:\s+|\s*\/\*[^*]{0,64}\*\/\s*)(?:all\s+|distinct\s+)?select\b/i,
  ),
  regexRule(
    "sql-time-delay",
    "sql",
    /\b(?:pg_sleep|benchmark)\s*\(|\bwaitfor\s+delay\b|\bsleep\s*\(\s*\d+\s*\)/i,
  ),

  // template
  pairRule("template-double-brace", "template", "{{", "}}"),
  pairRule("template-block", "template", "{%", "%}"),
  pairRule("template-erb", "template", "<%", "%>"),
  pairRule("template-dollar-brace", "template", "${", "}"),
  pairRule("template-hash-brace", "template", "#{", "}"),

  // prompt
  regexRule(
    "prompt-ignore-previous",
    "prompt",
    /\b(?:ignore|disregard|forget|override|bypass)\s+(?:(?:all|any|every|of|the|your|my|these|those)\s+){0,3}(?:previous|prior|above|preceding|earlier|former|original|initial|system|old)\s+(?:\w+\s+)?(?:instructions?|prompts?|rules|directions|directives|guidelines|context|messages|commands|orders)\b/i,
  ),
  regexRule(
    "prompt-forget-instructions",
    "prompt",
    /\b(?:ignore|disregard|forget)\s+(?:all\s+(?:of\s+)?)?(?:your|all|any)\s+(?:\w+\s+)?(?:instructions|rules|guidelines|directives|programming|training|prompts?)\b|\b(?:ignore|disregard|forget)\s+everything\s+(?:above|before|previously|prior|you\b)/i,
  ),
  regexRule(
    "prompt-disregard-previous",
    "prompt",
    /\b(?:disregard|ignore|forget)\s+(?:(?:all|any|everything)\s+)?(?:(?:of\s+)?(?:the|your|my)\s+)?(?:previous|prior|above|preceding|earlier)\b/i,
  ),
  regexRule("prompt-new-instructions", "prompt", /\bnew\s+(?:system\s+)?instructions?\s*:/i),
  regexRule("prompt-system-prompt", "prompt", /\bsystem\s+prompt\b/i),
  regexRule(
    "prompt-role-override",
    "prompt",
    /\byou\s+are\s+now\s+(?:(?:a|an|the|my|in|acting\s+as)\s+)?(?:\w+\s+){0,2}(?:ai|assistant|model|bot|chatbot|llm|agent|dan|jailbroken|unrestricted|unfiltered|uncensored|admin|root|superuser|developer\s+mode|god\s+mode)\b|\b(?:act|behave)\s+as\s+(?:an?\s+)?(?:unrestricted|unfiltered|jailbroken|uncensored|dan)\b|\b(?:developer|dan|god|jailbreak)\s+mode\s+(?:enabled|activated|on)\b/i,
  ),
  regexRule(
    "prompt-chat-template-token",
    "prompt",
    /<\|(?:im_start|im_end|im_sep|system|user|assistant|endoftext|begin_of_text|start_header_id|end_header_id|eot_id)\|>|\[\/?INST\]|<<\/?SYS>>|<\/?(?:start_of_turn|end_of_turn|important)>/i,
  ),
  regexRule(
    "prompt-markdown-role-header",
    "prompt",
    /###[ \t]*(?:system|instructions?|assistant)[ \t]*(?::|$)/im,
  ),
  // Unicode tag characters smuggle invisible ASCII to a model. They are also
  // used by subdivision flag emoji (U+1F3F4 followed by tags), which stay allowed.
  regexRule(
    "prompt-hidden-tag-characters",
    "prompt",
    /(?<!\u{1F3F4}[\u{E0020}-\u{E007E}]{0,8})[\u{E0000}-\u{E007F}]/u,
  ),
];

/** Every rule, by name and category, in the order they are tried. */
export const INJECTION_RULES: readonly { name: string; category: InjectionCategory }[] = Object
  .freeze(RULES.map((r) => Object.freeze({ name: r.name, category: r.category })));

const NON_ASCII = /[\u0080-\uffff]/;
const INVISIBLE = /[\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/g;

/**
 * Check one string against the injection rules.
 *
 * @param value the string argument (any length; callers bound it first)
 * @param allow categories to skip (a parameter's `allow` list)
 * @param options `field` to record in the finding
 * @returns the first rule that matched, or `null`
 *
 * @example
 * ```ts
 * import { detectInjection } from "./injection.ts";
 * detectInjection("x; rm -rf /", []); // { field: "", category: "shell", pattern: "shell-command-after-metacharacter" }
 * detectInjection("select a color", []); // null
 * ```
 */
export function detectInjection(
  value: string,
  allow: readonly InjectionCategory[],
  options: DetectInjectionOptions = {},
): InjectionFinding | null {
  if (typeof value !== "string") throw new TypeError("Cannot scan a non-string value");
  const normalised = NON_ASCII.test(value) ? value.normalize("NFKC").replace(INVISIBLE, "") : null;
  for (const rule of RULES) {
    if (allow.includes(rule.category)) continue;
    if (
      rule.test(value) || (normalised !== null && normalised !== value && rule.test(normalised))
    ) {
      return { field: options.field ?? "", category: rule.category, pattern: rule.name };
    }
  }
  return null;
}
