/**
 * Text lints used at load time: literal credentials and tool-poisoning text.
 *
 * Each function returns a short label of what was found (for a message), never
 * the matching text: a message must not carry the secret it warns about.
 *
 * @module
 */

import { findSteering, type OwnNames, ownNames } from "./_lint_steering.ts";

export { type OwnNames, ownNames };

/** Known credential formats, by label. Placeholders are removed before matching. */
const CREDENTIAL_PATTERNS: readonly (readonly [RegExp, string])[] = [
  [/\bgh[pousr]_[A-Za-z0-9]{20,}/, "GitHub token"],
  [/\bgithub_pat_[A-Za-z0-9_]{20,}/, "GitHub fine-grained token"],
  [/\bglpat-[A-Za-z0-9_-]{20,}/, "GitLab token"],
  [/\b(?:AKIA|ASIA)[A-Z0-9]{16}\b/, "AWS access key id"],
  [/\bxox[abpors]-[A-Za-z0-9-]{10,}/, "Slack token"],
  [/\bsk_live_[A-Za-z0-9]{10,}/, "Stripe live key"],
  [/\bAIza[0-9A-Za-z_-]{35}/, "Google API key"],
  [/-----BEGIN[A-Z0-9 ]*PRIVATE KEY-----/, "PEM private key"],
  [/\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\./, "JSON Web Token"],
];

/**
 * `sk-` keys (OpenAI and others). The token must mix upper case, lower case and
 * digits so that a kebab-case name such as `sk-learn-metrics-bridge-v2` is not
 * mistaken for a key.
 */
const SK_KEY = /\bsk-[A-Za-z0-9_-]{20,}/g;

const PLACEHOLDER = /\{\{[^{}]*\}\}/g;

/** Every pattern above (and `sk-`) starts with one of these. */
const CREDENTIAL_HINT =
  /gh[pousr]_|github_pat_|glpat-|AKIA|ASIA|xox[abpors]-|sk_live_|sk-|AIza|-----BEGIN|eyJ/;

/**
 * Find a known credential format in a string.
 *
 * @param text any string value of a config
 * @returns a label such as `"GitHub token"`, or undefined
 */
export function findCredential(text: string): string | undefined {
  // One cheap test first: most strings hold no credential-like prefix at all.
  if (!CREDENTIAL_HINT.test(text)) return undefined;
  const plain = text.includes("{{") ? text.replace(PLACEHOLDER, " ") : text;
  for (const [pattern, label] of CREDENTIAL_PATTERNS) {
    if (pattern.test(plain)) return label;
  }
  for (const match of plain.matchAll(SK_KEY)) {
    const token = match[0].slice(3);
    if (/[A-Z]/.test(token) && /[a-z]/.test(token) && /\d/.test(token)) return "API secret key";
  }
  return undefined;
}

const BEARER_LITERAL = /\bBearer\s+[A-Za-z0-9._~+/-]{20,}=*/i;
const BASIC_LITERAL = /\bBasic\s+[A-Za-z0-9+/]{6,}={0,2}(?:\s|$)/i;
const TOKEN_RUN = /[A-Za-z0-9+/=_-]{32,}/g;

/**
 * Find a literal credential in a header value: a known format, a literal
 * `Bearer`/`Basic` credential, or a high-entropy token (32 or more characters
 * of `[A-Za-z0-9+/=_-]` with Shannon entropy of at least 4 bits per character).
 *
 * @param value the header value template
 * @returns a label, or undefined
 */
export function findHeaderCredential(value: string): string | undefined {
  const known = findCredential(value);
  if (known) return known;
  const plain = value.includes("{{") ? value.replace(PLACEHOLDER, " ") : value;
  if (BEARER_LITERAL.test(plain)) return "literal Bearer token";
  if (BASIC_LITERAL.test(plain)) return "literal Basic credentials";
  for (const match of plain.matchAll(TOKEN_RUN)) {
    if (shannonEntropy(match[0]) >= 4) return "high-entropy token";
  }
  return undefined;
}

/** Shannon entropy of a string, in bits per character. */
export function shannonEntropy(text: string): number {
  const counts = new Map<string, number>();
  for (const ch of text) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let bits = 0;
  const n = [...text].length;
  for (const count of counts.values()) {
    const p = count / n;
    bits -= p * Math.log2(p);
  }
  return bits;
}

/**
 * Invisible or direction-changing characters: Unicode tag characters
 * (U+E0000-U+E007F), zero-width and direction marks (U+200B-U+200F), bidi
 * embeddings and overrides (U+202A-U+202E) and isolates (U+2066-U+2069), plus
 * the word joiner and BOM (U+2060, U+FEFF). They hide text from a person while a
 * model still reads it (tool poisoning) or reorder what a reviewer sees
 * ("Trojan Source", CVE-2021-42574).
 */
const INVISIBLE = /[\u{E0000}-\u{E007F}\u200B-\u200F\u202A-\u202E\u2060\u2066-\u2069\uFEFF]/u;

/**
 * Find an invisible or bidirectional control character.
 *
 * @returns its code point as `U+XXXX`, or undefined
 */
export function findInvisible(text: string): string | undefined {
  const match = INVISIBLE.exec(text);
  if (!match) return undefined;
  return `U+${match[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}`;
}

/**
 * A file in the home directory: a hidden one, or under `Library` or `AppData`,
 * of `~/` or `$HOME/`; anything under `%USERPROFILE%`, `%APPDATA%` or
 * `%LOCALAPPDATA%`.
 */
