/**
 * Why an agent's config cannot use a secret, and the `loom secrets` command
 * that fixes it. The gate's refusal (through `SecretResolver.resolve` in `resolver.ts`),
 * `loom validate` and `loom secrets policy --config` all word a problem
 * through {@linkcode describeSecretProblem}, so an operator reads the same
 * sentence and the same command wherever it shows.
 *
 * Three problems look alike from the outside (the call gets no secret) but
 * need different fixes: the secret was never stored (`not_found`: `set`), it
 * is stored but not granted to this agent (`no_grant`: `grant`), or it was
 * granted to an earlier version of the config file (`config_mismatch`: review
 * the change, then `grant` again; the grant pins the file's SHA-256). A
 * secret that is both unset and ungranted is `not_found`, and its message
 * names both commands.
 *
 * A message names the secret, the agent, digest prefixes (12 hex digits) and
 * the config path; never a value. Working this out needs no master key: the
 * vault's names are plain text and grants live in the state database, so
 * {@linkcode checkSecretAccess} decrypts nothing and records nothing.
 *
 * @module
 */

import { NotFoundError } from "../../errors.ts";
import { type Grant, type LoomHome, openStore, statPrivateFile } from "../../store/mod.ts";
import { readVault } from "./_vault_file.ts";

/** Why a resolution was refused (also the `reason` of its audit records). */
export type DenialReason = "no_grant" | "config_mismatch" | "not_found";

/** Why one secret cannot be used by one agent's config. */
export interface SecretProblem {
  /** The secret's name. */
  name: string;
  /** The agent (`config.name`). */
  agent: string;
  /** `not_found` when the secret is not set, else the grant's problem. */
  reason: DenialReason;
  /** Whether the vault holds the name; null when that could not be read. */
  set: boolean | null;
  /** The digest the agent's grant of this name is pinned to; null without a grant. */
  grantedDigest: string | null;
  /** The digest of the config in use. */
  configDigest: string;
}

/** What {@linkcode diagnoseSecret} looks at. */
export interface SecretState {
  agent: string;
  configDigest: string;
  /** Whether the vault holds the name; null when unknown. */
  set: boolean | null;
  /** The pinned digest of the agent's grant, or null without one. */
  grantedDigest: string | null;
}

/**
 * Decide whether `name` is usable, and if not, which problem it has.
 *
 * @param name the secret name
 * @param state whether it is set, the grant's digest, the config's digest
 * @returns the problem, or null when the secret is set and granted to this config
 */
export function diagnoseSecret(name: string, state: SecretState): SecretProblem | null {
  const reason: DenialReason | null = state.set === false
    ? "not_found"
    : state.grantedDigest === null
    ? "no_grant"
    : state.grantedDigest !== state.configDigest
    ? "config_mismatch"
    : null;
  return reason === null ? null : { name, reason, ...state };
}

/**
 * One line for an operator: which problem it is and the command that fixes
 * it. Never holds a value.
 *
 * @param problem from {@linkcode diagnoseSecret} or {@linkcode checkSecretAccess}
 * @param options the config file's path as the operator gave it (default `PATH`)
 * @returns e.g. `Secret "api-key" is set but not granted to agent "weather":
 *   grant it with "loom secrets grant weather api-key --config weather.yaml"`
 */
export function describeSecretProblem(
  problem: SecretProblem,
  options: { configPath?: string } = {},
): string {
  const { name, agent } = problem;
  const grant = `"loom secrets grant ${agent} ${name} --config ${
    shellWord(options.configPath ?? "PATH")
  }"`;
  const pinned = problem.grantedDigest === null ? "" : short(problem.grantedDigest);
  const current = short(problem.configDigest);
  switch (problem.reason) {
    case "not_found": {
      const set = `"loom secrets set ${name}"`;
      if (problem.grantedDigest === null) {
        return `Secret "${name}" is not set and not granted to agent "${agent}": ` +
          `store it with ${set}, then grant it with ${grant}`;
      }
      if (problem.grantedDigest !== problem.configDigest) {
        return `Secret "${name}" is not set, and its grant to agent "${agent}" is pinned to ` +
          `config sha256 ${pinned}, not this config's sha256 ${current}: store it with ${set}, ` +
          `then review the config and grant it again with ${grant}`;
      }
      return `Secret "${name}" is not set: store it with ${set}`;
    }
    case "no_grant":
      return `Secret "${name}" is ${problem.set ? "set but " : ""}not granted to agent ` +
        `"${agent}": grant it with ${grant}`;
    case "config_mismatch":
      if (problem.grantedDigest?.startsWith("signer:")) {
        const keyId = problem.grantedDigest.slice("signer:".length);
        return `Secret "${name}" is granted to agent "${agent}" for configs signed by key ` +
          `${keyId}, and this config (sha256 ${current}) is not verified as signed by it: ` +
          `review it and sign it with that key ("loom sign config ${
            shellWord(options.configPath ?? "PATH")
          }"), or grant it again with ${grant}`;
      }
      return `Secret "${name}" is granted to agent "${agent}" for config sha256 ${pinned}, ` +
        `but this config is sha256 ${current} (it changed after the grant): review the ` +
        `change, then grant it again with ${grant}`;
  }
}

/**
 * Find the secrets an agent's config names that it cannot use, reading the
 * vault's names and the grants only: no master key, no audit record, nothing
 * created (a missing state database means no grants).
 *
 * @param home the LOOM home
 * @param request the agent, its config's digest, the secret names its bridges use
 * @returns one problem per unusable name, in the order given
 * @throws {NotFoundError} when the LOOM home does not exist
 * @throws {PolicyError} when the vault or state database is not private
 * @throws {IntegrityError} when the vault is malformed
 */
export async function checkSecretAccess(
  home: LoomHome,
  request: { agent: string; configDigest: string; names: readonly string[] },
): Promise<SecretProblem[]> {
  try {
    await Deno.stat(home.root);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    throw new NotFoundError(`LOOM home "${home.root}" does not exist`);
  }
  const vault = await readVault(home.secrets);
  let grants: Grant[] = [];
  if (await statPrivateFile(home.db, "state database") !== null) {
    await using store = await openStore(home);
    grants = store.grants.list({ agent: request.agent });
  }
  const pinned = new Map(grants.map((g) => [g.key, g.configDigest]));
  const problems: SecretProblem[] = [];
  for (const name of new Set(request.names)) {
    const problem = diagnoseSecret(name, {
      agent: request.agent,
      configDigest: request.configDigest,
      set: vault?.entries.has(name) ?? false,
      grantedDigest: pinned.get(name) ?? null,
    });
    if (problem !== null) problems.push(problem);
  }
  return problems;
}

/** The first 12 hex digits of a digest, as `loom secrets policy` shows it. */
function short(digest: string): string {
  return digest.slice(0, 12);
}

/** A path as one shell word: bare when it is plain, else single-quoted. */
function shellWord(text: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(text) ? text : `'${text.replaceAll("'", `'\\''`)}'`;
}
