/**
 * Sandbox policy derived from an agent config alone: the Deno permission
 * flags of the agent host process (`docs/security-controls.md` §3; `docs/security-requirements.md`
 * SBX-1 and SBX-2), and the hardened `docker run` arguments and network policy for
 * `sandbox: docker`.
 *
 * Nothing here reads the environment, the file system or the network: the
 * same config always gives the same flags, which is what makes them testable
 * as a snapshot.
 *
 * @module
 */

import type { AgentConfig, BridgeSpec, TrustTier } from "../../config/mod.ts";
import {
  formatIpv4,
  parseIpv4,
  SPECIAL_IPV4_RANGES,
  SPECIAL_IPV6_RANGES,
  subtractCidrs,
} from "../../net/mod.ts";
import { checkUrlTemplate } from "../../_util/template.ts";

/** Default V8 heap cap of an agent host, in MiB. */
export const DEFAULT_AGENT_MEMORY_MB = 96;

/**
 * IPv6 addresses denied as single addresses (Deno 2.9.6 cannot take IPv6
 * CIDR blocks in `--deny-net`: the command line refuses them; private IPv6
 * ranges, and IPv6 forms embedding a private IPv4 address, are refused by
 * LOOM's own checks instead: on the resolved addresses, and on the connected
 * socket's remote address before a byte is sent).
 */
export const DENIED_IPV6: readonly string[] = ["[::1]", "[::]"];

/** IPv6 ranges an egress filter should refuse (the Deno wall cannot express them). */
export { SPECIAL_IPV6_RANGES };

/** Flags an agent host must never get: each one voids the sandbox or widens it. */
export const FORBIDDEN_DENO_FLAGS: readonly string[] = [
  "-A",
  "--allow-all",
  "--allow-run",
  "--allow-ffi",
  "--allow-sys",
  "--allow-env",
  "--allow-write",
  "--allow-import",
  "--allow-read",
];

/** Where one bridge sends requests. */
export interface NetTarget {
  scheme: "http" | "https";
  /** `URL.hostname`: lower case, punycode, IPv6 in brackets. */
  host: string;
  /** The port, explicit even when the URL leaves it out (80 / 443). */
  port: number;
}

/** Options of {@linkcode denoFlagsFor}. */
export interface DenoFlagsOptions {
  /**
   * V8 old-space cap in MiB (`--max-old-space-size`). Default 96. Threat: an
   * agent allocating without bound; V8 aborts the process at the cap. It does
   * not count `ArrayBuffer` memory (see `docs/security-controls.md`).
   */
  memoryMb?: number;
}

/**
 * The network destinations of a set of bridges: scheme, host and port of each
 * URL, deduplicated and sorted.
 *
 * @param bridges the config's bridges
 * @returns one target per distinct scheme, host and port
 * @throws {TypeError} when a bridge URL is not a template the config grammar accepts
 */
export function bridgeTargets(bridges: readonly BridgeSpec[]): NetTarget[] {
  const seen = new Map<string, NetTarget>();
  for (const bridge of bridges) {
    // The same derivation as the loader's and the bridge's: the template grammar's.
    const url = checkUrlTemplate(bridge.url).template;
    if (url === undefined) {
      throw new TypeError(`Cannot derive a destination for tool "${bridge.toolName}"`);
    }
    const { scheme, hostname: host, port } = url.target;
    seen.set(`${scheme}://${host}:${port}`, { scheme, host, port });
  }
  return [...seen.values()].sort((a, b) =>
    a.host === b.host ? a.port - b.port : a.host < b.host ? -1 : 1
  );
}

/**
 * The `--allow-net` entries of an agent: exactly `host:port` of each bridge
 * origin. Deno matches allow entries on the name before resolution, so a
 * config naming `localhost` does not allow `127.0.0.1` (and the reverse).
 *
 * @param bridges the config's bridges
 * @returns sorted, distinct `host:port` strings (IPv6 in brackets)
 */
export function netAllowList(bridges: readonly BridgeSpec[]): string[] {
  return [...new Set(bridgeTargets(bridges).map((t) => `${t.host}:${t.port}`))].sort();
}

