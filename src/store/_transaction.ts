/**
 * One write transaction on the state database, shared by the tables of this
 * folder: `BEGIN IMMEDIATE` takes the write lock first, so a transaction that
 * reads and then writes can never fail to upgrade its lock half-way.
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";

/** Run `fn` in a `BEGIN IMMEDIATE` transaction: committed when it returns, rolled back when it throws. */
export function immediate<T>(db: DatabaseSync, fn: () => T): T {
  db.exec("BEGIN IMMEDIATE");
  try {
    const result = fn();
    db.exec("COMMIT");
    return result;
  } catch (error) {
    if (db.isTransaction) db.exec("ROLLBACK");
    throw error;
  }
}
