/**
 * The LOOM error family. Every domain failure is a {@linkcode LoomError} with a
 * stable {@linkcode LoomErrorCode}; each edge (CLI, HTTP, MCP tool result) maps
 * codes in exactly one table (see {@linkcode EXIT_CODES}).
 *
 * Misuse by a caller (a bug) throws the built-in `TypeError` / `RangeError`
 * instead. Messages never carry secrets or raw untrusted input.
 *
 * @module
 */

/** Stable machine-readable codes. Never renamed once released. */
export type LoomErrorCode =
  | "CONFIG_INVALID"
  | "POLICY_DENIED"
  | "RATE_LIMITED"
  | "INTEGRITY_FAILED"
  | "NOT_FOUND"
  | "UPSTREAM_FAILED"
  | "UPSTREAM_TIMEOUT"
  | "RESPONSE_TOO_LARGE"
  | "HELD_FOR_REVIEW"
  | "INPUT_INVALID"
  | "AUDIT_UNAVAILABLE"
  | "USAGE"
  | "UNAVAILABLE"
  | "INTERNAL";

/** Base class of every LOOM domain error. */
export class LoomError extends Error {
  /** The stable code callers branch on. */
  readonly code: LoomErrorCode;

  /**
   * @param code stable code
   * @param message human message in std style: capital start, no trailing period
   * @param options standard error options (`cause`)
   */
  constructor(code: LoomErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = "LoomError";
  }
}

/** One problem found in a config file, positioned for an editor. */
export interface ConfigIssue {
  /** Path of the file, as given by the user. */
  file: string;
  /** 1-based line, 0 when unknown. */
  line: number;
  /** 1-based column, 0 when unknown. */
  column: number;
  /** Dotted path inside the document, e.g. `agent.exposes[0].name`. */
  path: string;
  /** What is wrong, in std style. */
  message: string;
}

/** Format one config issue as `file:line:column: path: message`. */
export function formatConfigIssue(issue: ConfigIssue): string {
  const where = issue.line > 0 ? `${issue.file}:${issue.line}:${issue.column}` : issue.file;
  return issue.path ? `${where}: ${issue.path}: ${issue.message}` : `${where}: ${issue.message}`;
}

/** A config failed to load: carries every issue found, not only the first. */
export class ConfigError extends LoomError {
  /** All issues, in document order. */
  readonly issues: readonly ConfigIssue[];

  /**
   * @param issues the problems found (at least one)
   */
  constructor(issues: readonly ConfigIssue[]) {
    if (issues.length === 0) throw new RangeError("ConfigError needs at least one issue");
    const head = issues.length === 1
      ? `Cannot load config: ${formatConfigIssue(issues[0])}`
      : `Cannot load config: ${issues.length} problems\n` +
        issues.map((i) => `  ${formatConfigIssue(i)}`).join("\n");
    super("CONFIG_INVALID", head);
    this.name = "ConfigError";
    this.issues = issues;
  }
}

/** A policy (tier, injection, origin, method) refused an action. */
export class PolicyError extends LoomError {
  /** @param message why it was refused */
  constructor(message: string, options?: ErrorOptions) {
    super("POLICY_DENIED", message, options);
    this.name = "PolicyError";
  }
}

/** Tool arguments failed validation; names the offending field. */
export class InputError extends LoomError {
  /** The argument name (dotted for nested values), or "" for the whole object. */
  readonly field: string;

  /**
   * @param field argument name
   * @param message what is wrong with it
   */
  constructor(field: string, message: string) {
    super("INPUT_INVALID", field ? `Invalid argument "${field}": ${message}` : message);
    this.name = "InputError";
    this.field = field;
  }
}

/** An upstream HTTP call failed (status, reset, bad body). */
export class UpstreamError extends LoomError {
  /** @param code one of the upstream codes */
  constructor(
    code: "UPSTREAM_FAILED" | "UPSTREAM_TIMEOUT" | "RESPONSE_TOO_LARGE",
    message: string,
    options?: ErrorOptions,
  ) {
    super(code, message, options);
    this.name = "UpstreamError";
  }
}

/** Data failed an integrity check (audit chain, signature). */
export class IntegrityError extends LoomError {
  /** @param message what failed */
  constructor(message: string, options?: ErrorOptions) {
    super("INTEGRITY_FAILED", message, options);
    this.name = "IntegrityError";
  }
}

/** Something named does not exist (file, tool, record). */
export class NotFoundError extends LoomError {
  /** @param message what is missing */
  constructor(message: string, options?: ErrorOptions) {
    super("NOT_FOUND", message, options);
    this.name = "NotFoundError";
  }
}

/** Wrong command-line usage. */
export class UsageError extends LoomError {
  /** @param message what is wrong with the invocation */
  constructor(message: string) {
    super("USAGE", message);
    this.name = "UsageError";
  }
}

/**
 * CLI exit codes (sysexits.h). The single table mapping error codes to process
 * exit statuses.
 */
export const EXIT_CODES: Readonly<Record<LoomErrorCode, number>> = {
  USAGE: 64,
  INPUT_INVALID: 65,
  INTEGRITY_FAILED: 65,
  NOT_FOUND: 66,
  UNAVAILABLE: 69,
  UPSTREAM_FAILED: 69,
  UPSTREAM_TIMEOUT: 75,
  RESPONSE_TOO_LARGE: 69,
  RATE_LIMITED: 75,
  HELD_FOR_REVIEW: 75,
  AUDIT_UNAVAILABLE: 75,
  POLICY_DENIED: 77,
  CONFIG_INVALID: 78,
  INTERNAL: 70,
};