const MAPPED = /^\[::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})\]$/;

/** The IPv4 address of a hostname that is an IPv4 literal or an IPv4-mapped IPv6 literal. */
function ipv4Of(host: string): string | null {
  if (parseIpv4(host) !== null) return host;
  const m = MAPPED.exec(host);
  if (!m) return null;
  const n = parseInt(m[1], 16) * 65536 + parseInt(m[2], 16);
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join(".");
}

/** The eight 16-bit words of an IPv6 address the URL parser accepts, or null. */
function ipv6Words(text: string): number[] | null {
  let host: string;
  try {
    host = new URL(`http://[${text}]/`).hostname.slice(1, -1);
  } catch {
    return null;
  }
  // The parser's serialisation: lower-case hex groups, at most one "::".
  const [head, tail] = host.split("::");
  const words = head === "" ? [] : head.split(":").map((g) => parseInt(g, 16));
  if (tail === undefined) return words;
  const rest = tail === "" ? [] : tail.split(":").map((g) => parseInt(g, 16));
  return [...words, ...new Array(8 - words.length - rest.length).fill(0), ...rest];
}

/** Whether the first `bits` bits of two IPv6 addresses agree. */
function samePrefix(a: readonly number[], b: readonly number[], bits: number): boolean {
  for (let i = 0; i < 8 && bits > 0; i++, bits -= 16) {
    const mask = bits >= 16 ? 0xffff : (0xffff << (16 - bits)) & 0xffff;
    if ((a[i] & mask) !== (b[i] & mask)) return false;
  }
  return true;
}

const V6_LOOPBACK_WORDS = [0, 0, 0, 0, 0, 0, 0, 1];
const V6_UNSPECIFIED_WORDS = [0, 0, 0, 0, 0, 0, 0, 0];

/**
 * Sort `runtime.allowNetworks` for the Deno wall: IPv4 blocks as they are;
 * an IPv4-mapped IPv6 block (`::ffff:0:0/96` and longer) as the IPv4 block it
 * maps; and of other IPv6 blocks only whether they hold `::1` or `::`, the
 * two IPv6 addresses the deny list names (Deno takes no IPv6 CIDR).
 */
function allowedNetworks(networks: readonly string[]): { v4: string[]; v6: Set<string> } {
  const v4: string[] = [];
  const v6 = new Set<string>();
  for (const network of networks) {
    if (!network.includes(":")) {
      v4.push(network);
      continue;
    }
    const slash = network.indexOf("/");
    const words = ipv6Words(slash < 0 ? network : network.slice(0, slash));
    const bits = slash < 0 ? 128 : Number(network.slice(slash + 1));
    if (words === null || !Number.isInteger(bits) || bits < 0 || bits > 128) continue;
    if (bits >= 96 && samePrefix(words, [0, 0, 0, 0, 0, 0xffff, 0, 0], 96)) {
      const v4bits = bits - 96;
      const size = 2 ** (32 - v4bits);
      const base = words[6] * 65536 + words[7];
      v4.push(`${formatIpv4(base - (base % size))}/${v4bits}`);
      continue;
    }
    if (samePrefix(words, V6_LOOPBACK_WORDS, bits)) v6.add("[::1]");
    if (samePrefix(words, V6_UNSPECIFIED_WORDS, bits)) v6.add("[::]");
  }
  return { v4, v6 };
}

/**
 * What a config names on purpose among the denied ranges: IPv4 literal
 * bridge hosts, `localhost` (as `127.0.0.1` and `[::1]`, which is what it
 * resolves to), IPv6 literals, and `runtime.allowNetworks`.
 */
function namedDestinations(config: AgentConfig): { v4: string[]; v6: Set<string> } {
  const { v4, v6 } = allowedNetworks(config.runtime.allowNetworks);
  for (const { host } of bridgeTargets(config.bridges)) {
    const ip = ipv4Of(host);
    if (ip !== null) v4.push(`${ip}/32`);
    else if (host === "localhost") {
      v4.push("127.0.0.1/32");
      v6.add("[::1]");
    } else if (host.startsWith("[")) v6.add(host);
  }
  return { v4, v6 };
}

