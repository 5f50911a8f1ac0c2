/**
 * Scheduled runs of a mesh: the tools whose config has `triggers` are called
 * by `loom mesh` itself when their cron expression comes due (in the mesh's
 * time zone, `src/_util/cron.ts`).
 *
 * Each run is a call through the mesh exactly as a client's (`Mesh.callTool`
 * with each parameter's default as its arguments): the owning agent's gate validates,
 * checks the tier, rate limit and escalation rules (a held run stays held;
 * no one is asked inline), runs and records it, client `schedule`. What the
 * gate's records cannot tell is a `schedule` audit record: a run skipped
 * because the trigger's previous run was still going (runs of one trigger
 * never overlap), a run the mesh could not route, and the webhook's result
 * (`schedule_webhook.ts`), which never stops the mesh.
 *
 * Only tools the mesh exposes are scheduled (`--tools` and profiles apply).
 * The plan follows hot reload: {@linkcode MeshScheduler.refresh} (called on
 * each reload, and at every wake-up, at least once a minute) keeps the
 * triggers that are unchanged, with their next time and the run in flight,
 * adds the new ones and drops the removed ones. A wake-up after the clock
 * jumped (a sleeping laptop) runs each overdue trigger once, not once per
 * missed time.
 *
 * The clock is injectable (`now`, `setTimer`) so tests make a schedule
 * fire without waiting.
 *
 * @module
 */

import { type CronSchedule, parseCron } from "../_util/cron.ts";
import { triggerArguments, type TriggerSpec } from "../config/mod.ts";
import type { AuditLog, ScheduleEvent } from "../security/audit/mod.ts";
import type { CallToolResult, ToolCallContext } from "../mcp/mod.ts";
import { type HostLookup, HttpClient } from "../net/mod.ts";
import { boundedText, postWebhook, type WebhookBody } from "./schedule_webhook.ts";
import type { MeshState } from "./mesh_reload.ts";

/** The client name of every scheduled call, as audit records show it. */
export const SCHEDULE_CLIENT = "schedule";
/** Longest sleep between wake-ups, so a reload is seen within a minute even unannounced. */
export const MAX_SCHEDULE_SLEEP_MS = 60_000;

/** The time source and timer of a scheduler (real by default; a test's own in tests). */
export interface ScheduleClock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Call `fn` after `ms`; returns a function that cancels it. */
  setTimer(fn: () => void, ms: number): () => void;
}

/** The real clock. */
export const SYSTEM_CLOCK: ScheduleClock = {
  now: () => Date.now(),
  setTimer(fn, ms) {
    const id = setTimeout(fn, ms);
    return () => clearTimeout(id);
  },
};

/** A tool with triggers, as the mesh serves it now. */
export interface ScheduledTool {
  agent: string;
  /** The tool's own name. */
  tool: string;
  /** The name clients call it by (namespaced or not). */
  served: string;
  triggers: readonly TriggerSpec[];
  /** The agent's `runtime.allow_networks` (for the webhook's destination check). */
  allowNetworks: readonly string[];
  /** The call's arguments: each parameter's default (`triggerArguments`, `src/config/triggers.ts`). */
  args: Readonly<Record<string, unknown>>;
}

/** What the scheduler needs of a mesh. */
export interface ScheduleSource {
  /** The exposed tools with triggers, on the version serving now. */
  scheduledTools(): readonly ScheduledTool[];
  /** A call as a client makes it. */
  callTool(name: string, args: unknown, ctx: ToolCallContext): Promise<CallToolResult>;
}

/** Options of {@linkcode MeshScheduler.start}. */
export interface ScheduleOptions {
  /** The IANA time zone cron expressions are read in (checked by the caller). */
  timeZone: string;
  audit: AuditLog;
  /** LOOM's version, as the calls' client version. */
  version: string;
  /** A line for the operator (stderr). */
  log(line: string): void;
  /** Default {@linkcode SYSTEM_CLOCK}. */
  clock?: ScheduleClock;
  /** Resolver seam of the webhooks' destination check (tests). */
  lookup?: HostLookup;
  /** Per delivery (default `WEBHOOK_TIMEOUT_MS`). */
  webhookTimeoutMs?: number;
}

