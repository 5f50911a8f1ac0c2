/**
 * Step 9, redact: every secret value released for the call leaves the
 * result, the error text and the outcome's fields, in every encoding
 * `src/security/redact/redactor.ts` searches for (plain, escaped,
 * percent-encoded, base64, hex and more), so neither the client nor the
 * audit log sees it, whatever the upstream echoed. The value a tool with an
 * `output_schema` returns as `structuredContent` is read back from the
 * redacted text.
 *
 * @module
 */

import type { OutcomeFields } from "../../security/audit/mod.ts";
import { type Executed, readJson } from "./08_execute.ts";
import type { Released } from "./07_secrets.ts";

/**
 * The call's answer and outcome fields without any released secret. A JSON
 * value (for `structuredContent`, step 9's check in `output.ts`) is taken
 * from the redacted text, never redacted on its own: what the client gets as
 * structure is exactly what it gets as text, and a secret the text redactor
 * caught anywhere (in a key, a number, an escaped form) cannot survive in it.
 */
export function redactExecuted(executed: Executed, released: Released): Executed {
  const redaction = released.redaction;
  if (redaction === null) return executed;
  const original = executed.result.content;
  const content = original.map((c) => ({ ...c, text: redaction.redact(c.text) }));
  const structured = executed.result.structuredContent;
  const redacted: Executed = {
    status: executed.status,
    result: {
      ...executed.result,
      content,
      // Only a gateway answer has structure here (a bridge's is read back after this step).
      ...(structured === undefined
        ? {}
        : { structuredContent: redaction.redactJson(structured) as Record<string, unknown> }),
    },
    fields: redaction.redactJson(executed.fields) as OutcomeFields,
  };
  if (executed.json !== undefined) {
    const unchanged = content.every((c, i) => c.text === original[i].text);
    redacted.json = unchanged || executed.json === null
      ? executed.json
      : readJson(content[0]?.text);
  }
  return redacted;
}
