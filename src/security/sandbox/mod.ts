/**
 * Sandbox policy as pure data (`docs/security-controls.md` §3): the Deno flags an agent host
 * process runs under, the hardened `docker run` arguments and network policy
 * for `sandbox: docker`, computed with the exact IPv4 CIDR arithmetic of
 * `src/net/cidr.ts` for the `--deny-net` list. The process that applies the flags is
 * `src/runtime/sandbox/`.
 *
 * @example
 * ```ts
 * import { denoFlagsFor } from "./mod.ts";
 * import type { AgentConfig } from "../../config/mod.ts";
 *
 * const config = {
 *   name: "weather",
 *   bridges: [{ toolName: "forecast", url: "http://localhost:8080/forecast/{{city}}" }],
 *   runtime: { trustTier: 1, allowNetworks: [] },
 * } as unknown as AgentConfig;
 * const flags = denoFlagsFor(config);
 * // ["--no-prompt", "--no-config", "--no-remote", "--no-npm",
 * //  "--allow-net=localhost:8080", "--deny-net=0.0.0.0/8,10.0.0.0/8,...,[::]",
 * //  "--v8-flags=--max-old-space-size=96"]
 * if (!flags.includes("--allow-net=localhost:8080")) throw new Error("unexpected flags");
 * ```
 *
 * @module
 */

export {
  bridgeTargets,
  DEFAULT_AGENT_MEMORY_MB,
  DENIED_IPV6,
  denoFlagsFor,
  type DenoFlagsOptions,
  dockerArgsFor,
  type DockerOptions,
  type DockerPlan,
  FORBIDDEN_DENO_FLAGS,
  netAllowList,
  netDenyList,
  type NetTarget,
  type NetworkPolicy,
  SPECIAL_IPV6_RANGES,
  TIER_LIMITS,
  type TierLimits,
} from "./flags.ts";
export { envNames, UPSTREAM_MEMORY_MB, upstreamDenoFlags } from "./upstream_flags.ts";
