/**
 * LOOM's persistent state: the `$LOOM_HOME` layout (and, in later issues, the
 * SQLite registry, grants and approvals; the only user of `node:sqlite`).
 *
 * @example
 * ```ts
 * import { ensureHome, resolveHome } from "./mod.ts";
 * const home = await ensureHome(resolveHome(Deno.env));
 * console.log(home.audit);
 * ```
 *
 * @module
 */

export * from "./home.ts";
