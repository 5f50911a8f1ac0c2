/**
 * A tool's `title`: a short display name for people, listed as the tool's
 * `title` in `tools/list`. One line of plain text: bounded, with no control
 * characters (invisible and bidirectional ones, and tool-poisoning text, are
 * refused by the load-time scan in `_checks.ts`, as in descriptions).
 *
 * @module
 */

import { z } from "zod";

/** Longest tool `title`, in UTF-16 code units. */
export const MAX_TITLE_LENGTH = 100;

/** C0 and C1 controls and DEL. */
// deno-lint-ignore no-control-regex
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/;

/** The `title` key of an exposed tool (optional). */
export const ToolTitle = z.string().min(1).max(MAX_TITLE_LENGTH).refine(
  (text) => !CONTROL_CHARACTER.test(text),
  { error: "Title must not contain control characters (line breaks, tabs, escapes)" },
).optional().meta({
  description: `Short display name for people, at most ${MAX_TITLE_LENGTH} characters ` +
    "(listed as title); the model still gets the name and description",
});
