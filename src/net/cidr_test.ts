import assert from "node:assert/strict";
import fc from "fast-check";
import {
  formatIpv4,
  intervalToCidrs,
  ipv4InCidr,
  parseIpv4,
  parseIpv4Cidr,
  SPECIAL_IPV4_RANGES,
  subtractCidrs,
} from "./mod.ts";

Deno.test("parseIpv4() refuses non-canonical and out-of-range forms", () => {
  for (
    const text of ["127.1", "0177.0.0.1", "0x7f.0.0.1", "2130706433", "256.0.0.1", "1.2.3.4.5", ""]
  ) {
    assert.equal(parseIpv4(text), null, text);
  }
  assert.equal(parseIpv4("127.0.0.1"), 0x7f000001);
  assert.equal(parseIpv4("255.255.255.255"), 0xffffffff);
});

Deno.test("parseIpv4Cidr() refuses host bits, bad prefixes and non-IPv4", () => {
  assert.throws(() => parseIpv4Cidr("10.0.0.1/8"), /host bits are set/);
  assert.throws(() => parseIpv4Cidr("10.0.0.0/33"), /invalid prefix length/);
  assert.throws(() => parseIpv4Cidr("10.0.0.0/08"), /invalid prefix length/);
  assert.throws(() => parseIpv4Cidr("localhost/32"), /not IPv4/);
  assert.throws(() => parseIpv4Cidr("fc00::/7"), /not IPv4/);
  assert.deepEqual(parseIpv4Cidr("127.0.0.1"), { first: 0x7f000001, last: 0x7f000001 });
  assert.deepEqual(parseIpv4Cidr("0.0.0.0/0"), { first: 0, last: 0xffffffff });
});

Deno.test("formatIpv4() prints dotted quads and refuses out-of-range numbers", () => {
  assert.equal(formatIpv4(0x7f000001), "127.0.0.1");
  assert.equal(formatIpv4(0), "0.0.0.0");
  assert.throws(() => formatIpv4(2 ** 32), RangeError);
  assert.throws(() => formatIpv4(-1), RangeError);
});

Deno.test("intervalToCidrs() covers an interval with the fewest aligned blocks", () => {
  assert.deepEqual(intervalToCidrs({ first: 0, last: 0xffffffff }), ["0.0.0.0/0"]);
  assert.deepEqual(intervalToCidrs(parseIpv4Cidr("10.0.0.0/8")), ["10.0.0.0/8"]);
  assert.deepEqual(
    intervalToCidrs({ first: parseIpv4("10.0.0.1")!, last: parseIpv4("10.0.0.6")! }),
    ["10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/31", "10.0.0.6/32"],
  );
});

Deno.test("subtractCidrs() removes 127.0.0.1 from 127.0.0.0/8 as exactly 24 blocks", () => {
  const rest = subtractCidrs(["127.0.0.0/8"], ["127.0.0.1"]);
  assert.equal(rest.length, 24);
  assert.equal(rest[0], "127.0.0.0/32");
  assert.equal(rest[1], "127.0.0.2/31");
  assert.equal(rest.at(-1), "127.128.0.0/9");
  assert.ok(!rest.some((c) => ipv4InCidr(c, "127.0.0.1")));
  for (const ip of ["127.0.0.0", "127.0.0.2", "127.0.0.255", "127.1.2.3", "127.255.255.255"]) {
    assert.ok(rest.some((c) => ipv4InCidr(c, ip)), ip);
  }
});

Deno.test("subtractCidrs() keeps untouched blocks as written and drops covered ones", () => {
  assert.deepEqual(subtractCidrs(SPECIAL_IPV4_RANGES, []), [...SPECIAL_IPV4_RANGES]);
  assert.deepEqual(subtractCidrs(["10.0.0.0/8", "192.168.0.0/16"], ["10.0.0.0/8"]), [
    "192.168.0.0/16",
  ]);
  assert.deepEqual(subtractCidrs(["10.0.0.0/8"], ["0.0.0.0/0"]), []);
  assert.deepEqual(subtractCidrs(["10.0.0.0/8"], ["10.0.0.0/9", "10.128.0.0/9"]), []);
  assert.deepEqual(subtractCidrs(["10.0.0.0/8"], ["11.0.0.0/8", "9.0.0.0/8"]), ["10.0.0.0/8"]);
  assert.deepEqual(subtractCidrs(["10.0.0.0/8"], ["10.255.255.255"]), [
    "10.0.0.0/9",
    "10.128.0.0/10",
    "10.192.0.0/11",
    "10.224.0.0/12",
    "10.240.0.0/13",
    "10.248.0.0/14",
    "10.252.0.0/15",
    "10.254.0.0/16",
    "10.255.0.0/17",
    "10.255.128.0/18",
    "10.255.192.0/19",
    "10.255.224.0/20",
    "10.255.240.0/21",
    "10.255.248.0/22",
    "10.255.252.0/23",
    "10.255.254.0/24",
    "10.255.255.0/25",
    "10.255.255.128/26",
    "10.255.255.192/27",
    "10.255.255.224/28",
    "10.255.255.240/29",
    "10.255.255.248/30",
    "10.255.255.252/31",
    "10.255.255.254/32",
  ]);
});

/** A CIDR block inside one of the special ranges, or around it. */
const cidrArb = fc.tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 4, max: 32 }))
  .map(([n, bits]) => {
    const size = 2 ** (32 - bits);
    return `${formatIpv4(n - (n % size))}/${bits}`;
  });
const specialAddressArb = fc.constantFrom(...SPECIAL_IPV4_RANGES).chain((cidr) => {
  const { first, last } = parseIpv4Cidr(cidr);
  return fc.integer({ min: first, max: last }).map((n) => `${formatIpv4(n)}/32`);
});
const namedArb = fc.array(fc.oneof(cidrArb, specialAddressArb), { maxLength: 6 });

function covers(cidrs: readonly string[], n: number): boolean {
  return cidrs.some((c) => {
    const { first, last } = parseIpv4Cidr(c);
    return n >= first && n <= last;
  });
}

Deno.test("subtractCidrs() property: deny plus named equals the ranges, and deny never holds a named address", () => {
  fc.assert(
    fc.property(
      namedArb,
      fc.array(fc.integer({ min: 0, max: 0xffffffff }), { maxLength: 40 }),
      (named, probes) => {
        const deny = subtractCidrs(SPECIAL_IPV4_RANGES, named);
        // Probe the edges of every block involved and random addresses.
        const points = new Set<number>(probes);
        for (const c of [...SPECIAL_IPV4_RANGES, ...named, ...deny]) {
          const { first, last } = parseIpv4Cidr(c);
          for (const n of [first - 1, first, last, last + 1]) {
            if (n >= 0 && n <= 0xffffffff) points.add(n);
          }
        }
        for (const n of points) {
          const inDeny = covers(deny, n);
          const inNamed = covers(named, n);
          const inRanges = covers(SPECIAL_IPV4_RANGES, n);
          assert.equal(inDeny || (inNamed && inRanges), inRanges, formatIpv4(n));
          if (inNamed) assert.equal(inDeny, false, `named ${formatIpv4(n)} is denied`);
        }
        // Every block is aligned and the blocks never overlap.
        const intervals = deny.map(parseIpv4Cidr).sort((a, b) => a.first - b.first);
        for (let i = 1; i < intervals.length; i++) {
          assert.ok(intervals[i].first > intervals[i - 1].last, "blocks overlap");
        }
      },
    ),
    { numRuns: 300 },
  );
});
