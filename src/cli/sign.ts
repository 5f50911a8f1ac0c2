/**
 * `loom sign keygen | public | trust | config | all | verify`: config
 * signing on the command line (`src/security/signing/`,
 * `docs/security-controls.md`). A signature covers the agent name, the
 * SHA-256 of the config file's exact bytes, a version and an expiry, and is
 * written beside it as `NAME.yaml.sig`; `loom run` checks it before serving
 * and refuses an expired signature or a version older than one it accepted. Every key change, signature and check is an
 * audit record (`config_signature`).
 *
 * @module
 */

import { join } from "node:path";
import { parseOptions } from "./_args.ts";
import { loadConfig } from "../config/mod.ts";
import { ConfigError, formatConfigIssue, LoomError, UsageError } from "../errors.ts";
import { AuditLog } from "../security/audit/mod.ts";
import {
  checkConfigSignature,
  exportPublicKey,
  generateSigningKey,
  listTrustedKeys,
  loadSigningKey,
  parseExpiresOption,
  parseVersionOption,
  recordSignatureCheck,
  signaturePath,
  signConfig,
  type SignedConfig,
  type SigningAlgorithm,
  type SigningKey,
  type SignOptions,
  trustPublicKey,
} from "../security/signing/mod.ts";
import { ensureHome, type LoomHome, resolveHome } from "../store/mod.ts";
import { suggest } from "../_util/suggest.ts";
import { escapeForTerminal } from "../_util/terminal.ts";
import type { CliIo } from "./_io.ts";

/** Help text of `loom sign`. */
export const SIGN_HELP = `Usage: loom sign <command> [options]

Sign agent configs so that "loom run" serves only the bytes a person
reviewed. A signature covers the agent name, the SHA-256 of the config file's
exact bytes (any change, even a comment, breaks it), a version number and an
expiry, and is stored beside the file as NAME.yaml.sig. Ed25519 by default;
HMAC-SHA256 with --hmac (one shared secret key that both signs and verifies,
for a single host).

Commands:
  keygen [--hmac] [--force]  make this home's signing key: Ed25519 in
                             $LOOM_HOME/keys/config-signing.key (0600), its
                             public key trusted in $LOOM_HOME/keys/trusted/;
                             --hmac: a key in keys/config-signing.hmac
  public                     print this home's Ed25519 public key, to copy to
                             another host's "loom sign trust"
  trust FILE                 trust the public key in FILE (as printed by
                             "loom sign public"); lists the trusted keys
                             without FILE
  config PATH [--hmac] [--version N] [--expires WHEN]
                             check that PATH loads, then sign it (PATH.sig)
  all DIR [--hmac] [--version N] [--expires WHEN]
                             sign every *.yaml and *.yml file in DIR
  verify PATH|DIR            check the signature of a config, or of every
                             config in DIR (version, expiry, verdict); exit
                             65 when any is bad or missing (it accepts no
                             version: only "loom run" does)

"loom run" refuses (exit 65) a config whose signature is bad, for other
bytes, by a key not in keys/trusted/, expired, or of a version lower than one
this home already accepted for the agent (a rollback); a signature expiring
within 14 days loads with a warning. It serves an unsigned config with one
warning, or refuses it (exit 77) under --require-signed or
LOOM_REQUIRE_SIGNED=1. A secret grant can be pinned to a signing key
("loom secrets grant ... --signed-by KEYID").

Options:
      --hmac     (keygen, config, all) use the HMAC-SHA256 key
      --force    (keygen) replace an existing key: what it signed stops verifying
      --version N  (config, all) the version to sign (a positive integer);
                 default one more than the highest this home signed or accepted
                 for the agent. A version is used for one content only.
      --expires WHEN  (config, all) when the signature ends: a duration (90d,
                 12h) or a UTC date (2027-06-30); default 365d. There is no
                 "never": an old signature must not be servable forever.
  -h, --help     show this help

Examples:
  loom sign keygen
  loom sign config agents/github.yaml
  loom sign config agents/github.yaml --expires 90d
  loom sign all agents
  loom sign verify agents
  loom sign public > github-signer.pub      # then, on another host:
  loom sign trust github-signer.pub
`;

