/**
 * The one writer of `credential_access` audit records, shared by the vault
 * (`set`, `remove`, `rotate`), the grants (`grant`, `revoke`) and the resolver
 * (`resolve`), so every part records the same event shape: the shapes are
 * `CredentialChange` and `CredentialResolve` in `src/security/audit/events.ts`.
 * Callers pass key names, digests and `value_hmac`, never a value.
 *
 * @module
 */

import type { AuditLog, CredentialChange, CredentialResolve } from "../audit/mod.ts";

type WithoutConstants<E> = E extends unknown ? Omit<E, "event" | "tool"> : never;

/** The fields of one record besides its event (and, for changes, its null tool). */
export type CredentialAccessFields =
  | WithoutConstants<CredentialChange>
  | Omit<CredentialResolve, "event">;

/**
 * Append one `credential_access` record.
 *
 * @returns settles when the audit log has the record (rejects when it cannot be written)
 */
export function recordCredentialAccess(
  audit: AuditLog,
  fields: CredentialAccessFields,
): Promise<unknown> {
  return audit.append(
    "tool" in fields
      ? { event: "credential_access", ...fields }
      : { event: "credential_access", tool: null, ...fields },
  );
}
