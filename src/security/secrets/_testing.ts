/**
 * Helpers for this folder's tests only.
 *
 * @module
 */

import { createHash, createHmac } from "node:crypto";
import { join } from "node:path";
import { type LoomHome, resolveHome } from "../../store/mod.ts";
import { AuditLog } from "../audit/mod.ts";
import { auditSaltPath } from "./audit_hmac.ts";
import { CredentialBroker, type CredentialBrokerOptions } from "./broker.ts";
import type { ResolveRequest } from "./resolver.ts";

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
  options: { env?: Map<string, string>; cacheTtlMs?: number; rotateDataKeyAfter?: number } = {},
): Promise<Fixture> {
  const t = await tempHome();
  const audit = await AuditLog.open(t.home.audit);
  const env = options.env ?? new Map<string, string>();
  const broker = await CredentialBroker.open({
    home: t.home,
    env,
    audit,
    cacheTtlMs: options.cacheTtlMs,
    rotateDataKeyAfter: options.rotateDataKeyAfter,
  });
  const others: CredentialBroker[] = [];
  return {
    home: t.home,
    audit,
    broker,
    async another(extra = {}) {
      const b = await CredentialBroker.open({
        home: t.home,
        env,
        audit,
        rotateDataKeyAfter: options.rotateDataKeyAfter,
        ...extra,
      });
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

/** HMAC-SHA256 of `value` under the home's audit salt, by node:crypto (an independent implementation). */
export async function expectedHmac(home: LoomHome, value: string): Promise<string> {
  const salt = await Deno.readFile(auditSaltPath(home));
  return "hmac-sha256:" + createHmac("sha256", salt).update(value, "utf8").digest("hex");
}

/** The text of every file under a directory, recursively. */
export async function treeText(dir: string): Promise<string> {
  let text = "";
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) text += await treeText(path);
    else if (entry.isFile) text += new TextDecoder().decode(await Deno.readFile(path)) + "\n";
  }
  return text;
}

/** The forms of a value that must never appear in the audit log. */
export function valueForms(value: string): string[] {
  const bytes = new TextEncoder().encode(value);
  return [
    value,
    JSON.stringify(value).slice(1, -1),
    bytes.toBase64(),
    bytes.toBase64({ alphabet: "base64url", omitPadding: true }),
    encodeURIComponent(value),
    encodeURIComponent(value).replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()),
    bytes.toHex(),
  ];
}

/** The vault file as JSON (format 2). */
export interface VaultDoc {
  v: number;
  vault_id: string;
  dek?: {
    kid: string;
    alg: string;
    wrap: string;
    iv: string;
    wrapped: string;
    encryptions: number;
    created_at: string;
  };
  entries: Record<
    string,
    { kid?: string; iv: string; ct: string; version: number; updated_at: string }
  >;
}

/** Read the vault file as JSON. */
export async function readVaultDoc(home: LoomHome): Promise<VaultDoc> {
  return JSON.parse(await Deno.readTextFile(home.secrets)) as VaultDoc;
}

/** Write the vault file (0600) from JSON. */
export async function writeVaultDoc(home: LoomHome, doc: VaultDoc): Promise<void> {
  await Deno.writeTextFile(home.secrets, JSON.stringify(doc), { mode: 0o600 });
}

/** The digest the broker tests pin grants to: a config named "weather". */
export const WEATHER_DIGEST: string = digestOf("agent: weather v1");

/** A resolve request of the "weather" agent for "api-key", with overrides. */
export function weatherRequest(overrides: Partial<ResolveRequest> = {}): ResolveRequest {
  return {
    agent: "weather",
    configDigest: WEATHER_DIGEST,
    names: ["api-key"],
    origin: "https://api.example.com",
    tool: "forecast",
    call: "c-1",
    ...overrides,
  };
}

/** The broker's `resolve` audit records among `records`. */
export function resolveRecords(records: Record<string, unknown>[]): Record<string, unknown>[] {
  return records.filter((r) => r.event === "credential_access" && r.action === "resolve");
}
