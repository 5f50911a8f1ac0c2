/**
 * The address table: what an IP address is, written once for all of LOOM.
 *
 * - Parsing: dotted-quad IPv4 (no leading zeros), IPv6 in every textual
 *   form (compressed, with an IPv4 tail, bracketed, with a zone id), and the
 *   non-canonical numeric IPv4 forms a URL parser rewrites (`127.1`,
 *   `2130706433`, `0x7f.1`), normalised the way the WHATWG URL parser does.
 * - Classification: the private and special ranges of IPv4 (RFC 6890 and the
 *   IANA registry) and IPv6 (unique-local, link-local, site-local,
 *   multicast, documentation, benchmarking, discard-only, loopback,
 *   unspecified, local-use translation), with the kind of each.
 * - One address model: an IPv6 address that embeds an IPv4 address is
 *   judged as that IPv4 address, for ranges and networks alike: IPv4-mapped
 *   (`::ffff:0:0/96`, also written in hex as `::ffff:7f00:1`),
 *   IPv4-translated (`::ffff:0:0:0/96`), IPv4-compatible (`::/96`,
 *   deprecated: refused even when the IPv4 address is public), NAT64
 *   (`64:ff9b::/96`), 6to4 (`2002::/16`, bits 16-47) and Teredo
 *   (`2001::/32`, the client address in the last 32 bits, inverted). The
 *   local-use NAT64 prefix `64:ff9b:1::/48` can place the IPv4 address at
 *   several offsets, so the whole prefix is special.
 * - Networks: CIDR containment for both families (an IPv4-mapped address
 *   matches IPv4 networks), and the CIDR lists the sandbox denies.
 *
 * The destination policy (`destination.ts`), the sandbox's deny lists
 * (`src/security/sandbox/flags.ts`, with `cidr.ts`), the config's plain-http
 * warning and the HTTP transport's loopback checks all read this table.
 *
 * @module
 */

/** The range a private or special address falls in. */
export interface AddressRange {
  /** The range in CIDR notation, e.g. `10.0.0.0/8`. */
  cidr: string;
  /** What the range is for, in a few words (`private`, `loopback`, `link-local`, ...). */
  kind: string;
}

/** A parsed address: IPv4 as a 32-bit number, IPv6 as eight 16-bit words. */
export type ParsedAddress =
  | { v: 4; n: number }
  | { v: 6; w: Uint16Array };

const DECIMAL_OCTET = /^(?:0|[1-9][0-9]{0,2})$/;
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;
/** Characters of a numeric host the WHATWG URL parser may rewrite (`127.1`, `0x7f.1`). */
const NUMERIC_HOST = /^[0-9a-fA-FxX.]+$/;
const PREFIX_LENGTH = /^[0-9]{1,3}$/;

interface V4Range {
  base: number;
  mask: number;
  range: AddressRange;
}

function v4(text: string, bits: number, kind: string): V4Range {
  const n = parseIpv4(text)!;
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return { base: (n & mask) >>> 0, mask, range: { cidr: `${text}/${bits}`, kind } };
}

/** IPv4 special-purpose ranges (RFC 6890 and the IANA registry), most specific first. */
const V4_RANGES: readonly V4Range[] = [
  v4("255.255.255.255", 32, "broadcast"),
  v4("0.0.0.0", 8, "unspecified"),
  v4("10.0.0.0", 8, "private"),
  v4("100.64.0.0", 10, "shared (carrier-grade NAT)"),
  v4("127.0.0.0", 8, "loopback"),
  v4("169.254.0.0", 16, "link-local"),
  v4("172.16.0.0", 12, "private"),
  v4("192.0.0.0", 24, "IETF protocol assignment"),
  v4("192.0.2.0", 24, "documentation"),
  v4("192.168.0.0", 16, "private"),
  v4("198.18.0.0", 15, "benchmarking"),
  v4("198.51.100.0", 24, "documentation"),
  v4("203.0.113.0", 24, "documentation"),
  v4("224.0.0.0", 4, "multicast"),
  v4("240.0.0.0", 4, "reserved"),
];

