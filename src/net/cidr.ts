/**
 * IPv4 networks as data: parse and print CIDR blocks, and subtract one set of
 * networks from another exactly, returning the fewest CIDR blocks that cover
 * what is left.
 *
 * The agent sandbox needs this because Deno's `--deny-net` takes precedence
 * over `--allow-net` (`docs/security-requirements.md`, SBX-2): to let an agent reach
 * `127.0.0.1` while denying the rest of `127.0.0.0/8`, the deny list must be
 * written as the CIDR blocks covering `127.0.0.0/8` minus `127.0.0.1`.
 *
 * @module
 */

import { parseIpv4 } from "./address.ts";

/** An inclusive range of IPv4 addresses as unsigned 32-bit integers. */
export interface Ipv4Interval {
  first: number;
  last: number;
}

const PREFIX = /^(?:0|[1-9][0-9]?)$/;

/**
 * Print an unsigned 32-bit integer as a dotted-quad address.
 *
 * @param n the address
 * @returns e.g. `127.0.0.1`
 * @throws {RangeError} when `n` is not an integer in 0..2^32-1
 */
export function formatIpv4(n: number): string {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) {
    throw new RangeError(`Cannot format ${n} as an IPv4 address: out of range`);
  }
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join(".");
}

/**
 * Parse an IPv4 CIDR block; a bare address means a /32.
 *
 * @param cidr e.g. `10.0.0.0/8` or `127.0.0.1`
 * @returns the interval it covers
 * @throws {TypeError} when the text is not an IPv4 CIDR block or has host bits set
 */
export function parseIpv4Cidr(cidr: string): Ipv4Interval {
  const slash = cidr.indexOf("/");
  const address = parseIpv4(slash < 0 ? cidr : cidr.slice(0, slash));
  const bitsText = slash < 0 ? "32" : cidr.slice(slash + 1);
  if (address === null) throw new TypeError(`Cannot parse network "${cidr}": not IPv4`);
  const bits = Number(bitsText);
  if (!PREFIX.test(bitsText) || bits > 32) {
    throw new TypeError(`Cannot parse network "${cidr}": invalid prefix length`);
  }
  const size = 2 ** (32 - bits);
  if (address % size !== 0) {
    throw new TypeError(`Cannot parse network "${cidr}": host bits are set`);
  }
  return { first: address, last: address + size - 1 };
}

/**
 * The fewest CIDR blocks that cover an interval exactly.
 *
 * @param interval an inclusive range of addresses
 * @returns CIDR blocks in ascending order, each written `a.b.c.d/n`
 */
export function intervalToCidrs(interval: Ipv4Interval): string[] {
  const out: string[] = [];
  let start = interval.first;
  while (start <= interval.last) {
    // The largest block aligned at `start` that does not run past `last`.
    let bits = 32;
    while (bits > 0) {
      const size = 2 ** (32 - bits + 1);
      if (start % size !== 0 || start + size - 1 > interval.last) break;
      bits--;
    }
    out.push(`${formatIpv4(start)}/${bits}`);
    start += 2 ** (32 - bits);
  }
  return out;
}

/** Sort and merge overlapping or adjacent intervals. */
function normalize(intervals: readonly Ipv4Interval[]): Ipv4Interval[] {
  const sorted = [...intervals].sort((a, b) => a.first - b.first);
  const out: Ipv4Interval[] = [];
  for (const next of sorted) {
    const last = out.at(-1);
    if (last && next.first <= last.last + 1) last.last = Math.max(last.last, next.last);
    else out.push({ ...next });
  }
  return out;
}

/**
 * Subtract networks from networks: every address of `from` that is in none of
 * `remove`, as CIDR blocks. Each block of `from` is cut on its own, in order,
 * so an untouched block comes back unchanged and what is left of a cut block
 * is written with the fewest CIDR blocks.
 *
 * @param from the networks to start with (CIDR blocks or bare addresses)
 * @param remove the networks to take out (CIDR blocks or bare addresses)
 * @returns the difference as CIDR blocks
 * @throws {TypeError} when an entry is not an IPv4 CIDR block
 *
 * @example
 * ```ts
 * import { subtractCidrs } from "./cidr.ts";
 * subtractCidrs(["10.0.0.0/8"], ["10.0.0.0/9"]); // ["10.128.0.0/9"]
 * ```
 */
export function subtractCidrs(from: readonly string[], remove: readonly string[]): string[] {
  const cut = normalize(remove.map(parseIpv4Cidr));
  const out: string[] = [];
  for (const range of from.map(parseIpv4Cidr)) {
    let start = range.first;
    for (const hole of cut) {
      if (hole.last < start) continue;
      if (hole.first > range.last) break;
      if (hole.first > start) out.push(...intervalToCidrs({ first: start, last: hole.first - 1 }));
      start = hole.last + 1;
      if (start > range.last) break;
    }
    if (start <= range.last) out.push(...intervalToCidrs({ first: start, last: range.last }));
  }
  return out;
}

/**
 * Whether an IPv4 address lies in a network.
 *
 * @param cidr a CIDR block or a bare address
 * @param address a dotted-quad address
 * @returns true when the address is inside
 * @throws {TypeError} when either cannot be parsed
 */
export function ipv4InCidr(cidr: string, address: string): boolean {
  const n = parseIpv4(address);
  if (n === null) throw new TypeError(`Cannot test "${address}": not an IPv4 address`);
  const net = parseIpv4Cidr(cidr);
  return n >= net.first && n <= net.last;
}
