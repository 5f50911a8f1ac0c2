import assert from "node:assert/strict";
import { PolicyError, UpstreamError } from "../errors.ts";
import {
  checkConnectedAddress,
  checkDestination,
  cidrContains,
  classifyAddress,
  destinationPin,
  isIpLiteral,
  isPrivateOrSpecialAddress,
} from "./mod.ts";

/** `docs/security-requirements.md` NET-3: each must be refused, however it is spelled. */
const SPECIAL_DESTINATIONS = [
  "127.0.0.1",
  "2130706433",
  "0x7f000001",
  "0177.0.0.1",
  "127.1",
  "[::1]",
  "[::ffff:127.0.0.1]",
  "[::ffff:169.254.169.254]",
  "10.0.0.1",
  "172.16.0.1",
  "192.168.1.1",
  "169.254.169.254",
  "100.64.0.1",
  "[fc00::1]",
  "[fe80::1]",
  "0.0.0.0",
];

Deno.test("isPrivateOrSpecialAddress() flags every spelling of a private or special destination", () => {
  for (const dest of SPECIAL_DESTINATIONS) {
    const host = new URL(`http://${dest}/`).hostname;
    assert.equal(isPrivateOrSpecialAddress(host), true, `${dest} as URL host ${host}`);
    assert.equal(isPrivateOrSpecialAddress(dest), true, dest);
  }
});

Deno.test("WHATWG URL normalises numeric IPv4 hosts to 127.0.0.1", () => {
  for (const dest of ["2130706433", "0x7f000001", "0177.0.0.1", "127.1", "0x7f.1"]) {
    assert.equal(new URL(`http://${dest}/`).hostname, "127.0.0.1", dest);
  }
});

Deno.test("classifyAddress() names the range of each special IPv4 block", () => {
  const table: [string, string, string][] = [
    ["0.1.2.3", "0.0.0.0/8", "unspecified"],
    ["10.255.255.255", "10.0.0.0/8", "private"],
    ["100.64.0.1", "100.64.0.0/10", "shared (carrier-grade NAT)"],
    ["100.127.255.255", "100.64.0.0/10", "shared (carrier-grade NAT)"],
    ["127.255.0.1", "127.0.0.0/8", "loopback"],
    ["169.254.169.254", "169.254.0.0/16", "link-local"],
    ["172.31.255.255", "172.16.0.0/12", "private"],
    ["192.0.0.8", "192.0.0.0/24", "IETF protocol assignment"],
    ["192.0.2.1", "192.0.2.0/24", "documentation"],
    ["192.168.1.1", "192.168.0.0/16", "private"],
    ["198.19.255.255", "198.18.0.0/15", "benchmarking"],
    ["198.51.100.7", "198.51.100.0/24", "documentation"],
    ["203.0.113.9", "203.0.113.0/24", "documentation"],
    ["224.0.0.1", "224.0.0.0/4", "multicast"],
    ["239.255.255.250", "224.0.0.0/4", "multicast"],
    ["240.0.0.1", "240.0.0.0/4", "reserved"],
    ["255.255.255.255", "255.255.255.255/32", "broadcast"],
  ];
  for (const [ip, cidr, kind] of table) assert.deepEqual(classifyAddress(ip), { cidr, kind }, ip);
});

Deno.test("classifyAddress() names the range of each special IPv6 block", () => {
  const table: [string, string, string][] = [
    ["::", "::/128", "unspecified"],
    ["::1", "::1/128", "loopback"],
    ["[::1]", "::1/128", "loopback"],
    ["0:0:0:0:0:0:0:1", "::1/128", "loopback"],
    ["fc00::1", "fc00::/7", "private"],
    ["fd12:3456:789a::1", "fc00::/7", "private"],
    ["fe80::1", "fe80::/10", "link-local"],
    ["fe80::1%eth0", "fe80::/10", "link-local"],
    ["febf::1", "fe80::/10", "link-local"],
    ["ff02::1", "ff00::/8", "multicast"],
    ["::ffff:127.0.0.1", "127.0.0.0/8", "loopback"],
    ["::ffff:7f00:1", "127.0.0.0/8", "loopback"],
    ["::ffff:a9fe:a9fe", "169.254.0.0/16", "link-local"],
    ["64:ff9b::a9fe:a9fe", "169.254.0.0/16", "link-local"],
    ["64:ff9b::10.0.0.1", "10.0.0.0/8", "private"],
    ["::7f00:1", "127.0.0.0/8", "loopback"],
    ["::808:808", "::/96", "reserved (IPv4-compatible)"],
    ["2001:db8::1", "2001:db8::/32", "documentation"],
  ];
  for (const [ip, cidr, kind] of table) assert.deepEqual(classifyAddress(ip), { cidr, kind }, ip);
});