const V6_UNSPECIFIED: AddressRange = { cidr: "::/128", kind: "unspecified" };
const V6_LOOPBACK: AddressRange = { cidr: "::1/128", kind: "loopback" };
const V6_COMPAT: AddressRange = { cidr: "::/96", kind: "reserved (IPv4-compatible)" };
const V6_ULA: AddressRange = { cidr: "fc00::/7", kind: "private" };
const V6_LINK_LOCAL: AddressRange = { cidr: "fe80::/10", kind: "link-local" };
const V6_SITE_LOCAL: AddressRange = { cidr: "fec0::/10", kind: "site-local" };
const V6_MULTICAST: AddressRange = { cidr: "ff00::/8", kind: "multicast" };
const V6_DOCUMENTATION: AddressRange = { cidr: "2001:db8::/32", kind: "documentation" };
const V6_DOCUMENTATION_3FFF: AddressRange = { cidr: "3fff::/20", kind: "documentation" };
const V6_NAT64_LOCAL: AddressRange = {
  cidr: "64:ff9b:1::/48",
  kind: "local-use IPv4/IPv6 translation",
};
const V6_DISCARD: AddressRange = { cidr: "100::/64", kind: "discard-only" };
const V6_BENCHMARKING: AddressRange = { cidr: "2001:2::/48", kind: "benchmarking" };

/**
 * Parse a dotted-quad IPv4 address (four decimal octets, no leading zeros).
 *
 * @param text e.g. `127.0.0.1`
 * @returns the address as an unsigned 32-bit integer, or null when it is not one
 */
export function parseIpv4(text: string): number | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  let n = 0;
  for (const p of parts) {
    if (!DECIMAL_OCTET.test(p)) return null;
    const octet = Number(p);
    if (octet > 255) return null;
    n = n * 256 + octet;
  }
  return n;
}

/**
 * Parse an IPv6 address: compressed or not, with an IPv4 tail, in brackets,
 * with a zone id (dropped).
 *
 * @param input e.g. `[fe80::1%eth0]`
 * @returns its eight 16-bit words, or null when it is not one
 */
export function parseIpv6(input: string): Uint16Array | null {
  let text = input;
  if (text.startsWith("[") && text.endsWith("]")) text = text.slice(1, -1);
  const zone = text.indexOf("%");
  if (zone >= 0) text = text.slice(0, zone);
  if (!text.includes(":")) return null;
  let tail4: number | null = null;
  if (text.includes(".")) {
    const cut = text.lastIndexOf(":");
    tail4 = parseIpv4(text.slice(cut + 1));
    if (tail4 === null) return null;
    text = text.slice(0, cut + 1) + "0:0";
  }
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const head = halves[0] === "" ? [] : halves[0].split(":");
  const tail = halves.length === 2 ? (halves[1] === "" ? [] : halves[1].split(":")) : [];
  const count = head.length + tail.length;
  if (halves.length === 1 ? count !== 8 : count > 7) return null;
  const words = new Uint16Array(8);
  for (let i = 0; i < head.length; i++) {
    if (!HEX_GROUP.test(head[i])) return null;
    words[i] = parseInt(head[i], 16);
  }
  for (let i = 0; i < tail.length; i++) {
    if (!HEX_GROUP.test(tail[i])) return null;
    words[8 - tail.length + i] = parseInt(tail[i], 16);
  }
  if (tail4 !== null) {
    words[6] = tail4 >>> 16;
    words[7] = tail4 & 0xffff;
  }
  return words;
}

/**
 * Parse an address; `::ffff:a.b.c.d` (IPv4-mapped) becomes the IPv4 address
 * it maps: it is that address on the wire, and the runtime shows the peer of
 * a dual-stack socket that way.
 */
export function parseAddress(text: string): ParsedAddress | null {
  const n = parseIpv4(text);
  if (n !== null) return { v: 4, n };
  const w = parseIpv6(text);
  if (w !== null) {
    if (isMapped(w)) return { v: 4, n: low32(w) };
    return { v: 6, w };
  }
  // Non-canonical numeric IPv4 (`2130706433`, `0x7f000001`, `0177.0.0.1`,
  // `127.1`): normalise the way the WHATWG URL parser (and so fetch) does.
  if (NUMERIC_HOST.test(text)) {
    try {
      const host = new URL(`http://${text}/`).hostname;
      const m = parseIpv4(host);
      if (m !== null) return { v: 4, n: m };
    } catch {
      return null;
    }
  }
  return null;
}

