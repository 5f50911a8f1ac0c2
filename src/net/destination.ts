/**
 * Destination policy for outgoing upstream requests: whether a URL may be
 * contacted, and whether a socket went where the check said.
 *
 * This is LOOM's own check, run before every hop (the first request and each
 * redirect). It resolves the host and refuses any resolved address in a
 * private or special range (the address table of `address.ts`, where an
 * IPv6 address that embeds an IPv4 address is judged as that IPv4 address)
 * unless the config names it: the configured IP literal itself, loopback for
 * a `localhost` or loopback config, or a network of `allow_networks`.
 *
 * Time of check and time of use. The name is resolved here and again when the
 * socket connects; a DNS server can answer a public address to the first
 * lookup and a private one (or `::ffff:127.0.0.1`, which Deno's `--deny-net`
 * CIDRs do not match) to the second. So the HTTP client is handed the checked
 * addresses: where it may, it connects to one of them directly, and in every
 * mode it compares the connected socket's remote address with
 * {@linkcode checkConnectedAddress} before writing a byte.
 *
 * @module
 */

import { lookup as dnsLookup } from "node:dns/promises";
import { PolicyError, UpstreamError } from "../errors.ts";
import type { ConnectionPin } from "./http1/mod.ts";
import {
  type AddressRange,
  classifyParsed,
  effectiveAddress,
  isIpLiteral,
  networkContains,
  parseAddress,
  type ParsedAddress,
  parseNetwork,
  sameAddress,
  stripBrackets,
} from "./address.ts";

const VOWEL_START = /^[aeiou]/i;

/** Outcome of {@linkcode checkDestination}. */
export type DestinationVerdict =
  | { allow: true; addresses: string[] }
  | { allow: false; reason: string };

/** Resolves a hostname to its IP addresses (the resolver seam). */
export type HostLookup = (host: string) => Promise<string[]>;

/** Options of {@linkcode checkDestination}. */
export interface CheckDestinationOptions {
  /** Private or special networks (CIDR) the config names on purpose. */
  allowNetworks: readonly string[];
  /** The host of the bridge URL as configured (`URL.hostname`, brackets allowed). */
  configuredHost: string;
  /** Resolver; defaults to `node:dns/promises` `lookup(host, { all: true })`. */
  lookup?: HostLookup;
}

async function defaultLookup(host: string): Promise<string[]> {
  const found = await dnsLookup(host, { all: true });
  return found.map((a) => a.address);
}

/**
 * Decide whether a URL's host may be contacted.
 *
 * The host is resolved (an IP literal is used as is; WHATWG `URL` has already
 * normalised numeric forms such as `2130706433` to `127.0.0.1`). Every
 * resolved address in a private or special range must be named by the config:
 * the configured host is that very IP literal; or the configured host is
 * `localhost` or a loopback literal and the address is loopback; or the
 * address is inside one of `allowNetworks`.
 *
 * See the module doc for the time-of-check / time-of-use limit of this check.
 *
 * @param url the destination
 * @param options the config's allowances and an optional resolver
 * @returns `{ allow: true, addresses }` or `{ allow: false, reason }`
 * @throws {UpstreamError} `UPSTREAM_FAILED` when the host cannot be resolved
 */
export async function checkDestination(
  url: URL,
  options: CheckDestinationOptions,
): Promise<DestinationVerdict> {
  const literal = checkLiteralDestination(url, options);
  if (literal !== null) return literal;
  const host = stripBrackets(url.hostname);
  let addresses: string[];
  try {
    addresses = await (options.lookup ?? defaultLookup)(host);
  } catch {
    throw new UpstreamError("UPSTREAM_FAILED", `Cannot resolve "${host}"`);
  }
  if (addresses.length === 0) {
    throw new UpstreamError("UPSTREAM_FAILED", `Cannot resolve "${host}": no addresses`);
  }
  return judgeAddresses(host, addresses, options);
}

/**
 * {@linkcode checkDestination} without a lookup, for a URL whose host is an IP
 * literal: the verdict, decided synchronously, or null when the host is a name
 * that must be resolved first.
 *
 * @param url the destination
 * @param options the config's allowances
 * @returns the verdict, or null for a host name
 */
export function checkLiteralDestination(
  url: URL,
  options: CheckDestinationOptions,
): DestinationVerdict | null {
  const host = stripBrackets(url.hostname);
  return isIpLiteral(host) ? judgeAddresses(host, [host], options) : null;
}

/** What the config names on purpose, derived once per judgement. */
interface Allowance {
  configuredAddr: ParsedAddress | null;
  configuredLoopback: boolean;
  allowNetworks: readonly string[];
}