Deno.test("isPrivateOrSpecialAddress() passes public addresses, range edges included", () => {
  for (
    const ip of [
      "8.8.8.8",
      "1.1.1.1",
      "93.184.216.34",
      "9.255.255.255",
      "11.0.0.0",
      "100.63.255.255",
      "100.128.0.0",
      "126.255.255.255",
      "128.0.0.0",
      "169.253.255.255",
      "169.255.0.0",
      "172.15.255.255",
      "172.32.0.0",
      "192.167.255.255",
      "192.169.0.0",
      "198.17.255.255",
      "198.20.0.0",
      "223.255.255.255",
      "2606:4700:4700::1111",
      "::ffff:8.8.8.8",
      "64:ff9b::808:808",
      "fbff::1",
      "2a00::1",
    ]
  ) {
    assert.equal(isPrivateOrSpecialAddress(ip), false, ip);
  }
});

Deno.test("classifyAddress() refuses text that is not an IP address", () => {
  for (const text of ["example.com", "", "::g", "1:2:3:4:5:6:7:8:9", "1::2::3", "256.1.1.1"]) {
    assert.throws(() => classifyAddress(text), TypeError, text);
  }
});

Deno.test("isIpLiteral() recognises canonical IPv4 and IPv6 literals only", () => {
  assert.equal(isIpLiteral("127.0.0.1"), true);
  assert.equal(isIpLiteral("[::1]"), true);
  assert.equal(isIpLiteral("::ffff:1.2.3.4"), true);
  assert.equal(isIpLiteral("localhost"), false);
  assert.equal(isIpLiteral("api.example.com"), false);
});

Deno.test("cidrContains() tests IPv4 and IPv6 networks", () => {
  assert.equal(cidrContains("10.0.0.0/8", "10.1.2.3"), true);
  assert.equal(cidrContains("10.0.0.0/8", "11.0.0.0"), false);
  assert.equal(cidrContains("192.168.1.0/24", "192.168.1.255"), true);
  assert.equal(cidrContains("192.168.1.0/24", "192.168.2.0"), false);
  assert.equal(cidrContains("0.0.0.0/0", "8.8.8.8"), true);
  assert.equal(cidrContains("10.0.0.5", "10.0.0.5"), true);
  assert.equal(cidrContains("10.0.0.5/32", "10.0.0.6"), false);
  assert.equal(cidrContains("127.0.0.0/8", "::ffff:127.0.0.1"), true);
  assert.equal(cidrContains("127.0.0.0/8", "::1"), false);
  assert.equal(cidrContains("fd00::/8", "fd12::1"), true);
  assert.equal(cidrContains("fd00::/8", "fe80::1"), false);
  assert.equal(cidrContains("fe80::/10", "[febf::1]"), true);
  assert.equal(cidrContains("2001:db8::/33", "2001:db8:8000::1"), false);
  assert.equal(cidrContains("::1/128", "::1"), true);
  assert.equal(cidrContains("10.0.0.0/8", "fd00::1"), false);
});

Deno.test("cidrContains() throws TypeError on a malformed network or address", () => {
  assert.throws(() => cidrContains("10.0.0.0/33", "10.0.0.1"), TypeError);
  assert.throws(() => cidrContains("10.0.0.0/x", "10.0.0.1"), TypeError);
  assert.throws(() => cidrContains("nope/8", "10.0.0.1"), TypeError);
  assert.throws(() => cidrContains("10.0.0.0/8", "nope"), TypeError);
});

const NEVER_LOOKUP = (host: string): Promise<string[]> => {
  throw new Error(`lookup(${host}) must not be called for an IP literal`);
};

Deno.test("checkDestination() refuses a hostname that resolves to loopback when the config names another host", async () => {
  const verdict = await checkDestination(new URL("https://api.example.com/v1"), {
    allowNetworks: [],
    configuredHost: "api.example.com",
    lookup: () => Promise.resolve(["127.0.0.1"]),
  });
  assert.deepEqual(verdict, {
    allow: false,
    reason: 'Destination "api.example.com" resolves to a loopback address (127.0.0.0/8)',
  });
});

