/**
 * Limits shared by schema generation and validation (private to validate/).
 *
 * @module
 */

/** Strings longer than this many code points are refused when no `maxLength` is declared. */
export const DEFAULT_MAX_STRING_LENGTH = 10_000;
/** Arrays longer than this are refused, whatever `maxLength` says. */
export const MAX_ARRAY_ITEMS = 1_000;
/** Objects with more keys than this are refused (free-form objects only). */
export const MAX_OBJECT_KEYS = 1_000;
/** A top-level argument is level 1; a value nested deeper than this is refused. */
export const MAX_DEPTH = 8;
/** Values visited in one call; bounds the work a single call can cause. */
export const MAX_VALUES = 100_000;
/** Findings kept per call in `audit` mode, so one call cannot flood the audit log. */
export const MAX_FINDINGS = 50;
