import assert from "node:assert/strict";
import {
  cidrContains,
  classifyAddress,
  isLoopbackHost,
  SPECIAL_IPV4_RANGES,
  SPECIAL_IPV6_RANGES,
} from "./mod.ts";

Deno.test("isLoopbackHost() knows localhost and every loopback literal, mapped forms included", () => {
  for (
    const host of [
      "localhost",
      "LocalHost",
      "127.0.0.1",
      "127.1.2.3",
      "[::1]",
      "::1",
      "::ffff:127.0.0.1",
      "[::ffff:7f00:1]",
    ]
  ) {
    assert.equal(isLoopbackHost(host), true, host);
  }
  for (
    const host of [
      "10.0.0.1",
      "0.0.0.0",
      "::",
      "[::]",
      "example.com",
      "localhost.example.com",
      "127.0.0.1.example.com",
      "",
    ]
  ) {
    assert.equal(isLoopbackHost(host), false, host);
  }
});

Deno.test("SPECIAL_IPV4_RANGES covers every special IPv4 address the table classifies", () => {
  const samples = [
    "0.1.2.3",
    "10.9.8.7",
    "100.64.0.1",
    "127.0.0.1",
    "169.254.169.254",
    "172.16.0.1",
    "192.0.0.1",
    "192.0.2.1",
    "192.168.1.1",
    "198.18.0.1",
    "198.51.100.1",
    "203.0.113.1",
    "224.0.0.1",
    "240.0.0.1",
    "255.255.255.255",
  ];
  for (const ip of samples) {
    assert.notEqual(classifyAddress(ip), null, ip);
    assert.ok(SPECIAL_IPV4_RANGES.some((net) => cidrContains(net, ip)), ip);
  }
  for (const net of SPECIAL_IPV4_RANGES) {
    assert.notEqual(classifyAddress(net.slice(0, net.indexOf("/"))), null, net);
  }
  assert.equal(SPECIAL_IPV4_RANGES.some((net) => cidrContains(net, "8.8.8.8")), false);
});

Deno.test("SPECIAL_IPV6_RANGES covers every special IPv6 address that embeds no IPv4 address", () => {
  const samples = [
    "::",
    "::1",
    "::2",
    "64:ff9b:1::1",
    "100::1",
    "2001:2::1",
    "2001:db8::1",
    "3fff::1",
    "fc00::1",
    "fd12:3456::1",
    "fe80::1",
    "fec0::1",
    "ff02::1",
  ];
  for (const ip of samples) {
    assert.notEqual(classifyAddress(ip), null, ip);
    assert.ok(SPECIAL_IPV6_RANGES.some((net) => cidrContains(net, ip)), ip);
  }
  assert.equal(SPECIAL_IPV6_RANGES.some((net) => cidrContains(net, "2606:4700::1111")), false);
});