/**
 * The `--deny-net` entries of an agent: every private and special IPv4 range
 * as CIDR minus what the config names (computed exactly, because a deny
 * entry beats an allow entry in Deno), plus `[::1]` and `[::]` unless named.
 * Deny entries are matched against the address Deno connects to, which is
 * what stops DNS rebinding into a private IPv4 range (NET-5 in
 * `docs/security-requirements.md`). Never a hostname: on Deno 2.9.6 hostname
 * deny entries are not matched against addresses.
 *
 * @param config the agent config
 * @returns IPv4 CIDR blocks, then bracketed IPv6 addresses
 */
export function netDenyList(config: AgentConfig): string[] {
  const named = namedDestinations(config);
  const v4 = subtractCidrs(SPECIAL_IPV4_RANGES, named.v4);
  return [...v4, ...DENIED_IPV6.filter((a) => !named.v6.has(a))];
}

/**
 * The Deno flags of an agent host process, derived from the config alone.
 *
 * - `--no-prompt`: a missing permission throws `NotCapable`, never asks;
 * - `--no-config`, `--no-remote`, `--no-npm`: a planted `deno.json`, import
 *   map or package cannot shape module resolution, and no code is fetched;
 * - `--allow-net` with exactly the bridge origins (omitted when there is no
 *   bridge: an empty `--allow-net=` must never be emitted);
 * - `--deny-net` from {@linkcode netDenyList};
 * - `--v8-flags=--max-old-space-size=<MB>`.
 *
 * No read, write, env, run, ffi, sys or import permission: the entry's static
 * module graph loads without read permission (`docs/security-requirements.md`, SBX-8).
 *
 * @param config the agent config
 * @param options memory cap
 * @returns the flags to put between `deno run` and the entry module
 */
export function denoFlagsFor(config: AgentConfig, options: DenoFlagsOptions = {}): string[] {
  const memoryMb = options.memoryMb ?? DEFAULT_AGENT_MEMORY_MB;
  if (!Number.isInteger(memoryMb) || memoryMb < 16 || memoryMb > 65536) {
    throw new RangeError(`Invalid agent memory cap ${memoryMb} MiB: expected 16 to 65536`);
  }
  const flags = ["--no-prompt", "--no-config", "--no-remote", "--no-npm"];
  const allow = netAllowList(config.bridges);
  if (allow.length > 0) flags.push(`--allow-net=${allow.join(",")}`);
  flags.push(`--deny-net=${netDenyList(config).join(",")}`);
  flags.push(`--v8-flags=--max-old-space-size=${memoryMb}`);
  return flags;
}

/** Container limits of one trust tier. */
export interface TierLimits {
  /** `--memory` and `--memory-swap` (no swap), in MiB. */
  memoryMb: number;
  /** `--cpus`. */
  cpus: number;
  /** `--pids-limit` (threads count too: an idle Deno runs about 7). */
  pids: number;
}

/** Container limits by tier: observers get the least. */
export const TIER_LIMITS: Readonly<Record<TrustTier, TierLimits>> = {
  1: { memoryMb: 192, cpus: 0.5, pids: 32 },
  2: { memoryMb: 256, cpus: 1, pids: 64 },
  3: { memoryMb: 384, cpus: 1.5, pids: 96 },
  4: { memoryMb: 512, cpus: 2, pids: 128 },
};

/** What a container may reach, as data for an egress proxy or firewall. */
export interface NetworkPolicy {
  /** `none`: no bridge, no network. `allowlist`: only `allow`. */
  mode: "none" | "allowlist";
  /** The `--network` value: `none`, or a dedicated network to attach an egress filter to. */
  dockerNetwork: string;
  /** The only destinations allowed. */
  allow: NetTarget[];
  /** IPv4 ranges to refuse after resolution (same as the Deno wall). */
  denyIpv4: string[];
  /** IPv6 ranges to refuse after resolution (the Deno wall cannot). */
  denyIpv6: string[];
  /** How the policy is enforced, and what Docker alone cannot do. */
  note: string;
}

