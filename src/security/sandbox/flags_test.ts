import assert from "node:assert/strict";
import fc from "fast-check";
import type { TrustTier } from "../../config/mod.ts";
import { agentConfig } from "./_testing.ts";
import { ipv4InCidr, parseIpv4Cidr, SPECIAL_IPV4_RANGES } from "../../net/mod.ts";
import { checkUrlTemplate } from "../../_util/template.ts";
import {
  bridgeTargets,
  denoFlagsFor,
  dockerArgsFor,
  FORBIDDEN_DENO_FLAGS,
  netAllowList,
  netDenyList,
  TIER_LIMITS,
} from "./flags.ts";

const TIERS: TrustTier[] = [1, 2, 3, 4];

function flagValue(flags: string[], name: string): string[] | undefined {
  const flag = flags.find((f) => f.startsWith(`${name}=`));
  return flag === undefined ? undefined : flag.slice(name.length + 1).split(",");
}

function assertSafe(flags: string[]): void {
  assert.ok(flags.includes("--no-prompt"));
  assert.ok(flags.includes("--no-config"));
  assert.ok(flags.includes("--no-remote"));
  assert.ok(flags.includes("--no-npm"));
  for (const flag of flags) {
    for (const forbidden of FORBIDDEN_DENO_FLAGS) {
      assert.ok(flag !== forbidden && !flag.startsWith(`${forbidden}=`), `forbidden ${flag}`);
    }
    // Bare --allow-net would allow every host.
    assert.notEqual(flag, "--allow-net");
    assert.notEqual(flag, "--allow-net=");
    assert.ok(!/^-[A-Za-z]*A/.test(flag) || flag.startsWith("--"), `short -A in ${flag}`);
  }
  const deny = flagValue(flags, "--deny-net")!;
  for (const entry of deny) {
    assert.match(entry, /^(?:\d{1,3}\.){3}\d{1,3}\/\d{1,2}$|^\[[0-9a-f:]+\]$/, entry);
  }
}

Deno.test("denoFlagsFor() never emits a forbidden flag, on any tier (snapshot)", () => {
  for (const tier of TIERS) {
    const config = agentConfig({
      tier,
      bridges: ["https://api.example.com/v1/items/{{id}}", "http://localhost:9090/api/v1/query"],
    });
    const flags = denoFlagsFor(config);
    assertSafe(flags);
    assert.deepEqual(flags, [
      "--no-prompt",
      "--no-config",
      "--no-remote",
      "--no-npm",
      "--allow-net=api.example.com:443,localhost:9090",
      "--deny-net=" + [
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/32",
        "127.0.0.2/31",
        "127.0.0.4/30",
        "127.0.0.8/29",
        "127.0.0.16/28",
        "127.0.0.32/27",
        "127.0.0.64/26",
        "127.0.0.128/25",
        "127.0.1.0/24",
        "127.0.2.0/23",
        "127.0.4.0/22",
        "127.0.8.0/21",
        "127.0.16.0/20",
        "127.0.32.0/19",
        "127.0.64.0/18",
        "127.0.128.0/17",
        "127.1.0.0/16",
        "127.2.0.0/15",
        "127.4.0.0/14",
        "127.8.0.0/13",
        "127.16.0.0/12",
        "127.32.0.0/11",
        "127.64.0.0/10",
        "127.128.0.0/9",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "[::]",
      ].join(","),
      "--v8-flags=--max-old-space-size=96",
    ], `tier ${tier}`);
  }
});

Deno.test("denoFlagsFor() denies every special range, [::1] and [::] when the config names none", () => {
  const flags = denoFlagsFor(agentConfig({ bridges: ["https://api.example.com/x"] }));
  assertSafe(flags);
  assert.deepEqual(flagValue(flags, "--allow-net"), ["api.example.com:443"]);
  assert.deepEqual(flagValue(flags, "--deny-net"), [...SPECIAL_IPV4_RANGES, "[::1]", "[::]"]);
});

Deno.test("denoFlagsFor() emits no --allow-net at all for an agent without bridges", () => {
  const flags = denoFlagsFor(agentConfig({ bridges: [] }));
  assertSafe(flags);
  assert.ok(!flags.some((f) => f.startsWith("--allow-net")));
  assert.deepEqual(flagValue(flags, "--deny-net"), [...SPECIAL_IPV4_RANGES, "[::1]", "[::]"]);
});

Deno.test("netAllowList() writes exact host:port with explicit default ports and bracketed IPv6", () => {
  const config = agentConfig({
    bridges: [
      "https://API.Example.com/a",
      "https://api.example.com:443/b",
      "http://api.example.com/c",
      "http://127.1:8080/d",
      "http://[::1]:9000/e",
      "https://bücher.example/f",
    ],
  });
  assert.deepEqual(netAllowList(config.bridges), [
    "127.0.0.1:8080",
    "[::1]:9000",
    "api.example.com:443",
    "api.example.com:80",
    "xn--bcher-kva.example:443",
  ]);
});