/** One trigger in the plan. */
interface Planned {
  tool: ScheduledTool;
  trigger: TriggerSpec;
  schedule: CronSchedule;
  /** When it is next due (ms), or null for never. */
  next: number | null;
  /** The run in flight, if any. */
  running: Promise<void> | null;
}

/** The process's local time zone, as `Intl` resolves it. */
export function localTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}

/** Runs the triggers of a mesh's tools; see the module doc. */
export class MeshScheduler implements AsyncDisposable {
  readonly #source: ScheduleSource;
  readonly #options: ScheduleOptions;
  readonly #clock: ScheduleClock;
  readonly #plan = new Map<string, Planned>();
  readonly #runs = new Set<Promise<void>>();
  readonly #abort = new AbortController();
  readonly #http = new HttpClient({ maxIdlePerOrigin: 4 });
  #cancelTimer: (() => void) | null = null;
  #closed = false;

  private constructor(source: ScheduleSource, options: ScheduleOptions) {
    this.#source = source;
    this.#options = options;
    this.#clock = options.clock ?? SYSTEM_CLOCK;
  }

  /**
   * Plan the mesh's triggers and start waiting for the first one.
   *
   * @param source the mesh
   * @param options time zone, audit log, log, clock
   */
  static start(source: ScheduleSource, options: ScheduleOptions): MeshScheduler {
    const scheduler = new MeshScheduler(source, options);
    scheduler.refresh();
    return scheduler;
  }

  /** How many triggers are planned now. */
  get planned(): number {
    return this.#plan.size;
  }

  /** When the next trigger is due (ms since the epoch), or null when none is. */
  nextDue(): number | null {
    let first: number | null = null;
    for (const p of this.#plan.values()) {
      if (p.next !== null && (first === null || p.next < first)) first = p.next;
    }
    return first;
  }

