/**
 * The network layer: what an address is, where LOOM may send a request, and
 * the HTTP/1.1 client that sends it. Below the config; it knows nothing of
 * agents, bridges or tools.
 *
 * - `address.ts`: the address table (IPv4 and IPv6 parsing, special and
 *   private ranges, embedded IPv4 forms, CIDR containment, loopback);
 * - `destination.ts`: the destination policy built on it;
 * - `cidr.ts`: the exact IPv4 interval arithmetic behind the sandbox's
 *   `--deny-net` list;
 * - `http1/`: the HTTP/1.1 client (`docs/decisions/0001-http-client.md`).
 *
 * @example
 * ```ts
 * import { classifyAddress, subtractCidrs } from "./mod.ts";
 *
 * classifyAddress("::ffff:127.0.0.1"); // { cidr: "127.0.0.0/8", kind: "loopback" }
 * subtractCidrs(["127.0.0.0/8"], ["127.0.0.1"]).length; // 24
 * ```
 *
 * @module
 */

export {
  type AddressRange,
  cidrContains,
  classifyAddress,
  isIpLiteral,
  isLoopbackHost,
  isPrivateOrSpecialAddress,
  parseIpv4,
  SPECIAL_IPV4_RANGES,
  SPECIAL_IPV6_RANGES,
} from "./address.ts";
export {
  checkConnectedAddress,
  checkDestination,
  type CheckDestinationOptions,
  checkLiteralDestination,
  destinationPin,
  type DestinationVerdict,
  type HostLookup,
} from "./destination.ts";
export {
  formatIpv4,
  intervalToCidrs,
  ipv4InCidr,
  type Ipv4Interval,
  parseIpv4Cidr,
  subtractCidrs,
} from "./cidr.ts";
export * from "./http1/mod.ts";