Deno.test("bridgeTargets() derives each destination from the template grammar, the loader's and the bridge's own", () => {
  const urls = [
    "https://API.Example.com/a/{{id}}",
    "http://127.1:8080/d?format=json",
    "http://[::1]:9000/e-{{id}}.json",
    "https://bücher.example:8443/f",
  ];
  const config = agentConfig({ bridges: urls });
  const targets = bridgeTargets(config.bridges);
  for (const bridge of config.bridges) {
    const { scheme, hostname, port } = checkUrlTemplate(bridge.url).template!.target;
    assert.ok(
      targets.some((t) => t.scheme === scheme && t.host === hostname && t.port === port),
      bridge.url,
    );
  }
  assert.equal(targets.length, urls.length);
});

Deno.test("bridgeTargets() refuses a bridge URL the loader refuses instead of deriving a destination from it", () => {
  for (
    const url of [
      "https://api.example.com/x?q={{id}}",
      "https://api.example.com/x#{{id}}",
      "https://api.example.com/{{secret:k}}",
      "https://api.example.com{{id}}",
      "https://api.example.com/{{ bad name }}",
    ]
  ) {
    const bridge = { ...agentConfig({ bridges: ["https://api.example.com/x"] }).bridges[0], url };
    assert.throws(() => bridgeTargets([bridge]), TypeError, url);
  }
});

Deno.test("netDenyList() leaves out only what the config names: an IP literal host", () => {
  const deny = netDenyList(agentConfig({ bridges: ["http://10.1.2.3:8080/api"] }));
  assert.ok(!deny.some((c) => !c.startsWith("[") && ipv4InCidr(c, "10.1.2.3")));
  for (const ip of ["10.1.2.2", "10.1.2.4", "10.0.0.1", "10.255.255.255"]) {
    assert.ok(deny.some((c) => !c.startsWith("[") && ipv4InCidr(c, ip)), ip);
  }
  assert.ok(deny.includes("127.0.0.0/8"));
  assert.ok(deny.includes("[::1]") && deny.includes("[::]"));
});

Deno.test("netDenyList() treats localhost as 127.0.0.1 and [::1], nothing more", () => {
  const deny = netDenyList(agentConfig({ bridges: ["http://localhost:9090/"] }));
  const v4 = deny.filter((c) => !c.startsWith("["));
  assert.ok(!v4.some((c) => ipv4InCidr(c, "127.0.0.1")));
  assert.ok(v4.some((c) => ipv4InCidr(c, "127.0.0.2")));
  assert.ok(v4.some((c) => ipv4InCidr(c, "127.0.0.0")));
  assert.ok(!deny.includes("[::1]"));
  assert.ok(deny.includes("[::]"));
});

Deno.test("netDenyList() honours an IPv4-mapped IPv6 literal and an IPv6 loopback host", () => {
  const mapped = netDenyList(agentConfig({ bridges: ["http://[::ffff:192.168.1.10]:80/"] }));
  assert.ok(!mapped.some((c) => !c.startsWith("[") && ipv4InCidr(c, "192.168.1.10")));
  const v6 = netDenyList(agentConfig({ bridges: ["http://[::1]:9000/"] }));
  assert.ok(!v6.includes("[::1]"));
  assert.ok(v6.includes("[::]"));
  assert.ok(v6.includes("127.0.0.0/8"));
});

Deno.test("netDenyList() subtracts runtime.allow_networks exactly", () => {
  const deny = netDenyList(
    agentConfig({
      bridges: ["https://intranet.example/api"],
      allowNetworks: ["10.20.0.0/16", "172.16.0.0/12"],
    }),
  );
  const v4 = deny.filter((c) => !c.startsWith("["));
  assert.ok(!v4.includes("172.16.0.0/12"));
  assert.ok(!v4.some((c) => ipv4InCidr(c, "172.20.1.1")));
  assert.ok(!v4.some((c) => ipv4InCidr(c, "10.20.255.255")));
  assert.ok(v4.some((c) => ipv4InCidr(c, "10.21.0.0")));
  assert.ok(v4.some((c) => ipv4InCidr(c, "10.19.255.255")));
});

Deno.test("netDenyList() takes IPv6 allow_networks: only [::1] and [::] can be left out, as single addresses", () => {
  const ula = netDenyList(
    agentConfig({ bridges: ["https://intranet.example/api"], allowNetworks: ["fd00::/8"] }),
  );
  // Deno takes no IPv6 CIDR: a ULA allowance leaves the deny list as it is.
  assert.deepEqual(ula, [...SPECIAL_IPV4_RANGES, "[::1]", "[::]"]);
  const loopback = netDenyList(
    agentConfig({ bridges: ["https://intranet.example/api"], allowNetworks: ["::1/128"] }),
  );
  assert.deepEqual(loopback, [...SPECIAL_IPV4_RANGES, "[::]"]);
  const both = netDenyList(
    agentConfig({ bridges: ["https://intranet.example/api"], allowNetworks: ["::/127"] }),
  );
  assert.deepEqual(both, [...SPECIAL_IPV4_RANGES]);
  assert.ok(!both.some((entry) => entry.includes("/") && entry.includes(":")));
});