function isMapped(w: Uint16Array): boolean {
  return w[0] === 0 && w[1] === 0 && w[2] === 0 && w[3] === 0 && w[4] === 0 && w[5] === 0xffff;
}

function low32(w: Uint16Array): number {
  return ((w[6] << 16) >>> 0) + w[7];
}

/** `::/96` minus `::` and `::1`: the deprecated IPv4-compatible form (RFC 4291 section 2.5.5.1). */
function isCompatible(w: Uint16Array): boolean {
  return w[0] === 0 && w[1] === 0 && w[2] === 0 && w[3] === 0 && w[4] === 0 && w[5] === 0 &&
    (w[6] !== 0 || w[7] > 1);
}

/**
 * The IPv4 address an IPv6 address embeds, or null: IPv4-translated
 * `::ffff:0:a.b.c.d` (RFC 2765), IPv4-compatible `::a.b.c.d`, NAT64
 * `64:ff9b::a.b.c.d` (RFC 6052 section 2.1), 6to4 `2002:AABB:CCDD::/48`
 * (RFC 3056 section 2) and Teredo `2001:0:S:S:F:P:C:C`, whose client address
 * C is stored inverted (RFC 4380 section 4). IPv4-mapped addresses never get
 * here: {@linkcode parseAddress} makes them IPv4.
 */
function embeddedV4(w: Uint16Array): number | null {
  const w0 = w[0];
  if (w0 === 0 && w[1] === 0 && w[2] === 0 && w[3] === 0) {
    if (w[4] === 0xffff && w[5] === 0) return low32(w);
    return isCompatible(w) ? low32(w) : null;
  }
  if (w0 === 0x64 && w[1] === 0xff9b && w[2] === 0 && w[3] === 0 && w[4] === 0 && w[5] === 0) {
    return low32(w);
  }
  if (w0 === 0x2002) return ((w[1] << 16) >>> 0) + w[2];
  if (w0 === 0x2001 && w[1] === 0) return (~low32(w)) >>> 0;
  return null;
}

/**
 * The address policy judges: the IPv4 address an IPv6 address embeds, else
 * the address itself. An IPv4-compatible address keeps its IPv6 form when
 * the IPv4 address is public, so that it is still refused as reserved.
 */
export function effectiveAddress(p: ParsedAddress): ParsedAddress {
  if (p.v === 4) return p;
  const n = embeddedV4(p.w);
  if (n === null || (isCompatible(p.w) && classifyV4(n) === null)) return p;
  return { v: 4, n };
}

function classifyV4(n: number): AddressRange | null {
  for (const r of V4_RANGES) {
    if (((n & r.mask) >>> 0) === r.base) return r.range;
  }
  return null;
}

/** Classify an IPv6 address that embeds no IPv4 address (see {@linkcode effectiveAddress}). */
function classifyV6(w: Uint16Array): AddressRange | null {
  const w0 = w[0];
  if (w0 === 0 && w[1] === 0 && w[2] === 0 && w[3] === 0 && w[4] === 0 && w[5] === 0) {
    if (w[6] === 0 && w[7] === 0) return V6_UNSPECIFIED;
    if (w[6] === 0 && w[7] === 1) return V6_LOOPBACK;
    return V6_COMPAT;
  }
  // RFC 8215: the IPv4 address may sit at any RFC 6052 offset; refuse the prefix.
  if (w0 === 0x64 && w[1] === 0xff9b && w[2] === 1) return V6_NAT64_LOCAL;
  if (w0 === 0x100 && w[1] === 0 && w[2] === 0 && w[3] === 0) return V6_DISCARD;
  if ((w0 & 0xfe00) === 0xfc00) return V6_ULA;
  if ((w0 & 0xffc0) === 0xfe80) return V6_LINK_LOCAL;
  if ((w0 & 0xffc0) === 0xfec0) return V6_SITE_LOCAL;
  if ((w0 & 0xff00) === 0xff00) return V6_MULTICAST;
  if (w0 === 0x2001 && w[1] === 0x0db8) return V6_DOCUMENTATION;
  if (w0 === 0x2001 && w[1] === 0x0002 && w[2] === 0) return V6_BENCHMARKING;
  if ((w0 & 0xfff0) === 0x3ff0) return V6_DOCUMENTATION_3FFF;
  return null;
}