const HOME_FILE =
  /(?:~|\$\{?HOME\}?)[\\/](?:\.|Library[\\/]|AppData[\\/])|%(?:USERPROFILE|APPDATA|LOCALAPPDATA)%[\\/]/i;

/**
 * Tool-poisoning markers in descriptions (Invariant Labs, "Tool Poisoning
 * Attacks", 2025), in order: the first that matches names the finding, so the
 * specific labels come before the general one for the home directory.
 */
const POISONING_PATTERNS: readonly (readonly [RegExp, string])[] = [
  [/<\s*\/?\s*(?:important|system|instructions?|secret)\s*>/i, "hidden-instruction tag"],
  [
    /\b(?:ignore|disregard|forget|override)\s+(?:all\s+|any\s+|the\s+|your\s+)*(?:previous|prior|above|earlier|preceding|other)\s+(?:instructions?|prompts?|rules|directions)/i,
    "instruction override",
  ],
  [/~\/\.ssh\b|\bid_(?:rsa|dsa|ecdsa|ed25519)\b/i, "reference to SSH keys"],
  [
    /\b(?:mcp|mcp_config|claude_desktop_config|cline_mcp_settings)\.json\b|\.cursor[\\/]|\.claude\.json\b|\.codeium[\\/]/i,
    "reference to MCP client configuration",
  ],
  [
    /\.aws[\\/](?:credentials|config)\b|\.kube[\\/]config\b|\.azure[\\/]|\bgcloud[\\/](?:credentials|application_default)|\bapplication_default_credentials\.json\b/i,
    "reference to cloud credentials",
  ],
  [
    /(?:^|[\s/\\'"`(=:~])\.(?:netrc|pgpass|npmrc|pypirc|git-credentials|docker[\\/]config\.json)\b/i,
    "reference to a credentials file",
  ],
  [/\/etc\/(?:passwd|shadow|master\.passwd|sudoers)\b/i, "reference to system account files"],
  [
    /\bcookies\.sqlite\b|\bCookies\.binarycookies\b|\bkey[34]\.db\b|\blogins\.json\b|\b(?:chrome|chromium|firefox|safari|edge|brave|opera)(?:'s)?\s+(?:browser\s+)?(?:cookies?|cookie\s+(?:store|jar|database|file)|saved\s+passwords|passwords|password\s+store)\b|\bbrowser(?:'s)?\s+(?:cookie\s+(?:store|jar|database|file)|saved\s+passwords|password\s+store)\b/i,
    "reference to browser credential stores",
  ],
  [/\bLogin Data\b/, "reference to browser credential stores"],
  [
    HOME_FILE,
    "reference to a file in the home directory",
  ],
  [/(?:^|[\s/'"`(=:])\.env\b/, "reference to a .env file"],
  [/\bdo\s+not\s+(?:tell|mention|inform|reveal\s+to)\s+the\s+user\b/i, "concealment instruction"],
];

/** A base-form verb that moves data, then "to" and an http(s) URL, in one sentence. */
const SEND_TO_URL =
  /\b(?:send|post|upload|forward|transmit|submit|exfiltrate|leak|include|append|attach|copy|pipe|report|log)\b[^.!?\n]{0,160}?\bto\s+<?https?:\/\//i;
/** An http(s) URL. */
const URL_TEXT = /\bhttps?:\/\/[^\s"'<>]/i;
/** "Include the contents", "append the conversation": what a model holds, added to a request. */
const INCLUDE_HELD =
  /\b(?:include|append|attach|embed|paste|encode)\b[^!?\n]{0,80}?\b(?:contents?|conversation|chat\s+history|message\s+history|previous\s+messages|system\s+prompt|credentials?|secrets?|api\s+keys?|passwords?|environment\s+variables?)\b/i;

/**
 * Scan a description for tool-poisoning text: hidden-instruction tags,
 * instruction overrides, invisible characters, references to local secrets
 * (SSH keys, cloud and other credential files, MCP client configs, browser
 * stores, home-directory dotfiles), instructions to send data to a URL, and
 * text steering the model to tools the config does not serve
 * (`_lint_steering.ts`).
 *
 * @param text a tool or parameter description, or a tool title
 * @param own the config's own tool and parameter names (from {@linkcode ownNames}):
 *   a description may tell the model to call these
 * @returns a label of what was found, or undefined
 */
export function findPoisoning(text: string, own?: OwnNames): string | undefined {
  const invisible = findInvisible(text);
  if (invisible) return `invisible character ${invisible}`;
  for (const [pattern, label] of POISONING_PATTERNS) {
    if (pattern.test(text)) return label;
  }
  if (sendsToUrl(text)) return "instruction to send data to a URL";
  return findSteering(text, own);
}

/** "never", "do not", "don't", up to two words before a verb: "never include credentials". */
const NEGATED = /\b(?:never|not|don't|no)\s+(?:\S+\s+){0,2}$/i;

/**
 * Whether one sentence of `text` tells the model to send something to a URL:
 * a data-moving verb and "to https://...", or a URL beside "include the
 * contents" (the conversation, credentials, ...). A negated verb ("never
 * include credentials") does not count.
 */
function sendsToUrl(text: string): boolean {
  if (!URL_TEXT.test(text)) return false;
  for (const sentence of text.split(/[.!?;]+(?=\s|$)|\n+/)) {
    if (!URL_TEXT.test(sentence)) continue;
    for (const pattern of [SEND_TO_URL, INCLUDE_HELD]) {
      const match = pattern.exec(sentence);
      if (match && !NEGATED.test(sentence.slice(0, match.index))) return true;
    }
  }
  return false;
}