Deno.test("checkDestination() refuses when any resolved address is private", async () => {
  const verdict = await checkDestination(new URL("https://api.example.com/v1"), {
    allowNetworks: [],
    configuredHost: "api.example.com",
    lookup: () => Promise.resolve(["93.184.216.34", "10.0.0.1"]),
  });
  assert.deepEqual(verdict, {
    allow: false,
    reason: 'Destination "api.example.com" resolves to a private address (10.0.0.0/8)',
  });
});

Deno.test("checkDestination() refuses every special destination literal the config does not name", async () => {
  for (const dest of SPECIAL_DESTINATIONS) {
    const verdict = await checkDestination(new URL(`http://${dest}/`), {
      allowNetworks: [],
      configuredHost: "api.example.com",
      lookup: NEVER_LOOKUP,
    });
    assert.equal(verdict.allow, false, dest);
  }
});

Deno.test("checkDestination() allows a private address inside allowNetworks", async () => {
  const verdict = await checkDestination(new URL("https://api.example.com/v1"), {
    allowNetworks: ["127.0.0.0/8"],
    configuredHost: "api.example.com",
    lookup: () => Promise.resolve(["127.0.0.1"]),
  });
  assert.deepEqual(verdict, { allow: true, addresses: ["127.0.0.1"] });
});

Deno.test("checkDestination() allows the configured IP literal and loopback for a loopback config", async () => {
  const opts = { allowNetworks: [] as string[], lookup: NEVER_LOOKUP };
  assert.equal(
    (await checkDestination(new URL("http://10.0.0.5:8080/"), {
      ...opts,
      configuredHost: "10.0.0.5",
    }))
      .allow,
    true,
  );
  assert.equal(
    (await checkDestination(new URL("http://10.0.0.6:8080/"), {
      ...opts,
      configuredHost: "10.0.0.5",
    }))
      .allow,
    false,
  );
  assert.equal(
    (await checkDestination(new URL("http://127.0.0.1:9/"), {
      ...opts,
      configuredHost: "127.0.0.1",
    }))
      .allow,
    true,
  );
  assert.equal(
    (await checkDestination(new URL("http://[::1]:9/"), { ...opts, configuredHost: "[::1]" }))
      .allow,
    true,
  );
  const local = await checkDestination(new URL("http://localhost:9090/"), {
    allowNetworks: [],
    configuredHost: "localhost",
    lookup: () => Promise.resolve(["127.0.0.1", "::1"]),
  });
  assert.deepEqual(local, { allow: true, addresses: ["127.0.0.1", "::1"] });
  const notLoopback = await checkDestination(new URL("http://localhost:9090/"), {
    allowNetworks: [],
    configuredHost: "localhost",
    lookup: () => Promise.resolve(["10.0.0.1"]),
  });
  assert.equal(notLoopback.allow, false);
});

Deno.test("checkDestination() does not let a loopback config reach other private ranges", async () => {
  const verdict = await checkDestination(new URL("http://169.254.169.254/latest"), {
    allowNetworks: [],
    configuredHost: "127.0.0.1",
    lookup: NEVER_LOOKUP,
  });
  assert.deepEqual(verdict, {
    allow: false,
    reason: 'Destination "169.254.169.254" resolves to a link-local address (169.254.0.0/16)',
  });
});

Deno.test("checkDestination() classifies an IPv4-mapped literal by its IPv4 address", async () => {
  const verdict = await checkDestination(new URL("http://[::ffff:169.254.169.254]/"), {
    allowNetworks: [],
    configuredHost: "api.example.com",
    lookup: NEVER_LOOKUP,
  });
  assert.equal(verdict.allow, false);
  assert.match((verdict as { reason: string }).reason, /link-local address \(169\.254\.0\.0\/16\)/);
});

Deno.test("checkDestination() allows a public destination and returns its addresses", async () => {
  const verdict = await checkDestination(new URL("https://api.example.com/"), {
    allowNetworks: [],
    configuredHost: "api.example.com",
    lookup: () => Promise.resolve(["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"]),
  });
  assert.deepEqual(verdict, {
    allow: true,
    addresses: ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"],
  });
});

