/**
 * Helpers for this folder's tests only.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { type LoomHome, resolveHome } from "../../store/mod.ts";
import { AuditLog } from "../audit/mod.ts";
import { CredentialBroker, type CredentialBrokerOptions } from "./broker.ts";

/** A throwaway LOOM home, removed on dispose. */
export interface TempHome extends AsyncDisposable {
  home: LoomHome;
}

/** Make a temp LOOM home. */
export async function tempHome(): Promise<TempHome> {
  const root = await Deno.makeTempDir({ prefix: "loom_secrets_test_" });
  await Deno.chmod(root, 0o700);
  return {
    home: resolveHome(new Map([["LOOM_HOME", root]])),
    [Symbol.asyncDispose]: () => Deno.remove(root, { recursive: true }),
  };
}

/** A home with an open audit log and broker, all released on dispose. */
export interface Fixture extends AsyncDisposable {
  home: LoomHome;
  audit: AuditLog;
  broker: CredentialBroker;
  /** Open another broker on the same home and audit log (closed with the fixture). */
  another(options?: Partial<CredentialBrokerOptions>): Promise<CredentialBroker>;
}

/** Open a fixture; `env` defaults to an empty environment (key file mode). */
export async function openFixture(
  options: { env?: Map<string, string>; cacheTtlMs?: number } = {},
): Promise<Fixture> {
  const t = await tempHome();
  const audit = await AuditLog.open(t.home.audit);
  const env = options.env ?? new Map<string, string>();
  const broker = await CredentialBroker.open({
    home: t.home,
    env,
    audit,
    cacheTtlMs: options.cacheTtlMs,
  });
  const others: CredentialBroker[] = [];
  return {
    home: t.home,
    audit,
    broker,
    async another(extra = {}) {
      const b = await CredentialBroker.open({ home: t.home, env, audit, ...extra });
      others.push(b);
      return b;
    },
    async [Symbol.asyncDispose]() {
      for (const b of others) await b.close();
      await broker.close();
      await audit.close();
      await t[Symbol.asyncDispose]();
    },
  };
}

/** Every audit record of the fixture's log, parsed. */
export async function auditRecords(fixture: Fixture): Promise<Record<string, unknown>[]> {
  await fixture.audit.flush();
  const text = await Deno.readTextFile(fixture.audit.path);
  return text.split("\n").filter(Boolean).map((l) => JSON.parse(l));
}

/** A config digest for tests: SHA-256 of `text`. */
export function digestOf(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}
