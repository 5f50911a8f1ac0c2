/**
 * The CIDR texts `runtime.allow_networks` accepts (private to config/; the
 * schema re-exports them). The address arithmetic is `src/net/cidr.ts`.
 *
 * @module
 */

/** An IPv4 CIDR block: four decimal octets without leading zeros, and a prefix 0-32. */
export const IPV4_CIDR: RegExp =
  /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\/(?:3[0-2]|[12]?\d)$/;

const IPV6_PREFIX_LENGTH = /^(?:12[0-8]|1[01]\d|[1-9]?\d)$/;
const IPV6_ADDRESS_TEXT = /^[0-9A-Fa-f:.]{2,45}$/;

/**
 * An IPv6 CIDR block: an address the URL parser accepts between brackets
 * (so exactly the RFC 4291 text forms), `/`, and a prefix 0-128.
 *
 * @param text e.g. `fd00::/8`
 * @returns true when it is one
 */
export function isIpv6Cidr(text: string): boolean {
  const slash = text.indexOf("/");
  if (slash < 0 || !IPV6_PREFIX_LENGTH.test(text.slice(slash + 1))) return false;
  const address = text.slice(0, slash);
  if (!IPV6_ADDRESS_TEXT.test(address) || !address.includes(":")) return false;
  try {
    new URL(`http://[${address}]/`);
    return true;
  } catch {
    return false;
  }
}
