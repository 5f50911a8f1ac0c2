/**
 * `loom secrets set | list | remove | grant | revoke | policy | rotate`: the
 * credential broker's command line (`docs/security-controls.md` §4). A secret's value is read from
 * standard input or a hidden prompt, never from the command line (argv shows
 * in the process list and in shell history), and is never printed.
 * {@linkcode readSecretValue} is shared with `loom audit hash`.
 *
 * @module
 */

import { parseOptions } from "./_args.ts";
import { loadConfig } from "../config/mod.ts";
import { bridgeSecretNames } from "../upstream/mod.ts";
import { LoomError, NotFoundError, PolicyError, UsageError } from "../errors.ts";
import { SECRET_NAME } from "../_util/template.ts";
import { AuditLog } from "../security/audit/mod.ts";
import {
  CredentialBroker,
  describeSecretProblem,
  MAX_SECRET_BYTES,
  type PolicyRow,
  type SecretProblem,
} from "../security/secrets/mod.ts";
import { ensureHome, resolveHome } from "../store/mod.ts";
import { escapeForTerminal } from "../_util/terminal.ts";
import { type CliIo, table } from "./_io.ts";

/** Help text of `loom secrets`. */
export const SECRETS_HELP = `Usage: loom secrets <command> [options]

Store secrets encrypted (AES-256-GCM under a data key wrapped by the master key)
in $LOOM_HOME/secrets.enc and decide which agent configs may use them. Configs name secrets as {{secret:KEY}} in headers
or bodies; a secret is only sent to the origin of the bridge that names it.

Commands:
  set KEY                   store or replace KEY; the value is read from stdin
                            when it is piped (one trailing newline is removed),
                            otherwise from a prompt that does not echo. Never
                            pass the value as an argument.
  list [-l]                 the stored names, one per line (never values);
                            -l adds the version and when each was set
  remove KEY                delete KEY (its grants stay; calls get nothing)
  grant AGENT KEY --config PATH
                            let AGENT use KEY while its config file is exactly
                            the one at PATH: the grant is pinned to the file's
                            SHA-256 digest, so a different or edited config
                            claiming the same agent name gets nothing (grant
                            again after reviewing a change)
  grant AGENT KEY --config PATH --signed-by KEYID
                            pin the grant to a config signing key instead:
                            any version of the config that "loom run" verifies
                            as signed by KEYID gets KEY, so a reviewed edit
                            keeps its secrets once re-signed; an unsigned
                            config, or one signed by another key, gets nothing
  revoke AGENT KEY          withdraw a grant
  policy [--config PATH]    the grants: agent, key, config digest, time; with
                            --config, a STATUS column says for that config's
                            agent whether each grant is current or stale
                            (pinned to an earlier version of the file), and a
                            warning per stale grant names both digests and
                            the command that grants it again
  rotate                    replace the data key now (e.g. after a suspected
                            exposure) and re-encrypt every value under it; a
                            set also rotates it long before it has encrypted
                            2^32 values (NIST SP 800-38D)

Every change and every use is recorded in the audit log (event
credential_access) by key name, never by value; a set or a use also records
value_hmac, the salted HMAC-SHA256 of the value ("loom audit hash" computes it
for a value you know).

Options:
  -c, --config PATH         (grant, policy) the agent's config file
      --signed-by KEYID     (grant) pin to this signing key ("loom sign keygen"
                            prints its id) instead of the file's digest
  -l, --long                (list) show version and update time
  -h, --help                show this help

Environment:
  LOOM_MASTER_KEY   the 32-byte master key as base64 or hex; without it LOOM
                    creates and uses $LOOM_HOME/keys/master.key (mode 0600).
                    Key, audit salt and secrets files readable by group or
                    others, or owned by another user, are refused.

Examples:
  printf '%s' "$GITHUB_TOKEN" | loom secrets set gh-token
  loom secrets set gh-token            # prompts, input hidden
  loom secrets grant github-issues gh-token --config agents/github.yaml
  loom secrets grant github-issues gh-token --config agents/github.yaml \
    --signed-by 3f9c0a1b2c3d4e5f
  loom secrets policy
  loom secrets policy --config agents/github.yaml
  loom secrets revoke github-issues gh-token
  loom secrets rotate
`;

