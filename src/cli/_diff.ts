/**
 * The unified diff of `loom quarantine show` and `loom pin`: it lives in
 * `src/_util/diff.ts` (the dashboard shows it too); re-exported here for the
 * commands.
 *
 * @module
 */

export { MAX_DIFF_LINES, unifiedDiff } from "../_util/diff.ts";