Deno.test("checkDestination() fails with UPSTREAM_FAILED when the host cannot be resolved", async () => {
  const opts = { allowNetworks: [], configuredHost: "api.example.com" };
  await assert.rejects(
    checkDestination(new URL("https://api.example.com/"), {
      ...opts,
      lookup: () => Promise.reject(new Error("ENOTFOUND")),
    }),
    (e: unknown) =>
      e instanceof UpstreamError && e.code === "UPSTREAM_FAILED" &&
      e.message === 'Cannot resolve "api.example.com"',
  );
  await assert.rejects(
    checkDestination(new URL("https://api.example.com/"), {
      ...opts,
      lookup: () => Promise.resolve([]),
    }),
    UpstreamError,
  );
});

Deno.test("checkDestination() uses the system resolver by default", async () => {
  const verdict = await checkDestination(new URL("http://localhost:1/"), {
    allowNetworks: [],
    configuredHost: "localhost",
  });
  assert.equal(verdict.allow, true);
});

// --- IPv6 forms that embed an IPv4 address, and the remote-address check ---

/** Each form names the IPv4 range it reaches; the policy is that IPv4 address's. */
const EMBEDDED_SPECIAL: [form: string, ip: string, cidr: string, kind: string][] = [
  ["mapped loopback", "::ffff:127.0.0.1", "127.0.0.0/8", "loopback"],
  ["mapped loopback, hex", "::ffff:7f00:1", "127.0.0.0/8", "loopback"],
  ["mapped metadata", "::ffff:169.254.169.254", "169.254.0.0/16", "link-local"],
  ["translated (SIIT) loopback", "::ffff:0:7f00:1", "127.0.0.0/8", "loopback"],
  ["IPv4-compatible loopback", "::127.0.0.1", "127.0.0.0/8", "loopback"],
  ["NAT64 of 10.0.0.1", "64:ff9b::a00:1", "10.0.0.0/8", "private"],
  ["NAT64 of 10.0.0.1, dotted", "64:ff9b::10.0.0.1", "10.0.0.0/8", "private"],
  ["6to4 of 127.0.0.1", "2002:7f00:1::1", "127.0.0.0/8", "loopback"],
  ["6to4 of 169.254.169.254", "2002:a9fe:a9fe:1::5", "169.254.0.0/16", "link-local"],
  ["Teredo, client 127.0.0.1", "2001:0:4136:e378:8000:63bf:80ff:fffe", "127.0.0.0/8", "loopback"],
];

Deno.test("classifyAddress() classifies each IPv4-embedding IPv6 form by the IPv4 it embeds", () => {
  for (const [form, ip, cidr, kind] of EMBEDDED_SPECIAL) {
    assert.deepEqual(classifyAddress(ip), { cidr, kind }, form);
  }
});

Deno.test("classifyAddress() refuses the forms whose IPv4 it cannot place or that never route", () => {
  assert.deepEqual(classifyAddress("64:ff9b:1::a00:1"), {
    cidr: "64:ff9b:1::/48",
    kind: "local-use IPv4/IPv6 translation",
  });
  assert.deepEqual(classifyAddress("::8.8.8.8"), {
    cidr: "::/96",
    kind: "reserved (IPv4-compatible)",
  });
  assert.deepEqual(classifyAddress("100::1"), { cidr: "100::/64", kind: "discard-only" });
  assert.deepEqual(classifyAddress("2001:2::1"), { cidr: "2001:2::/48", kind: "benchmarking" });
  assert.deepEqual(classifyAddress("3fff::1"), { cidr: "3fff::/20", kind: "documentation" });
});

Deno.test("classifyAddress() passes the IPv4-embedding forms of a public IPv4 address", () => {
  for (
    const ip of [
      "::ffff:8.8.8.8",
      "64:ff9b::808:808",
      "2002:808:808::1",
      // Teredo client 8.8.8.8 (obfuscated f7f7:f7f7), server 65.54.227.120.
      "2001:0:4136:e378:8000:63bf:f7f7:f7f7",
    ]
  ) {
    assert.equal(classifyAddress(ip), null, ip);
  }
});

Deno.test("checkDestination() refuses every IPv4-embedding form of a special address the config does not name", async () => {
  for (const [form, ip] of EMBEDDED_SPECIAL) {
    const verdict = await checkDestination(new URL("https://api.example.com/"), {
      allowNetworks: [],
      configuredHost: "api.example.com",
      lookup: () => Promise.resolve([ip]),
    });
    assert.equal(verdict.allow, false, form);
  }
});

