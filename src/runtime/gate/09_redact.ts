/**
 * Step 9, redact: every secret value released for the call leaves the
 * result, the error text and the outcome's fields, in every encoding
 * `src/security/redact/redactor.ts` searches for (plain, escaped,
 * percent-encoded, base64, hex and more), so neither the client nor the
 * audit log sees it, whatever the upstream echoed.
 *
 * @module
 */

import type { OutcomeFields } from "../../security/audit/mod.ts";
import type { Executed } from "./08_execute.ts";
import type { Released } from "./07_secrets.ts";

/** The call's answer and outcome fields without any released secret. */
export function redactExecuted(executed: Executed, released: Released): Executed {
  const redaction = released.redaction;
  if (redaction === null) return executed;
  return {
    status: executed.status,
    result: {
      ...executed.result,
      content: executed.result.content.map((c) => ({ ...c, text: redaction.redact(c.text) })),
    },
    fields: redaction.redactJson(executed.fields) as OutcomeFields,
  };
}