/** Options of {@linkcode dockerArgsFor}. */
export interface DockerOptions {
  /** Image that runs Deno. Default `denoland/deno:2.9.6` (pin a digest in production). */
  image?: string;
  /** Host directory holding LOOM's source, mounted read-only at `/loom`. Default `/opt/loom`. */
  sourceDir?: string;
  /**
   * A single-file LOOM bundle to run instead of the source (it is its own
   * agent host): mounted read-only at `/loom/loom.js` and run with the
   * hidden `__agent-process` argument. Wins over `sourceDir`.
   */
  bundleFile?: string;
  /** V8 heap cap inside the container, in MiB. Default 96. */
  memoryMb?: number;
}

/** The hardened container for an agent host. */
export interface DockerPlan {
  /** Arguments after `docker`: `run ...`. */
  args: string[];
  network: NetworkPolicy;
  limits: TierLimits;
}

const EGRESS_NOTE = "Docker cannot allow-list hosts: attach an egress proxy or firewall " +
  "(e.g. nftables on the network's bridge, or an HTTP CONNECT proxy) that lets through only " +
  "`allow` and refuses `denyIpv4`/`denyIpv6` after resolution. Without one, the container's " +
  "only network wall is the Deno flags inside it.";

/**
 * The hardened `docker run` arguments and network policy of an agent
 * (`sandbox: docker`). The container runs the same agent host as
 * `sandbox: deno`, with the same Deno flags, behind a read-only root, a small
 * noexec tmpfs, no capabilities, no privilege gain, tier-scaled pids, memory
 * and CPU limits, the `nobody` user and a dedicated network. No Docker engine
 * is needed to compute it.
 *
 * @param config the agent config
 * @param options image, source location, heap cap
 * @returns argv (after `docker`) and the network policy as data
 */
export function dockerArgsFor(config: AgentConfig, options: DockerOptions = {}): DockerPlan {
  const tier = config.runtime.trustTier;
  const limits = TIER_LIMITS[tier];
  const targets = bridgeTargets(config.bridges);
  const network: NetworkPolicy = {
    mode: targets.length === 0 ? "none" : "allowlist",
    dockerNetwork: targets.length === 0 ? "none" : `loom-${config.name}-egress`,
    allow: targets,
    denyIpv4: netDenyList(config).filter((e) => !e.startsWith("[")),
    denyIpv6: [...SPECIAL_IPV6_RANGES],
    note: targets.length === 0
      ? "The agent has no bridge: the container has no network."
      : EGRESS_NOTE,
  };
  const program = options.bundleFile === undefined
    ? {
      volume: `${options.sourceDir ?? "/opt/loom"}:/loom:ro`,
      argv: ["/loom/src/runtime/sandbox/child/agent_main.ts"],
    }
    : {
      volume: `${options.bundleFile}:/loom/loom.js:ro`,
      argv: ["/loom/loom.js", "__agent-process"],
    };
  const args = [
    "run",
    "--rm",
    "--interactive",
    `--name=loom-${config.name}`,
    "--read-only",
    "--tmpfs",
    "/tmp:rw,noexec,nosuid,size=16m",
    "--cap-drop=ALL",
    "--security-opt=no-new-privileges",
    `--pids-limit=${limits.pids}`,
    `--memory=${limits.memoryMb}m`,
    `--memory-swap=${limits.memoryMb}m`,
    `--cpus=${limits.cpus}`,
    "--user",
    "65534:65534",
    `--network=${network.dockerNetwork}`,
    "--env=NO_COLOR=1",
    "--env=DENO_DIR=/tmp/deno",
    `--volume=${program.volume}`,
    options.image ?? "denoland/deno:2.9.6",
    "run",
    ...denoFlagsFor(config, { memoryMb: options.memoryMb }),
    ...program.argv,
  ];
  return { args, network, limits };
}
