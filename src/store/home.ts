/**
 * LOOM's state directory: `$LOOM_HOME`, default `~/.loom`. Created with mode
 * 0700 so audit records and keys are not readable by other users.
 *
 * @module
 */

import { join } from "node:path";

/** Paths inside a LOOM home. */
export interface LoomHome {
  root: string;
  audit: string;
  db: string;
  keys: string;
  /**
   * The Ed25519 key that signs audit checkpoints, `keys/audit-signing.key`
   * (0600, created on first use; its public half is `keys/audit-signing.pub`).
   * Outside the audit directory, so whoever can edit the log cannot sign.
   */
  auditSigningKey: string;
  quarantine: string;
  /** The encrypted secrets vault, `secrets.enc`. */
  secrets: string;
}

/**
 * Where LOOM keeps its state.
 *
 * @param env the environment to read `LOOM_HOME` and `HOME` from
 * @returns the resolved paths (nothing is created)
 */
export function resolveHome(env: { get(key: string): string | undefined }): LoomHome {
  const root = env.get("LOOM_HOME") || join(env.get("HOME") ?? ".", ".loom");
  return {
    root,
    audit: join(root, "audit"),
    db: join(root, "loom.db"),
    keys: join(root, "keys"),
    auditSigningKey: join(root, "keys", "audit-signing.key"),
    quarantine: join(root, "quarantine"),
    secrets: join(root, "secrets.enc"),
  };
}

/**
 * Create the home directory (0700) if needed and tighten its mode.
 *
 * @param home the paths from {@linkcode resolveHome}
 * @returns the same paths
 */
export async function ensureHome(home: LoomHome): Promise<LoomHome> {
  await Deno.mkdir(home.root, { recursive: true, mode: 0o700 });
  if (Deno.build.os !== "windows") {
    const info = await Deno.stat(home.root);
    if (info.mode !== null && (info.mode & 0o077) !== 0) await Deno.chmod(home.root, 0o700);
  }
  return home;
}
