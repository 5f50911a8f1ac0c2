/**
 * Bounds of the call-time walk over untrusted arguments (private to
 * validate/). The value rules of a parameter, with the default string length
 * and the array cap, are the config's (`src/config/param_rules.ts`).
 *
 * @module
 */

/** Objects with more keys than this are refused (free-form objects only). */
export const MAX_OBJECT_KEYS = 1_000;
/** A top-level argument is level 1; a value nested deeper than this is refused. */
export const MAX_DEPTH = 8;
/** Values visited in one call; bounds the work a single call can cause. */
export const MAX_VALUES = 100_000;
/** Findings kept per call in `audit` mode, so one call cannot flood the audit log. */
export const MAX_FINDINGS = 50;