  /**
   * Read the mesh's triggers again (after a reload): unchanged triggers keep
   * their next time and run in flight, new ones are planned from now,
   * removed ones are dropped. Then wait for the next one.
   */
  refresh(): void {
    if (this.#closed) return;
    const now = this.#clock.now();
    const seen = new Set<string>();
    for (const tool of this.#source.scheduledTools()) {
      tool.triggers.forEach((trigger, i) => {
        const key = [tool.agent, tool.tool, tool.served, i, trigger.cron, trigger.webhook ?? ""]
          .join("\u0000");
        seen.add(key);
        const known = this.#plan.get(key);
        if (known !== undefined) {
          known.tool = tool; // the new version's allowances
          return;
        }
        let schedule: CronSchedule;
        try {
          schedule = parseCron(trigger.cron);
        } catch (error) {
          // The loader checked it; a failure here is reported and the trigger left out.
          this.#options.log(`loom: schedule of "${tool.served}" left out: ${message(error)}`);
          return;
        }
        this.#plan.set(key, {
          tool,
          trigger,
          schedule,
          next: this.#nextAfter(schedule, now),
          running: null,
        });
      });
    }
    for (const key of [...this.#plan.keys()]) if (!seen.has(key)) this.#plan.delete(key);
    this.#arm(now);
  }

  #nextAfter(schedule: CronSchedule, after: number): number | null {
    return schedule.nextAfter(new Date(after), this.#options.timeZone)?.getTime() ?? null;
  }

  #arm(now: number): void {
    this.#cancelTimer?.();
    this.#cancelTimer = null;
    if (this.#closed) return;
    const due = this.nextDue();
    const wait = due === null
      ? MAX_SCHEDULE_SLEEP_MS
      : Math.min(Math.max(due - now, 0), MAX_SCHEDULE_SLEEP_MS);
    this.#cancelTimer = this.#clock.setTimer(() => this.#wake(), wait);
  }

  #wake(): void {
    this.#cancelTimer = null;
    if (this.#closed) return;
    try {
      this.refresh(); // follows a reload nobody announced; arms the timer again
      const now = this.#clock.now();
      for (const p of this.#plan.values()) {
        if (p.next === null || p.next > now) continue;
        const due = p.next;
        p.next = this.#nextAfter(p.schedule, Math.max(now, due));
        this.#fire(p, due);
      }
      this.#arm(now);
    } catch (error) {
      this.#options.log(`loom: the schedule failed: ${message(error)}`);
      this.#arm(this.#clock.now());
    }
  }

  #fire(p: Planned, due: number): void {
    if (p.running !== null) {
      this.#track(
        this.#record(p, due, { action: "skipped", reason: "the previous run is still going" }),
      );
      return;
    }
    p.running = this.#track(
      this.#run(p, due).catch((error) =>
        this.#options.log(`loom: scheduled run of "${p.tool.served}" failed: ${message(error)}`)
      ).finally(() => {
        p.running = null;
      }),
    );
  }

  /** Keep a promise in the set {@linkcode MeshScheduler.idle} waits for, until it settles. */
  #track(work: Promise<void>): Promise<void> {
    const tracked: Promise<void> = work.finally(() => this.#runs.delete(tracked));
    this.#runs.add(tracked);
    return tracked;
  }

  async #run(p: Planned, due: number): Promise<void> {
    const ctx: ToolCallContext = {
      signal: this.#abort.signal,
      sessionId: null,
      client: { name: SCHEDULE_CLIENT, version: this.#options.version },
      caller: SCHEDULE_CLIENT,
      log() {},
    };
    let status: WebhookBody["status"];
    let text: string;
    try {
      const result = await this.#source.callTool(p.tool.served, structuredClone(p.tool.args), ctx);
      status = result.isError === true ? "error" : "success";
      text = result.content.map((c) => c.text).join("\n");
    } catch (error) {
      status = "failed";
      text = message(error);
      await this.#record(p, due, { action: "failed", reason: text.slice(0, 256) });
    }
    const webhook = p.trigger.webhook;
    if (webhook === null || this.#closed) return;
    const outcome = await postWebhook(this.#http, {
      url: webhook,
      body: {
        agent: p.tool.agent,
        tool: p.tool.tool,
        trigger: p.trigger.cron,
        fired_at: new Date(due).toISOString(),
        status,
        result_text: boundedText(text),
      },
      allowNetworks: p.tool.allowNetworks,
      signal: this.#abort.signal,
      timeoutMs: this.#options.webhookTimeoutMs,
      lookup: this.#options.lookup,
    });
    await this.#record(p, due, {
      action: "webhook",
      result: outcome.result,
      webhook: new URL(webhook).origin,
      ...("status" in outcome && outcome.status !== undefined
        ? { http_status: outcome.status }
        : {}),
      ...("reason" in outcome ? { reason: outcome.reason } : {}),
    });
  }

  /** Append a `schedule` record; a failure to write it is logged, never thrown. */
  async #record(
    p: Planned,
    due: number,
    fields: Pick<ScheduleEvent, "action"> & Partial<ScheduleEvent>,
  ): Promise<void> {
    const event: ScheduleEvent = {
      event: "schedule",
      agent: p.tool.agent,
      tool: p.tool.tool,
      trigger: p.trigger.cron,
      fired_at: new Date(due).toISOString(),
      ...fields,
    };
    try {
      await this.#options.audit.append(event);
    } catch (error) {
      this.#options.log(
        `loom: recording the schedule of "${p.tool.served}" failed: ${message(error)}`,
      );
    }
  }

  /** Settles when every run in flight now (call and webhook) has ended. */
  async idle(): Promise<void> {
    while (this.#runs.size > 0) await Promise.allSettled([...this.#runs]);
  }

  /** Stop planning, cancel the runs in flight, wait for them, close the HTTP client. Idempotent. */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#cancelTimer?.();
      this.#cancelTimer = null;
      this.#abort.abort();
    }
    await this.idle();
    this.#http.close();
  }

  /** Same as {@linkcode MeshScheduler.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * The exposed tools of a mesh's serving state that have triggers, with the
 * arguments a scheduled call sends (each parameter's default).
 *
 * @param state the mesh's state serving now
 */
export function scheduledToolsOf(state: MeshState): ScheduledTool[] {
  return [...state.routes].flatMap(([served, route]) => {
    const config = state.members[route.member].entry.config;
    const tool = config.tools.find((t) => t.name === route.tool);
    if (tool?.triggers === undefined || (state.exposed !== null && !state.exposed.has(served))) {
      return [];
    }
    const { triggers } = tool;
    const allowNetworks = config.runtime.allowNetworks;
    const args = triggerArguments(tool);
    return [{ agent: config.name, tool: route.tool, served, triggers, allowNetworks, args }];
  });
}
