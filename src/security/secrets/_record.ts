/**
 * The one writer of `credential_access` audit records, shared by the vault
 * (`set`, `remove`, `rotate`), the grants (`grant`, `revoke`) and the resolver
 * (`resolve`), so every part records the same event shape. Callers pass key
 * names, digests and `value_hmac`, never a value.
 *
 * @module
 */

import type { AuditEntryInput, AuditLog } from "../audit/mod.ts";

/** The fields of one record besides its event: at least the agent. */
export type CredentialAccessFields = { agent: string; [field: string]: unknown };

/**
 * Append one `credential_access` record.
 *
 * @returns settles when the audit log has the record (rejects when it cannot be written)
 */
export function recordCredentialAccess(
  audit: AuditLog,
  fields: CredentialAccessFields,
): Promise<unknown> {
  const entry: AuditEntryInput = { event: "credential_access", tool: null, ...fields };
  return audit.append(entry);
}