const SUBCOMMANDS = ["set", "list", "remove", "grant", "revoke", "policy", "rotate"];
const AGENT_NAME = /^(?=.{1,64}$)[a-z0-9]+(-[a-z0-9]+)*$/;
const SIGNING_KEY_ID = /^[0-9a-f]{16}$/;

/** `loom secrets`. */
export async function secretsCommand(args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === "-h" || sub === "--help" || sub === "help") {
    io.out(SECRETS_HELP);
    return sub === undefined ? 64 : 0;
  }
  if (!SUBCOMMANDS.includes(sub)) {
    throw new UsageError(
      `Unknown secrets command "${sub.slice(0, 32)}": expected ${SUBCOMMANDS.join(", ")}`,
    );
  }
  // `set` is parsed by hand: a mistyped option could hold the value, and
  // parseArgs quotes unknown options in its messages.
  if (sub === "set") return await setCommand(rest, io);

  const { values, positionals } = parseOptions({
    args: rest,
    allowPositionals: true,
    options: {
      config: { type: "string", short: "c" },
      "signed-by": { type: "string" },
      long: { type: "boolean", short: "l" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return (io.out(SECRETS_HELP), 0);
  if (values.config !== undefined && sub !== "grant" && sub !== "policy") {
    throw new UsageError(`Option --config applies only to "secrets grant" and "secrets policy"`);
  }
  if (values["signed-by"] !== undefined && sub !== "grant") {
    throw new UsageError(`Option --signed-by applies only to "secrets grant"`);
  }
  if (values.long !== undefined && sub !== "list") {
    throw new UsageError(`Option --long applies only to "secrets list"`);
  }

  switch (sub) {
    case "list": {
      expectArgs(positionals, 0, "loom secrets list [-l]");
      return await withBroker(io, async (broker) => {
        const secrets = await broker.list();
        if (secrets.length === 0) {
          io.err(`No secrets stored (add one with "loom secrets set KEY")\n`);
        } else if (values.long) {
          io.out(table([
            ["NAME", "VERSION", "UPDATED-AT"],
            ...secrets.map((s) => [s.name, String(s.version), s.updatedAt]),
          ]));
        } else {
          io.out(secrets.map((s) => escapeForTerminal(s.name)).join("\n") + "\n");
        }
        return 0;
      });
    }
    case "remove": {
      expectArgs(positionals, 1, "loom secrets remove KEY");
      const key = checkKey(positionals[0]);
      return await withBroker(io, async (broker) => {
        if (!(await broker.remove(key))) throw new NotFoundError(`Secret "${key}" is not set`);
        io.out(`Removed secret "${key}"\n`);
        return 0;
      });
    }
    case "grant": {
      expectArgs(positionals, 2, "loom secrets grant AGENT KEY --config PATH");
      const agent = checkAgent(positionals[0]);
      const key = checkKey(positionals[1]);
      if (values.config === undefined) {
        throw new UsageError(
          "Missing --config PATH: a grant is pinned to the digest of the agent's config file",
        );
      }
      const path = values.config;
      const config = await loadConfig(path);
      if (config.name !== agent) {
        throw new PolicyError(
          `Cannot grant "${key}" to agent "${agent}": config "${path}" is for agent ` +
            `"${config.name}"`,
        );
      }
      const used = config.bridges.some((b) => bridgeSecretNames(b).includes(key));
      if (!used) io.err(`warning: config "${path}" does not use {{secret:${key}}}\n`);
      return await withBroker(io, async (broker) => {
        if (!(await broker.names()).includes(key)) {
          io.err(
            `warning: secret "${key}" is not set yet; store it with "loom secrets set ${key}"\n`,
          );
        }
        const signedBy = values["signed-by"];
        if (signedBy !== undefined) {
          if (!SIGNING_KEY_ID.test(signedBy)) {
            throw new UsageError("Invalid --signed-by: expected a 16-hex-digit signing key id");
          }
          await broker.grantToSigner(agent, key, signedBy, config.source.digest);
          io.out(
            `Granted "${key}" to agent "${agent}", pinned to signing key ${signedBy}: ` +
              `"loom run" releases it only to a config verified as signed by that key\n`,
          );
          return 0;
        }
        const grant = await broker.grant(agent, key, config.source.digest);
        io.out(
          `Granted "${key}" to agent "${agent}", pinned to config "${path}" ` +
            `(sha256 ${grant.configDigest.slice(0, 12)})\n` +
            `Editing the config withdraws access until it is granted again.\n`,
        );
        return 0;
      });
    }
    case "revoke": {
      expectArgs(positionals, 2, "loom secrets revoke AGENT KEY");
      const agent = checkAgent(positionals[0]);
      const key = checkKey(positionals[1]);
      return await withBroker(io, async (broker) => {
        if (!(await broker.revoke(agent, key))) {
          throw new NotFoundError(`No grant of "${key}" to agent "${agent}"`);
        }
        io.out(`Revoked "${key}" from agent "${agent}"\n`);
        return 0;
      });
    }
    case "rotate": {
      expectArgs(positionals, 0, "loom secrets rotate");
      return await withBroker(io, async (broker) => {
        const r = await broker.rotate();
        const from = r.previousKid === null
          ? "migrated from the format-1 vault"
          : `replaced ${r.previousKid.slice(0, 12)}`;
        io.out(
          `Rotated the data key to ${r.kid.slice(0, 12)} (${from}): ` +
            `re-encrypted ${r.values} secret${r.values === 1 ? "" : "s"}\n`,
        );
        return 0;
      });
    }
    default: { // policy
      expectArgs(positionals, 0, "loom secrets policy [--config PATH]");
      const path = values.config;
      const config = path === undefined ? undefined : await loadConfig(path);
      return await withBroker(io, (broker) => {
        const configDigest = config?.source.digest ?? "";
        const rows = broker.policy(config && { agent: config.name, configDigest });
        if (rows.length === 0) {
          io.err(`No grants (add one with "loom secrets grant AGENT KEY --config PATH")\n`);
          return Promise.resolve(0);
        }
        const head = ["AGENT", "KEY", "CONFIG-DIGEST", "GRANTED-AT"];
        const cells = (r: PolicyRow) => [r.agent, r.key, r.configDigest, r.grantedAt];
        if (path === undefined) {
          io.out(table([head, ...rows.map(cells)]));
          return Promise.resolve(0);
        }
        // With the config: that agent's grants are current or stale; others "-".
        const status = (stale: boolean | undefined) =>
          stale === undefined
            ? "-"
            : stale
            ? `stale: config is now ${configDigest.slice(0, 12)}`
            : "current";
        io.out(table([[...head, "STATUS"], ...rows.map((r) => [...cells(r), status(r.stale)])]));
        for (const r of rows) {
          if (!r.stale) continue;
          const problem: SecretProblem = {
            name: r.key,
            agent: r.agent,
            reason: "config_mismatch",
            set: null,
            grantedDigest: r.configDigest,
            configDigest,
          };
          const text = `${path}: ${describeSecretProblem(problem, { configPath: path })}`;
          io.err(`warning: ${escapeForTerminal(text)}\n`);
        }
        return Promise.resolve(0);
      });
    }
  }
}

async function setCommand(args: string[], io: CliIo): Promise<number> {
  if (args.some((a) => a === "-h" || a === "--help")) return (io.out(SECRETS_HELP), 0);
  if (args.some((a) => a.startsWith("-") && a !== "-" && a !== "--")) {
    throw new UsageError(
      `"loom secrets set" takes no options: the value is read from stdin or a hidden prompt`,
    );
  }
  const positionals = args.filter((a) => a !== "--");
  if (positionals.length === 0) throw new UsageError("Missing KEY: loom secrets set KEY");
  if (positionals.length > 1) {
    throw new UsageError(
      `"loom secrets set" takes only KEY: a value on the command line would show in the ` +
        `process list and shell history; pipe it on stdin or type it at the prompt`,
    );
  }
  const key = checkKey(positionals[0]);
  const value = await readSecretValue(io, {
    prompt: `Value for secret "${key}" (input hidden): `,
    what: "store secret",
  });
  if (value.length === 0) {
    throw new UsageError(`Refusing to store an empty value for secret "${key}"`);
  }
  return await withBroker(io, async (broker) => {
    const info = await broker.set(key, value);
    io.out(`Stored secret "${key}" (version ${info.version})\n`);
    return 0;
  });
}

async function withBroker(
  io: CliIo,
  fn: (broker: CredentialBroker) => Promise<number>,
): Promise<number> {
  const home = await ensureHome(resolveHome(io.env));
  await using audit = await AuditLog.open(home.audit);
  await using broker = await CredentialBroker.open({ home, env: io.env, audit });
  return await fn(broker);
}

function expectArgs(positionals: string[], count: number, usage: string): void {
  if (positionals.length !== count) {
    throw new UsageError(
      `Expected ${
        count === 0 ? "no arguments" : `${count} argument${count > 1 ? "s" : ""}`
      }: ${usage}`,
    );
  }
}

/** Check a secret name without quoting it (a mistaken value could sit there). */
function checkKey(key: string): string {
  if (!SECRET_NAME.test(key)) {
    throw new UsageError(
      "Invalid KEY: use 1-128 letters, digits, '_', '.' or '-', starting with a letter or digit",
    );
  }
  return key;
}

function checkAgent(agent: string): string {
  if (!AGENT_NAME.test(agent)) {
    throw new UsageError("Invalid AGENT: use the agent's kebab-case name, 1-64 characters");
  }
  return agent;
}

/**
 * Read a secret value from piped standard input (at most the largest secret,
 * UTF-8, one trailing newline removed) or, on a terminal, from a prompt that
 * does not echo. Never from argv.
 *
 * @param io the process
 * @param options the prompt, and what the value is for (`"store secret"`), for messages
 * @returns the value (possibly empty)
 * @throws {LoomError} `INPUT_INVALID` when it is too large or not UTF-8
 * @throws {UsageError} when the prompt is cancelled with Ctrl-C
 */
export async function readSecretValue(
  io: CliIo,
  options: { prompt: string; what: string },
): Promise<string> {
  return stdinIsTerminal(io)
    ? await promptHidden(options.prompt, io, options.what)
    : await readPiped(io.stdin, options.what);
}

/** Whether standard input is a terminal (`io.stdinIsTerminal` when the io provides it). */
function stdinIsTerminal(io: CliIo): boolean {
  const given = (io as CliIo & { stdinIsTerminal?: boolean }).stdinIsTerminal;
  return given ?? Deno.stdin.isTerminal();
}

/** Read piped input: at most the largest secret, UTF-8, one trailing newline removed. */
async function readPiped(stdin: ReadableStream<Uint8Array>, what: string): Promise<string> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  const limit = MAX_SECRET_BYTES + 2; // room for a trailing CRLF
  for await (const chunk of stdin) {
    size += chunk.length;
    if (size > limit) {
      for (const c of chunks) c.fill(0);
      throw new LoomError(
        "INPUT_INVALID",
        `Cannot ${what}: the value is larger than ${MAX_SECRET_BYTES} bytes`,
      );
    }
    chunks.push(chunk);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const c of chunks) (bytes.set(c, offset), offset += c.length, c.fill(0));
  return stripNewline(decodeValue(bytes, what));
}

function stripNewline(text: string): string {
  if (text.endsWith("\r\n")) return text.slice(0, -2);
  if (text.endsWith("\n")) return text.slice(0, -1);
  return text;
}

function decodeValue(bytes: Uint8Array, what: string): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new LoomError("INPUT_INVALID", `Cannot ${what}: the value is not valid UTF-8`);
  } finally {
    bytes.fill(0);
  }
}