Deno.test("checkDestination() allows an embedded IPv4 address that allowNetworks names", async () => {
  const opts = (ip: string, allowNetworks: string[]) => ({
    allowNetworks,
    configuredHost: "api.example.com",
    lookup: () => Promise.resolve([ip]),
  });
  const url = new URL("https://api.example.com/");
  for (const ip of ["64:ff9b::a00:1", "::ffff:10.0.0.1", "2002:a00:1::1"]) {
    assert.equal((await checkDestination(url, opts(ip, ["10.0.0.0/8"]))).allow, true, ip);
    assert.equal((await checkDestination(url, opts(ip, ["10.0.0.2/32"]))).allow, false, ip);
  }
  assert.equal((await checkDestination(url, opts("2002:a00:1::1", ["2002::/16"]))).allow, true);
});

Deno.test("checkDestination() refuses IPv6 ULA, link-local and site-local unless allowNetworks names them", async () => {
  const url = new URL("https://api.example.com/");
  const table: [ip: string, network: string][] = [
    ["fd12:3456::1", "fd00::/8"],
    ["fc00::1", "fc00::/7"],
    ["fe80::1%eth0", "fe80::/10"],
    ["fe80::1", "fe80::1/128"],
    ["fec0::1", "fec0::/10"],
    ["ff02::1", "ff00::/8"],
    ["::1", "::1/128"],
  ];
  for (const [ip, network] of table) {
    const base = { configuredHost: "api.example.com", lookup: () => Promise.resolve([ip]) };
    assert.equal((await checkDestination(url, { ...base, allowNetworks: [] })).allow, false, ip);
    assert.equal(
      (await checkDestination(url, { ...base, allowNetworks: ["fd00::/8"].concat(network) }))
        .allow,
      true,
      `${ip} in ${network}`,
    );
  }
  const other = await checkDestination(url, {
    allowNetworks: ["fd00::/8"],
    configuredHost: "api.example.com",
    lookup: () => Promise.resolve(["fe80::1"]),
  });
  assert.equal(other.allow, false);
});

Deno.test("checkConnectedAddress() refuses a socket connected to an address the check did not approve", () => {
  const policy = { allowNetworks: [], configuredHost: "localhost" };
  // Approved 93.184.216.34, connected to loopback: the name was rebound.
  assert.deepEqual(checkConnectedAddress("localhost", "127.0.0.1", ["93.184.216.34"], policy), {
    allow: false,
    reason: 'Destination "localhost" connected to an address that was not checked',
  });
  assert.deepEqual(checkConnectedAddress("localhost", "127.0.0.1", ["127.0.0.1"], policy), {
    allow: true,
    addresses: ["127.0.0.1"],
  });
  // The runtime shows an IPv4 peer of a dual-stack socket as IPv4-mapped.
  assert.equal(
    checkConnectedAddress("localhost", "::ffff:127.0.0.1", ["127.0.0.1"], policy).allow,
    true,
  );
});

Deno.test("checkConnectedAddress() refuses a connected address in a special range, however written", () => {
  const policy = { allowNetworks: [], configuredHost: "api.example.com" };
  for (const [form, ip, cidr, kind] of EMBEDDED_SPECIAL) {
    const verdict = checkConnectedAddress("api.example.com", ip, [ip], policy);
    const article = /^[aeiou]/.test(kind) ? "an" : "a";
    assert.deepEqual(verdict, {
      allow: false,
      reason: `Destination "api.example.com" connected to ${article} ${kind} address (${cidr})`,
    }, form);
  }
});

Deno.test("destinationPin() admits only a connected address the check approved, else throws its refusal", () => {
  const policy = { allowNetworks: [], configuredHost: "api.example.com" };
  const pin = destinationPin("api.example.com", ["93.184.216.34"], policy);
  assert.deepEqual(pin.addresses, ["93.184.216.34"]);
  pin.admit("93.184.216.34");
  pin.admit("::ffff:93.184.216.34"); // the same address, IPv4-mapped
  assert.throws(() => pin.admit("93.184.216.35"), PolicyError);
  assert.throws(() => pin.admit("127.0.0.1"), (e: unknown) => e instanceof PolicyError);
  const own = destinationPin(
    "api.example.com",
    ["93.184.216.34"],
    policy,
    (r) => new Error(`x: ${r}`),
  );
  assert.throws(
    () => own.admit("10.0.0.1"),
    /x: Destination "api\.example\.com" connected to a private/,
  );
});
