/**
 * `runtime.anomaly`: the thresholds of an agent's anomaly detection
 * (`src/security/anomaly/`), and where its alerts go.
 *
 * ```yaml
 * runtime:
 *   trust_tier: 2
 *   anomaly:
 *     warmup: 24h            # tools first called later are `new_tool` anomalies
 *     window: 5m             # the sliding window of every count below
 *     rate_limit: 1          # rate-limit refusals of one tool per window
 *     credential_denials: 3  # secrets the broker refused per window
 *     denial_burst: 20       # refusals of any kind per window
 *     webhook: "https://hooks.example.com/loom"
 * ```
 *
 * The shape is here ({@linkcode RuntimeAnomaly}); {@linkcode anomalyProblems}
 * is the load-time rule the loader's checks run: a webhook sends data out of
 * LOOM on LOOM's own initiative, so it needs trust tier 2 and an `http:` or
 * `https:` URL without credentials (the rules of a trigger's webhook,
 * `triggers.ts`). {@linkcode resolveAnomaly} turns it into the
 * {@linkcode AnomalySpec} of the resolved config.
 *
 * @module
 */

import { z } from "zod";
import { parseDuration } from "../_util/units.ts";
import type { Located, PathSegment, YamlSource } from "./_yaml.ts";
import { webhookUrlProblem } from "./triggers.ts";

/** Longest webhook URL accepted, in characters. */
const MAX_WEBHOOK_LENGTH = 2048;
/** Longest warm-up: 30 days. */
export const MAX_WARMUP_MS = 30 * 24 * 3_600_000;
/** Longest window: 24 hours. */
export const MAX_WINDOW_MS = 24 * 3_600_000;

const DURATION_TEXT = /^\d{1,9}(?:\.\d{1,3})?(?:ms|s|m|h)?$/;
const DURATION_HINT = 'Expected a duration such as "30s", "5m", "24h", or a number of seconds';

/** A duration from 0 (or 1 ms) to `maxMs`. */
function duration(minMs: number, maxMs: number) {
  return z.union([z.number().min(0), z.string().regex(DURATION_TEXT, { error: DURATION_HINT })], {
    error: DURATION_HINT,
  }).refine((value) => {
    const ms = parseDuration(value);
    return ms !== undefined && ms >= minMs && ms <= maxMs;
  }, { error: `Duration must be between ${minMs}ms and ${maxMs / 3_600_000}h` });
}

const Count = z.int().min(1).max(100_000);

/** `runtime.anomaly` as written. */
export const RuntimeAnomaly = z.strictObject({
  enabled: z.boolean().default(true).meta({
    description: "Whether anomalies are detected and recorded (default true)",
  }),
  warmup: duration(0, MAX_WARMUP_MS).default("24h").meta({
    description: "From the agent's first start in this home, tools called are learned " +
      "silently; a tool first called later is a new_tool anomaly (default 24h; 0 learns nothing)",
  }),
  window: duration(1, MAX_WINDOW_MS).default("5m").meta({
    description: "The sliding window of the counts; one record per kind and tool per window " +
      "(default 5m)",
  }),
  rate_limit: Count.default(1).meta({
    description: "Rate-limit refusals of one tool within the window that make an anomaly",
  }),
  credential_denials: Count.default(3).meta({
    description: "Secrets the broker refused within the window that make an anomaly",
  }),
  denial_burst: Count.default(20).meta({
    description: "Refusals of any kind within the window that make an anomaly",
  }),
  webhook: z.string().min(1).max(MAX_WEBHOOK_LENGTH).optional().meta({
    description: "http(s) URL that receives each anomaly as a JSON POST, one per kind per " +
      "window (trust tier 2+). Threat: sends agent and tool names out of LOOM",
  }),
}).meta({ description: "Anomaly detection: audit records, /metrics counters, webhook alerts" });

/** What people write for `runtime.anomaly`. */
export type RuntimeAnomalyInput = z.input<typeof RuntimeAnomaly>;
/** `runtime.anomaly` after validation, defaults applied. */
export type RuntimeAnomalyParsed = z.output<typeof RuntimeAnomaly>;

/** Anomaly detection, resolved: durations in milliseconds. */
export interface AnomalySpec {
  enabled: boolean;
  /** From the agent's first start in this home: tools called are learned silently. */
  warmupMs: number;
  /** The sliding window of every count. */
  windowMs: number;
  /** Rate-limit refusals of one tool within the window. */
  rateLimit: number;
  /** Credential denials within the window. */
  credentialDenials: number;
  /** Refusals of any kind within the window. */
  denialBurst: number;
  /** Where alerts are POSTed, or null. */
  webhook: string | null;
}

/** The defaults, as resolved: what an agent without `runtime.anomaly` gets. */
export const DEFAULT_ANOMALY: Readonly<AnomalySpec> = Object.freeze(
  resolveAnomaly(RuntimeAnomaly.parse({})),
);

/**
 * `runtime.anomaly` as parsed, resolved (absent: the defaults).
 *
 * @param parsed the block, defaults applied, or undefined
 */
export function resolveAnomaly(parsed: RuntimeAnomalyParsed | undefined): AnomalySpec {
  if (parsed === undefined) return { ...DEFAULT_ANOMALY };
  return {
    enabled: parsed.enabled,
    warmupMs: parseDuration(parsed.warmup)!,
    windowMs: parseDuration(parsed.window)!,
    rateLimit: parsed.rate_limit,
    credentialDenials: parsed.credential_denials,
    denialBurst: parsed.denial_burst,
    webhook: parsed.webhook ?? null,
  };
}

/**
 * The load-time problems of `runtime.anomaly`, positioned: a webhook needs
 * trust tier 2 and a well-formed http(s) URL without credentials.
 *
 * @param anomaly the block as parsed, or undefined
 * @param tier the agent's trust tier
 * @param path where the block is in the document (`agent.runtime.anomaly`)
 * @param source positions
 */
export function anomalyProblems(
  anomaly: RuntimeAnomalyParsed | undefined,
  tier: number,
  path: readonly PathSegment[],
  source: YamlSource,
): Located[] {
  if (anomaly?.webhook === undefined) return [];
  const at = [...path, "webhook"];
  const out: Located[] = [];
  if (tier < 2) {
    out.push(source.at(
      at,
      "An anomaly webhook sends alerts out of LOOM, which trust tier 1 (observer) does not " +
        "allow: remove it or raise runtime.trust_tier to 2",
    ));
  }
  const problem = webhookUrlProblem(anomaly.webhook);
  if (problem !== null) out.push(source.at(at, problem));
  return out;
}
