/**
 * The errors of the MCP upstream client, in LOOM's words: each names the
 * agent, none carries a secret, the upstream's stderr or its raw text.
 *
 * @module
 */

import { LoomError, UpstreamError } from "../../errors.ts";

/** A JSON-RPC error the upstream answered; its code kept for the caller to map. */
export class UpstreamRpcError extends UpstreamError {
  /** The JSON-RPC error code the upstream sent. */
  readonly rpcCode: number;

  /**
   * @param agent the agent's name
   * @param method the method the upstream refused
   * @param rpcCode its error code
   */
  constructor(agent: string, method: string, rpcCode: number) {
    super("UPSTREAM_FAILED", `Agent "${agent}": upstream answered ${method} with error ${rpcCode}`);
    this.name = "UpstreamRpcError";
    this.rpcCode = rpcCode;
  }
}

/** A JSON-RPC error LOOM answers to a request of the upstream. */
export class RpcFault extends Error {
  /** The JSON-RPC error code. */
  readonly code: number;

  /**
   * @param code JSON-RPC error code
   * @param message the error's message (LOOM's own words)
   */
  constructor(code: number, message: string) {
    super(message);
    this.name = "RpcFault";
    this.code = code;
  }
}

/** `UPSTREAM_FAILED` with the agent named. */
export function failed(agent: string, what: string): UpstreamError {
  return new UpstreamError("UPSTREAM_FAILED", `Agent "${agent}": upstream ${what}`);
}

/**
 * The error of an aborted call, as the HTTP bridge maps its own: a
 * `LoomError` reason as is, an `AbortError` as a cancellation, anything else
 * (a `TimeoutError`) as a timeout.
 *
 * @param agent the agent's name
 * @param signal the aborted signal
 * @returns the error to reject with
 */
export function abortError(agent: string, signal: AbortSignal): LoomError {
  const reason = signal.reason;
  if (reason instanceof LoomError) return reason;
  if (reason instanceof DOMException && reason.name === "AbortError") {
    return new UpstreamError("UPSTREAM_FAILED", `Agent "${agent}": upstream call was cancelled`);
  }
  return new UpstreamError(
    "UPSTREAM_TIMEOUT",
    `Agent "${agent}": upstream did not answer within the call deadline`,
  );
}

/** Resolve `promise`, or reject with {@linkcode abortError} as soon as `signal` aborts. */
export function raceAbort<T>(agent: string, promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(abortError(agent, signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError(agent, signal));
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}

/** Wait `ms`, or reject with {@linkcode abortError} when `signal` aborts first. */
export function sleep(agent: string, ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0) {
    return signal.aborted ? Promise.reject(abortError(agent, signal)) : Promise.resolve();
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  const wait = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  return raceAbort(agent, wait, signal).finally(() => clearTimeout(timer));
}
