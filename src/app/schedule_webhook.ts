/**
 * The webhook of a scheduled run (`triggers[].webhook`): one JSON POST of
 * the run's result, sent with LOOM's own HTTP client under the same
 * destination rules as a bridge (`src/net/destination.ts`): the host is
 * resolved and every address in a private or special range is refused
 * unless the URL names it as an IP literal, names loopback as loopback, or
 * the agent's `runtime.allow_networks` holds it; the connected socket is
 * checked against the approved addresses before a byte is written. No
 * redirect is followed. A failure is a result, never an exception.
 *
 * @module
 */

import { checkDestination, destinationPin, type HostLookup, type HttpClient } from "../net/mod.ts";
import { PolicyError } from "../errors.ts";

/** Longest `result_text` sent, in characters; a longer one is cut and marked. */
export const MAX_WEBHOOK_TEXT = 16_384;
/** How long one delivery may take (check, connect, send, answer): 10 s. */
export const WEBHOOK_TIMEOUT_MS = 10_000;
/** Most bytes of the receiver's answer read (then dropped). */
const MAX_ANSWER_BYTES = 65_536;

/** The JSON body of a webhook POST. */
export interface WebhookBody {
  agent: string;
  tool: string;
  /** The trigger's cron expression. */
  trigger: string;
  /** When the run was due, ISO-8601 UTC. */
  fired_at: string;
  /** `success`, `error` (the gate answered a tool error: refused, held, upstream error) or `failed`. */
  status: "success" | "error" | "failed";
  /** The gate's answer (already redacted), at most {@linkcode MAX_WEBHOOK_TEXT} characters. */
  result_text: string;
}

/** How a delivery ended. */
export type WebhookResult =
  | { result: "delivered"; status: number }
  | { result: "failed"; reason: string; status?: number }
  | { result: "refused"; reason: string };

/** One delivery (of a scheduled run's result, or another JSON body: anomaly alerts). */
export interface WebhookPost<B extends object = WebhookBody> {
  url: string;
  body: B;
  /** The agent's `runtime.allow_networks`. */
  allowNetworks: readonly string[];
  /** Ends the delivery early (the scheduler closing). */
  signal: AbortSignal;
  /** Default {@linkcode WEBHOOK_TIMEOUT_MS}. */
  timeoutMs?: number;
  /** Resolver seam of the destination check (tests). */
  lookup?: HostLookup;
}

/**
 * A result text bounded to {@linkcode MAX_WEBHOOK_TEXT} characters.
 *
 * @param text the gate's answer
 */
export function boundedText(text: string): string {
  if (text.length <= MAX_WEBHOOK_TEXT) return text;
  let cut = MAX_WEBHOOK_TEXT - 1;
  const code = text.charCodeAt(cut - 1);
  if (code >= 0xd800 && code <= 0xdbff) cut--; // never split a surrogate pair
  return `${text.slice(0, cut)}…`;
}

/**
 * POST a run's result to its webhook.
 *
 * @param client LOOM's HTTP client (the scheduler's own)
 * @param post the URL, body, allowances and signal
 * @returns delivered (2xx), failed (another status, a network error, the
 *   timeout) or refused (the destination check)
 */
export async function postWebhook<B extends object>(
  client: HttpClient,
  post: WebhookPost<B>,
): Promise<WebhookResult> {
  const url = new URL(post.url);
  const policy = { allowNetworks: post.allowNetworks, configuredHost: url.hostname };
  const signal = AbortSignal.any([
    post.signal,
    AbortSignal.timeout(post.timeoutMs ?? WEBHOOK_TIMEOUT_MS),
  ]);
  try {
    const verdict = await checkDestination(url, { ...policy, lookup: post.lookup });
    if (!verdict.allow) return { result: "refused", reason: verdict.reason };
    signal.throwIfAborted();
    const pin = destinationPin(url.hostname, verdict.addresses, policy);
    const response = await client.request({
      method: "POST",
      url,
      headers: new Headers({ "content-type": "application/json" }),
      body: JSON.stringify(post.body),
      signal,
      pin,
    });
    try {
      await response.read(MAX_ANSWER_BYTES);
    } catch {
      response.discard();
    }
    if (response.status >= 200 && response.status < 300) {
      return { result: "delivered", status: response.status };
    }
    return {
      result: "failed",
      reason: `the receiver answered HTTP ${response.status}`,
      status: response.status,
    };
  } catch (error) {
    if (error instanceof PolicyError) return { result: "refused", reason: error.message };
    const reason = signal.aborted && !post.signal.aborted
      ? "timed out"
      : error instanceof Error
      ? error.message
      : String(error);
    return { result: "failed", reason: reason.slice(0, 256) };
  }
}