Deno.test("denoFlagsFor() property: deny never holds a named network and deny plus named covers every range", () => {
  const cidr = fc.constantFrom(...SPECIAL_IPV4_RANGES).chain((range) => {
    const { first, last } = parseIpv4Cidr(range);
    return fc.tuple(fc.integer({ min: first, max: last }), fc.integer({ min: 8, max: 32 }));
  }).map(([n, bits]) => {
    const size = 2 ** (32 - bits);
    const base = n - (n % size);
    return `${[24, 16, 8, 0].map((s) => Math.floor(base / 2 ** s) % 256).join(".")}/${bits}`;
  });
  fc.assert(
    fc.property(
      fc.array(cidr, { maxLength: 4 }),
      fc.integer({ min: 0, max: 0xffffffff }),
      (nets, n) => {
        const config = agentConfig({ bridges: ["https://api.example.com/"], allowNetworks: nets });
        const deny = flagValue(denoFlagsFor(config), "--deny-net")!.filter((c) =>
          !c.startsWith("[")
        );
        const ip = [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join(".");
        const named = nets.some((c) => ipv4InCidr(c, ip));
        const special = SPECIAL_IPV4_RANGES.some((c) => ipv4InCidr(c, ip));
        const denied = deny.some((c) => ipv4InCidr(c, ip));
        assert.equal(denied, special && !named, ip);
      },
    ),
    { numRuns: 200 },
  );
});

Deno.test("denoFlagsFor() takes the heap cap from options and refuses nonsense", () => {
  const config = agentConfig({ bridges: ["https://api.example.com/"] });
  assert.ok(
    denoFlagsFor(config, { memoryMb: 256 }).includes("--v8-flags=--max-old-space-size=256"),
  );
  assert.throws(() => denoFlagsFor(config, { memoryMb: 0 }), RangeError);
  assert.throws(() => denoFlagsFor(config, { memoryMb: 1.5 }), RangeError);
});

Deno.test("dockerArgsFor() hardens the container and scales limits by tier", () => {
  let previous: { memoryMb: number; cpus: number; pids: number } | null = null;
  for (const tier of TIERS) {
    const config = agentConfig({ tier, bridges: ["https://api.example.com/x"] });
    const plan = dockerArgsFor(config, { sourceDir: "/srv/loom" });
    const args = plan.args;
    assert.equal(args[0], "run");
    for (
      const expected of [
        "--read-only",
        "--cap-drop=ALL",
        "--security-opt=no-new-privileges",
        `--pids-limit=${TIER_LIMITS[tier].pids}`,
        `--memory=${TIER_LIMITS[tier].memoryMb}m`,
        `--memory-swap=${TIER_LIMITS[tier].memoryMb}m`,
        `--cpus=${TIER_LIMITS[tier].cpus}`,
        "--network=loom-sandbox-test-egress",
        "--volume=/srv/loom:/loom:ro",
      ]
    ) assert.ok(args.includes(expected), `tier ${tier}: ${expected}`);
    assert.equal(args[args.indexOf("--tmpfs") + 1], "/tmp:rw,noexec,nosuid,size=16m");
    assert.equal(args[args.indexOf("--user") + 1], "65534:65534");
    assert.ok(!args.some((a) => a.startsWith("--privileged") || a.startsWith("--cap-add")));
    assert.equal(args.at(-1), "/loom/src/runtime/sandbox/child/agent_main.ts");
    assertSafe(args.slice(args.indexOf("denoland/deno:2.9.6") + 2, -1));
    assert.deepEqual(plan.network.allow, [{ scheme: "https", host: "api.example.com", port: 443 }]);
    assert.equal(plan.network.mode, "allowlist");
    assert.match(plan.network.note, /cannot allow-list hosts/);
    assert.ok(plan.network.denyIpv6.includes("fc00::/7"));
    assert.ok(plan.network.denyIpv4.includes("169.254.0.0/16"));
    if (previous) {
      assert.ok(plan.limits.memoryMb > previous.memoryMb);
      assert.ok(plan.limits.cpus > previous.cpus);
      assert.ok(plan.limits.pids > previous.pids);
    }
    previous = plan.limits;
  }
});

Deno.test("dockerArgsFor() gives an agent without bridges no network", () => {
  const plan = dockerArgsFor(agentConfig({ bridges: [] }));
  assert.ok(plan.args.includes("--network=none"));
  assert.equal(plan.network.mode, "none");
  assert.deepEqual(plan.network.allow, []);
});