function allowanceOf(
  options: Pick<CheckDestinationOptions, "allowNetworks" | "configuredHost">,
): Allowance {
  const configured = stripBrackets(options.configuredHost);
  const configuredAddr = isIpLiteral(configured) ? parseAddress(configured) : null;
  const configuredLoopback = configured.toLowerCase() === "localhost" ||
    (configuredAddr !== null &&
      classifyParsed(effectiveAddress(configuredAddr))?.kind === "loopback");
  return { configuredAddr, configuredLoopback, allowNetworks: options.allowNetworks };
}

/**
 * The range an address is refused for, or null when it is public or the
 * config names it: the configured IP literal itself, loopback for a loopback
 * config, or a network of `allowNetworks` holding the address or the IPv4
 * address it embeds.
 */
function refusedRange(parsed: ParsedAddress, allowance: Allowance): AddressRange | null {
  const judged = effectiveAddress(parsed);
  const range = classifyParsed(judged);
  if (range === null) return null;
  const { configuredAddr } = allowance;
  if (configuredAddr !== null && sameAddress(configuredAddr, parsed)) return null;
  if (allowance.configuredLoopback && range.kind === "loopback") return null;
  for (const net of allowance.allowNetworks) {
    const cidr = parseNetwork(net);
    if (networkContains(cidr, judged) || (judged !== parsed && networkContains(cidr, parsed))) {
      return null;
    }
  }
  return range;
}

function refusal(host: string, verb: string, range: AddressRange): DestinationVerdict {
  const article = VOWEL_START.test(range.kind) ? "an" : "a";
  return {
    allow: false,
    reason: `Destination "${host}" ${verb} ${article} ${range.kind} address (${range.cidr})`,
  };
}

function judgeAddresses(
  host: string,
  addresses: string[],
  options: CheckDestinationOptions,
): DestinationVerdict {
  const allowance = allowanceOf(options);
  for (const address of addresses) {
    const parsed = parseAddress(address);
    if (parsed === null) {
      return { allow: false, reason: `Destination "${host}" resolves to an invalid address` };
    }
    const range = refusedRange(parsed, allowance);
    if (range !== null) return refusal(host, "resolves to", range);
  }
  return { allow: true, addresses };
}

/**
 * Decide whether a connected socket may carry the request: its remote
 * address must pass the same policy as {@linkcode checkDestination}, and be
 * one of the addresses that check approved (an IPv4-mapped address equals
 * the IPv4 address it maps). Called after connecting and before writing a
 * byte, it closes the gap between the check's lookup and the connection's
 * own: a name rebound to loopback between the two, or resolved to a form
 * Deno's `--deny-net` does not match, is caught here.
 *
 * @param host the destination host, for the reason text
 * @param remote the socket's remote address (`Deno.NetAddr.hostname`)
 * @param approved the addresses {@linkcode checkDestination} returned
 * @param options the config's allowances
 * @returns `{ allow: true, addresses: [remote] }` or `{ allow: false, reason }`
 */
export function checkConnectedAddress(
  host: string,
  remote: string,
  approved: readonly string[],
  options: Pick<CheckDestinationOptions, "allowNetworks" | "configuredHost">,
): DestinationVerdict {
  const parsed = parseAddress(remote);
  if (parsed === null) {
    return { allow: false, reason: `Destination "${host}" connected to an invalid address` };
  }
  const range = refusedRange(parsed, allowanceOf(options));
  if (range !== null) return refusal(host, "connected to", range);
  for (const address of approved) {
    const checked = parseAddress(address);
    if (checked !== null && sameAddress(checked, parsed)) {
      return { allow: true, addresses: [remote] };
    }
  }
  return {
    allow: false,
    reason: `Destination "${host}" connected to an address that was not checked`,
  };
}

/**
 * The connection pin of a destination {@linkcode checkDestination} approved:
 * the addresses to connect to, and a judge of the connected socket's remote
 * address ({@linkcode checkConnectedAddress}) that throws the refusal before
 * a byte is written. Every client of LOOM that sends a request to a checked
 * destination (bridges, webhooks, the LLM client, MCP upstreams) pins its
 * connections with this one function.
 *
 * @param host the destination host, for the reason text
 * @param approved the addresses the check returned
 * @param options the allowances the check used
 * @param refuse makes the error thrown for a refused socket (default: a `PolicyError` of the reason)
 * @returns the pin to pass to the HTTP client
 */
export function destinationPin(
  host: string,
  approved: readonly string[],
  options: Pick<CheckDestinationOptions, "allowNetworks" | "configuredHost">,
  refuse: (reason: string) => Error = (reason) => new PolicyError(reason),
): ConnectionPin {
  return {
    addresses: approved,
    admit(remote) {
      const verdict = checkConnectedAddress(host, remote, approved, options);
      if (!verdict.allow) throw refuse(verdict.reason);
    },
  };
}