/**
 * Read one line from the terminal with echo off (raw mode), handling
 * backspace, Ctrl-C (cancel) and Ctrl-D (end).
 */
async function promptHidden(label: string, io: CliIo, what: string): Promise<string> {
  const bytes: number[] = [];
  const buf = new Uint8Array(256);
  // Echo off before the prompt shows, so nothing typed after it is echoed.
  Deno.stdin.setRaw(true);
  try {
    io.err(label);
    read: while (true) {
      const n = await Deno.stdin.read(buf);
      if (n === null) break;
      for (const b of buf.subarray(0, n)) {
        if (b === 0x0d || b === 0x0a) break read;
        if (b === 0x03) throw new UsageError(`Cancelled: did not ${what}`);
        if (b === 0x04) {
          if (bytes.length === 0) break read;
          continue;
        }
        if (b === 0x7f || b === 0x08) {
          // Drop one whole UTF-8 character: continuation bytes, then its lead byte.
          while (bytes.length > 0 && (bytes[bytes.length - 1] & 0xc0) === 0x80) bytes.pop();
          bytes.pop();
          continue;
        }
        bytes.push(b);
      }
    }
  } finally {
    buf.fill(0);
    Deno.stdin.setRaw(false);
    io.err("\n");
  }
  const raw = Uint8Array.from(bytes);
  bytes.fill(0);
  return decodeValue(raw, what);
}
