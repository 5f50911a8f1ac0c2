/**
 * After step 9, the result of a tool with an `output_schema`: checked
 * against it with the validator compiled when the gate was built
 * (`src/config/output_schema.ts`). A result that matches is answered with
 * `structuredContent` (the object) beside its text; one that does not, or an
 * upstream answer that is not JSON, is a tool error naming the first
 * mismatching path, recorded as an `error` outcome like any other. A result is
 * never answered as if it matched when it does not, and never silently
 * stripped of its structure.
 *
 * It runs on the redacted result only: the value is the one step 9 read back
 * from the redacted text, and the message names paths whose keys come from
 * that value, so no released secret reaches `structuredContent` or the
 * message.
 *
 * @module
 */

import type { OutcomeFields } from "../../security/audit/mod.ts";
import { toolError } from "./call.ts";
import type { ToolEntry } from "./01_resolve.ts";
import type { Executed } from "./08_execute.ts";

/** The start of every message of this step. */
const MISMATCH = "Upstream result does not match the tool's output_schema";

/**
 * Check a successful result against the tool's `output_schema`.
 *
 * @param entry the tool (its compiled validator, or null)
 * @param executed the redacted answer of step 9
 * @returns the answer with `structuredContent`, or a tool error; `executed`
 *   itself when the tool declares no schema or the call already failed
 */
export function checkOutput(entry: ToolEntry, executed: Executed): Executed {
  const validate = entry.output;
  if (validate === null || executed.status !== "success") return executed;
  const json = executed.json;
  if (json === undefined) return mismatch(executed, `${MISMATCH}: the upstream did not send JSON`);
  if (json === null) {
    return mismatch(executed, `${MISMATCH}: the result is not JSON once its secrets are redacted`);
  }
  const problem = validate(json.value);
  if (problem !== undefined) return mismatch(executed, `${MISMATCH}: ${problem}`);
  return {
    status: executed.status,
    fields: executed.fields,
    result: {
      ...executed.result,
      // The validator accepted a value of type object: a plain JSON object.
      structuredContent: json.value as Record<string, unknown>,
    },
  };
}

function mismatch(executed: Executed, message: string): Executed {
  const fields: OutcomeFields = { ...executed.fields, error: message, code: "UPSTREAM_FAILED" };
  return { status: "error", result: toolError(message), fields };
}
