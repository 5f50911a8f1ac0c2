/**
 * The `requestState` of an approval asked for in a 2026-07-28
 * `input_required` result (multi round-trip requests): the client must echo
 * it back unchanged with its answer, and LOOM must treat what comes back as
 * attacker-controlled. So the state is signed: `v1.<payload>.<mac>`, both
 * parts base64url, the MAC an HMAC-SHA256 over the payload under a key kept
 * in the LOOM home (`keys/request_state.key`, 32 random bytes, mode 0600,
 * created on first use). A client can neither forge a state nor alter one
 * (another approval, tool, arguments, config, caller or expiry).
 *
 * The payload names the approval and its whole binding (agent, tool, SHA-256
 * of the arguments, config digest), the OAuth caller's subject (or null) and
 * an expiry; {@linkcode RequestStateSigner.verify} checks each against the
 * call it arrives with. A valid state only lets an answer be applied to that
 * approval; single use is enforced by the approval itself (the database),
 * not by the state.
 *
 * @module
 */

import { join } from "node:path";
import { LoomError } from "../../errors.ts";
import {
  ensureHome,
  ensurePrivateDir,
  type LoomHome,
  readPrivateFile,
  writeFileExclusive,
} from "../../store/mod.ts";

/** What a request state says. */
export interface ApprovalState {
  /** The approval's id. */
  approval: string;
  agent: string;
  tool: string;
  argsSha256: string;
  configDigest: string;
  /** The OAuth caller's subject, or null without one. */
  subject: string | null;
  /** Milliseconds since the epoch. */
  expiresAt: number;
}

/** Longest state accepted back (a signed state is far shorter). */
export const MAX_REQUEST_STATE = 2048;
const KEY_BYTES = 32;
const PREFIX = "v1";

/** Signs and verifies approval request states under the home's key. */
export class RequestStateSigner {
  readonly #key: CryptoKey;

  private constructor(key: CryptoKey) {
    this.#key = key;
  }

  /**
   * Load (creating on first use) the key of a LOOM home.
   *
   * @param home the LOOM home
   * @throws {PolicyError} when the key file or its directory is not private
   * @throws {LoomError} `INTEGRITY_FAILED` when the file is not 32 bytes
   */
  static async open(home: LoomHome): Promise<RequestStateSigner> {
    await ensureHome(home);
    await ensurePrivateDir(home.keys, "keys directory");
    const path = join(home.keys, "request_state.key");
    const what = "request state key file";
    let raw = await readPrivateFile(path, what, { maxBytes: KEY_BYTES });
    if (raw === null) {
      const fresh = crypto.getRandomValues(new Uint8Array(KEY_BYTES));
      await writeFileExclusive(path, fresh); // false: another process made it first
      fresh.fill(0);
      raw = await readPrivateFile(path, what, { maxBytes: KEY_BYTES });
    }
    if (raw === null || raw.length !== KEY_BYTES) {
      throw new LoomError(
        "INTEGRITY_FAILED",
        `Cannot use ${what} "${path}": it must hold exactly ${KEY_BYTES} bytes`,
      );
    }
    const bytes = new Uint8Array(raw); // an ArrayBuffer-backed copy for WebCrypto
    raw.fill(0);
    try {
      const key = await crypto.subtle.importKey(
        "raw",
        bytes,
        { name: "HMAC", hash: "SHA-256" },
        false,
        ["sign", "verify"],
      );
      return new RequestStateSigner(key);
    } finally {
      bytes.fill(0);
    }
  }

  /**
   * Sign a state.
   *
   * @param state the approval, its binding, the caller and the expiry
   * @returns the opaque token for `requestState`
   */
  async sign(state: ApprovalState): Promise<string> {
    const payload = base64url(new TextEncoder().encode(JSON.stringify([
      state.approval,
      state.agent,
      state.tool,
      state.argsSha256,
      state.configDigest,
      state.subject,
      state.expiresAt,
    ])));
    const mac = await crypto.subtle.sign("HMAC", this.#key, signed(payload));
    return `${PREFIX}.${payload}.${base64url(new Uint8Array(mac))}`;
  }

  /**
   * Verify a token that came back from a client, and that it is for this
   * call.
   *
   * @param token the `requestState` the client sent
   * @param expected the call's binding and caller
   * @param now milliseconds since the epoch
   * @returns the state, or null when it is malformed, forged, altered,
   *   expired, or for another approval binding or caller
   */
  async verify(
    token: string,
    expected: Omit<ApprovalState, "approval" | "expiresAt">,
    now: number,
  ): Promise<ApprovalState | null> {
    if (token.length > MAX_REQUEST_STATE) return null;
    const parts = token.split(".");
    if (parts.length !== 3 || parts[0] !== PREFIX) return null;
    const mac = fromBase64url(parts[2]);
    if (mac === null) return null;
    // crypto.subtle.verify compares in constant time.
    if (!(await crypto.subtle.verify("HMAC", this.#key, mac, signed(parts[1])))) return null;
    const bytes = fromBase64url(parts[1]);
    if (bytes === null) return null;
    let fields: unknown;
    try {
      fields = JSON.parse(new TextDecoder().decode(bytes));
    } catch {
      return null;
    }
    if (!Array.isArray(fields) || fields.length !== 7) return null;
    const [approval, agent, tool, argsSha256, configDigest, subject, expiresAt] = fields;
    const state = { approval, agent, tool, argsSha256, configDigest, subject, expiresAt };
    if (
      typeof approval !== "string" || typeof expiresAt !== "number" ||
      agent !== expected.agent || tool !== expected.tool ||
      argsSha256 !== expected.argsSha256 || configDigest !== expected.configDigest ||
      subject !== expected.subject || !(expiresAt > now)
    ) {
      return null;
    }
    return state as ApprovalState;
  }
}

function signed(payload: string): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(`loom-approval-request-state\n${payload}`);
}

function base64url(bytes: Uint8Array): string {
  let text = "";
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

function fromBase64url(text: string): Uint8Array<ArrayBuffer> | null {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return null;
  try {
    const binary = atob(text.replaceAll("-", "+").replaceAll("_", "/"));
    return Uint8Array.from(binary, (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
}