const SUBCOMMANDS = ["keygen", "public", "trust", "config", "all", "verify"];

/** `loom sign`. */
export async function signCommand(args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === "-h" || sub === "--help" || sub === "help") {
    io.out(SIGN_HELP);
    return sub === undefined ? 64 : 0;
  }
  if (!SUBCOMMANDS.includes(sub)) {
    const hint = suggest(sub, SUBCOMMANDS);
    throw new UsageError(
      `Unknown sign command "${sub.slice(0, 32)}"` +
        (hint ? `: did you mean "${hint}"?` : `: expected ${SUBCOMMANDS.join(", ")}`),
    );
  }
  const { values, positionals } = parseOptions({
    args: rest,
    allowPositionals: true,
    options: {
      hmac: { type: "boolean" },
      force: { type: "boolean" },
      version: { type: "string" },
      expires: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return (io.out(SIGN_HELP), 0);
  if (values.hmac && !["keygen", "config", "all"].includes(sub)) {
    throw new UsageError(`Option --hmac applies only to "sign keygen", "sign config", "sign all"`);
  }
  if (values.force && sub !== "keygen") {
    throw new UsageError(`Option --force applies only to "sign keygen"`);
  }
  for (const option of ["version", "expires"] as const) {
    if (values[option] !== undefined && sub !== "config" && sub !== "all") {
      throw new UsageError(`Option --${option} applies only to "sign config", "sign all"`);
    }
  }
  const now = new Date();
  const signOptions: SignOptions = {
    now,
    expires: parseExpiresOption(values.expires, now),
    ...(values.version !== undefined ? { version: parseVersionOption(values.version) } : {}),
  };
  const algorithm: SigningAlgorithm = values.hmac ? "hmac-sha256" : "ed25519";
  const home = await ensureHome(resolveHome(io.env));
  await using audit = await AuditLog.open(home.audit);
  switch (sub) {
    case "keygen": {
      expectArgs(positionals, 0, "loom sign keygen [--hmac] [--force]");
      const made = await generateSigningKey(home, algorithm, { force: values.force });
      await audit.append({
        event: "config_signature",
        agent: "loom",
        tool: null,
        action: "keygen",
        algorithm,
        key_id: made.keyId,
      });
      io.out(`Created ${algorithm} signing key ${made.keyId} in ${made.keyFile}\n`);
      if (made.publicFile) io.out(`Trusted its public key: ${made.publicFile}\n`);
      return 0;
    }
    case "public": {
      expectArgs(positionals, 0, "loom sign public");
      io.out(await exportPublicKey(home));
      return 0;
    }
    case "trust": {
      if (positionals.length === 0) {
        const ids = await listTrustedKeys(home);
        if (ids.length === 0) io.err(`No trusted keys (make one with "loom sign keygen")\n`);
        else io.out(ids.join("\n") + "\n");
        return 0;
      }
      expectArgs(positionals, 1, "loom sign trust [FILE]");
      const text = await Deno.readTextFile(positionals[0]);
      let doc: unknown;
      try {
        doc = JSON.parse(text);
      } catch {
        throw new LoomError("INPUT_INVALID", `"${positionals[0]}" is not a JSON public key`);
      }
      const { keyId, file } = await trustPublicKey(home, doc);
      await audit.append({
        event: "config_signature",
        agent: "loom",
        tool: null,
        action: "trust",
        algorithm: "ed25519",
        key_id: keyId,
        path: positionals[0],
      });
      io.out(`Trusted public key ${keyId} (${file})\n`);
      return 0;
    }
    case "config": {
      expectArgs(positionals, 1, "loom sign config PATH [--hmac] [--version N] [--expires WHEN]");
      const key = await loadSigningKey(home, algorithm);
      const config = await loadConfig(positionals[0]);
      const subject = { name: config.name, path: positionals[0], digest: config.source.digest };
      const sig = await signOne(home, audit, subject, key, signOptions);
      io.out(
        `Signed "${positionals[0]}" with ${algorithm} key ${key.keyId}: version ` +
          `${sig.version}, expires ${sig.expires}\n`,
      );
      return 0;
    }
    case "all": {
      expectArgs(positionals, 1, "loom sign all DIR [--hmac] [--version N] [--expires WHEN]");
      const key = await loadSigningKey(home, algorithm);
      let failed = 0;
      const files = await configFiles(positionals[0], io);
      for (const file of files) {
        try {
          const config = await loadConfig(file);
          const subject = { name: config.name, path: file, digest: config.source.digest };
          const sig = await signOne(home, audit, subject, key, signOptions);
          io.out(`signed ${file}: version ${sig.version}, expires ${sig.expires}\n`);
        } catch (error) {
          failed++;
          reportFailure(io, file, error);
        }
      }
      io.out(
        `Signed ${files.length - failed} of ${files.length} config(s) with key ${key.keyId}\n`,
      );
      return failed === 0 ? 0 : 78;
    }
    default: { // verify
      expectArgs(positionals, 1, "loom sign verify PATH|DIR");
      return await verifyCommand(home, audit, positionals[0], io);
    }
  }
}

async function signOne(
  home: LoomHome,
  audit: AuditLog,
  config: SignedConfig,
  key: SigningKey,
  options: SignOptions,
) {
  const sig = await signConfig(home, config, key, options);
  await audit.append({
    event: "config_signature",
    agent: config.name,
    tool: null,
    action: "sign",
    algorithm: key.algorithm,
    key_id: key.keyId,
    config_digest: `sha256:${config.digest}`,
    path: config.path,
    version: sig.version,
    expires: sig.expires,
  });
  return sig;
}

async function verifyCommand(
  home: LoomHome,
  audit: AuditLog,
  target: string,
  io: CliIo,
): Promise<number> {
  const info = await Deno.stat(target);
  const files = info.isDirectory ? await configFiles(target, io) : [target];
  let bad = 0;
  for (const file of files) {
    let config;
    try {
      config = await loadConfig(file);
    } catch (error) {
      bad++;
      reportFailure(io, file, error);
      continue;
    }
    const subject = { name: config.name, path: file, digest: config.source.digest };
    // Read-only: verifying does not accept the version (only "loom run" does).
    const check = await checkConfigSignature(home, subject);
    await recordSignatureCheck(audit, subject, check, false);
    const shown = escapeForTerminal(file);
    if (check.verdict === "valid") {
      io.out(
        `ok ${shown}: ${check.algorithm} key ${check.keyId}, version ${check.version}, ` +
          `signed ${check.signedAt}, expires ${check.expires}\n`,
      );
    } else if (check.verdict === "unsigned") {
      bad++;
      io.out(`unsigned ${shown}: no ${escapeForTerminal(signaturePath(file))}\n`);
    } else {
      bad++;
      const version = check.version === undefined
        ? ""
        : ` (version ${check.version}, expires ${check.expires})`;
      io.out(`${check.verdict} ${shown}${version}: ${escapeForTerminal(check.detail)}\n`);
    }
  }
  if (files.length === 0) io.err(`No *.yaml or *.yml files in "${escapeForTerminal(target)}"\n`);
  return bad === 0 ? 0 : 65;
}

/** The regular `*.yaml` and `*.yml` files of a directory, sorted; symlinks are skipped. */
async function configFiles(dir: string, io: CliIo): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (!/\.ya?ml$/.test(entry.name)) continue;
    if (entry.isSymlink) {
      io.err(`warning: skipping symlink "${escapeForTerminal(join(dir, entry.name))}"\n`);
      continue;
    }
    if (entry.isFile) files.push(join(dir, entry.name));
  }
  return files.sort();
}

function reportFailure(io: CliIo, file: string, error: unknown): void {
  if (error instanceof ConfigError) {
    for (const issue of error.issues) {
      io.err(`error: ${escapeForTerminal(formatConfigIssue(issue))}\n`);
    }
  } else if (error instanceof Error) {
    io.err(`error: ${escapeForTerminal(file)}: ${escapeForTerminal(error.message)}\n`);
  } else throw error;
}

function expectArgs(positionals: string[], count: number, usage: string): void {
  if (positionals.length !== count) {
    throw new UsageError(
      `Expected ${count === 0 ? "no arguments" : `${count} argument(s)`}: ${usage}`,
    );
  }
}