/** Classify an address as policy sees it (pass it through {@linkcode effectiveAddress} first). */
export function classifyParsed(p: ParsedAddress): AddressRange | null {
  return p.v === 4 ? classifyV4(p.n) : classifyV6(p.w);
}

/**
 * Find the private or special range an IP address belongs to.
 *
 * IPv6 addresses that embed an IPv4 address (mapped, translated,
 * compatible, NAT64, 6to4, Teredo; see the module doc) are classified by the
 * IPv4 address they embed. Brackets and zone ids are accepted; non-canonical
 * IPv4 forms are normalised as the WHATWG URL parser does.
 *
 * @param ip an IPv4 or IPv6 address
 * @returns the range, or `null` for a public address
 * @throws {TypeError} when `ip` is not an IP address
 */
export function classifyAddress(ip: string): AddressRange | null {
  const p = parseAddress(ip);
  if (p === null) throw new TypeError(`Cannot classify "${ip}": not an IP address`);
  return classifyParsed(effectiveAddress(p));
}

/**
 * Whether an IP address is in a private or special range: loopback, private
 * (RFC 1918, IPv6 ULA), link-local, carrier-grade NAT, documentation,
 * benchmarking, multicast, reserved, broadcast or unspecified.
 *
 * @param ip an IPv4 or IPv6 address (brackets allowed)
 * @returns true when the address is not a public unicast address
 * @throws {TypeError} when `ip` is not an IP address
 */
export function isPrivateOrSpecialAddress(ip: string): boolean {
  return classifyAddress(ip) !== null;
}

/** True when the text is an IP address literal (brackets allowed). */
export function isIpLiteral(host: string): boolean {
  return parseIpv4(host) !== null || parseIpv6(host) !== null;
}

/** A parsed network: its address and prefix length. */
export interface ParsedNetwork {
  addr: ParsedAddress;
  bits: number;
}

const CIDR_CACHE = new Map<string, ParsedNetwork>();
const CIDR_CACHE_MAX = 256;

/**
 * Parse a network in CIDR notation (a bare address is one host), cached.
 *
 * @param cidr e.g. `10.0.0.0/8` or `fd00::/8`
 * @returns the address and prefix length
 * @throws {TypeError} when it is not a network
 */
export function parseNetwork(cidr: string): ParsedNetwork {
  const hit = CIDR_CACHE.get(cidr);
  if (hit) return hit;
  const slash = cidr.indexOf("/");
  const addrText = slash < 0 ? cidr : cidr.slice(0, slash);
  let addr: ParsedAddress | null = null;
  const n = parseIpv4(addrText);
  if (n !== null) addr = { v: 4, n };
  else {
    const w = parseIpv6(addrText);
    if (w !== null) addr = { v: 6, w };
  }
  if (addr === null) throw new TypeError(`Cannot parse network "${cidr}": not an IP address`);
  const max = addr.v === 4 ? 32 : 128;
  const bitsText = slash < 0 ? String(max) : cidr.slice(slash + 1);
  const bits = Number(bitsText);
  if (!PREFIX_LENGTH.test(bitsText) || bits > max) {
    throw new TypeError(`Cannot parse network "${cidr}": invalid prefix length`);
  }
  const parsed = { addr, bits };
  if (CIDR_CACHE.size >= CIDR_CACHE_MAX) CIDR_CACHE.clear();
  CIDR_CACHE.set(cidr, parsed);
  return parsed;
}

function toWords(p: ParsedAddress): Uint16Array {
  if (p.v === 6) return p.w;
  const w = new Uint16Array(8);
  w[5] = 0xffff;
  w[6] = p.n >>> 16;
  w[7] = p.n & 0xffff;
  return w;
}

/**
 * Whether a parsed network contains a parsed address (an IPv4 address
 * matches an IPv6 network through its mapped form).
 */
export function networkContains(net: ParsedNetwork, ip: ParsedAddress): boolean {
  if (net.addr.v === 4) {
    if (ip.v !== 4) return false;
    const mask = net.bits === 0 ? 0 : (0xffffffff << (32 - net.bits)) >>> 0;
    return ((ip.n & mask) >>> 0) === ((net.addr.n & mask) >>> 0);
  }
  const a = net.addr.w;
  const b = toWords(ip);
  let bits = net.bits;
  for (let i = 0; i < 8 && bits > 0; i++, bits -= 16) {
    const mask = bits >= 16 ? 0xffff : (0xffff << (16 - bits)) & 0xffff;
    if ((a[i] & mask) !== (b[i] & mask)) return false;
  }
  return true;
}

/**
 * Whether a network contains an address. IPv4-mapped IPv6 addresses match
 * IPv4 networks.
 *
 * @param cidr a network such as `10.0.0.0/8` or `fd00::/8` (a bare address means one host)
 * @param ip the address to test
 * @returns true when `ip` is inside `cidr`
 * @throws {TypeError} when either argument cannot be parsed
 */
export function cidrContains(cidr: string, ip: string): boolean {
  const p = parseAddress(ip);
  if (p === null) throw new TypeError(`Cannot test "${ip}": not an IP address`);
  return networkContains(parseNetwork(cidr), p);
}

/** Whether two parsed addresses are the same address. */
export function sameAddress(a: ParsedAddress, b: ParsedAddress): boolean {
  if (a.v === 4) return b.v === 4 && a.n === b.n;
  if (b.v === 4) return false;
  for (let i = 0; i < 8; i++) if (a.w[i] !== b.w[i]) return false;
  return true;
}

/** A host without the brackets of an IPv6 literal (`[::1]` -> `::1`). */
export function stripBrackets(host: string): string {
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}

/**
 * Private and special IPv4 ranges, as CIDR, in address order: what an agent's
 * sandbox denies unless its config names them (`255.255.255.255` is inside
 * `240.0.0.0/4`).
 */
export const SPECIAL_IPV4_RANGES: readonly string[] = Object.freeze(
  V4_RANGES.filter((r) => !r.range.cidr.endsWith("/32")).map((r) => r.range.cidr),
);

/**
 * IPv6 ranges an egress filter refuses whole, in address order. `::/96` holds
 * the unspecified and loopback addresses and the IPv4-compatible ones;
 * `::ffff:0:0/96` (IPv4-mapped) is listed because a filter that cannot judge
 * the embedded IPv4 address as LOOM does must refuse the prefix. NAT64
 * (`64:ff9b::/96`), 6to4 and Teredo embed an IPv4 address to be judged as
 * IPv4, so they are not listed.
 */
export const SPECIAL_IPV6_RANGES: readonly string[] = Object.freeze([
  V6_COMPAT.cidr,
  "::ffff:0:0/96",
  V6_NAT64_LOCAL.cidr,
  V6_DISCARD.cidr,
  V6_BENCHMARKING.cidr,
  V6_DOCUMENTATION.cidr,
  V6_DOCUMENTATION_3FFF.cidr,
  V6_ULA.cidr,
  V6_LINK_LOCAL.cidr,
  V6_SITE_LOCAL.cidr,
  V6_MULTICAST.cidr,
]);

/**
 * Whether a host name or bind address means the loopback interface only:
 * `localhost`, or an IP literal (brackets allowed) in a loopback range,
 * IPv4-mapped forms included.
 *
 * @param host e.g. `localhost`, `127.0.0.1`, `[::1]`
 * @returns true for loopback
 */
export function isLoopbackHost(host: string): boolean {
  const h = stripBrackets(host.toLowerCase());
  if (h === "localhost") return true;
  if (!isIpLiteral(h)) return false;
  const parsed = parseAddress(h);
  return parsed !== null && classifyParsed(effectiveAddress(parsed))?.kind === "loopback";
}
