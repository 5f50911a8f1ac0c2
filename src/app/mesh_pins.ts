/**
 * Tool-definition pinning in a mesh: the rug-pull defence. Every tool a
 * mesh serves is compared with its pin in the state database
 * (`src/store/tool_pins.ts`) when its agent opens, at start and on every
 * reload. The definition pinned is what a client relies on: name, title,
 * description, input and output schemas, annotations, and where calls go
 * (the bridge's method, URL, query, header and body templates; never a
 * secret, which configs only name).
 *
 * - A tool never seen is pinned as it is (trust on first use) and serves.
 * - A tool whose definition differs from its pin is held by its agent's
 *   gate (`src/runtime/gate/pin_hold.ts`): its calls are refused naming
 *   what changed and the commands that review and approve it, and the mesh
 *   keeps listing the pinned definition, so the changed text reaches no
 *   client and no `list_changed` is sent for it.
 * - Once a person approves it (`loom pin approve AGENT TOOL`, another
 *   process), the hold is released: on the next call of the tool, or by
 *   the poll that runs while any tool is held. Only then do clients see the
 *   new definition and get `notifications/tools/list_changed`.
 *
 * Every pin and every change seen is a `tool_pin` audit record.
 *
 * @module
 */

import type { AgentConfig } from "../config/mod.ts";
import type { McpTool } from "../mcp/mod.ts";
import type { AuditLog } from "../security/audit/mod.ts";
import { pinRecord, type ToolDefinition, toolDefinition } from "../security/pinning/mod.ts";
import { type LoomHome, type LoomStore, openStore } from "../store/mod.ts";
import type { AgentGate } from "../runtime/mod.ts";
import type { ServedAgent } from "./served_agent.ts";
import { canonicalJson } from "../_util/canonical_json.ts";

/**
 * What pins are checked for: an agent's config and gate, and the pinned
 * listings of its held tools (a mesh member; `loom run`'s one agent).
 */
export interface PinSubject {
  readonly agent: {
    readonly config: AgentConfig;
    readonly gate: AgentGate;
    /** Its anomaly detection: told of a changed definition (`tool_changed`). */
    readonly anomalies?: { toolChanged(tool: string): void };
  };
  readonly pinnedListing: Map<string, McpTool>;
}

/** How often held tools are checked for an approval: 2 seconds. */
export const PIN_POLL_MS = 2_000;

/** The pins of a mesh's agents, over one connection to the state database. */
export class MeshPins implements Disposable {
  readonly #store: LoomStore;
  readonly #audit: AuditLog;
  readonly #log: (line: string) => void;
  #poll: ReturnType<typeof setInterval> | undefined;

  private constructor(store: LoomStore, audit: AuditLog, log: (line: string) => void) {
    this.#store = store;
    this.#audit = audit;
    this.#log = log;
  }

  /**
   * Open the pins of a LOOM home.
   *
   * @param home the home whose state database holds the pins
   * @param audit where pins and changes are recorded
   * @param log a line for the operator
   */
  static async open(
    home: LoomHome,
    audit: AuditLog,
    log: (line: string) => void,
  ): Promise<MeshPins> {
    return new MeshPins(await openStore(home), audit, log);
  }

  /**
   * Compare the listed tools of newly opened members with their pins: pin
   * new ones, hold changed ones in their gates (the member then lists the
   * pinned definition), and record both.
   *
   * @param members members just opened, not serving yet
   */
  async check(members: readonly PinSubject[]): Promise<void> {
    const records = [];
    for (const member of members) {
      const { config, gate } = member.agent;
      const tools = gate.listTools();
      const verdicts = this.#store.toolPins.check(
        config.name,
        tools.map((tool) => ({ name: tool.name, definition: definitionOf(config, tool) })),
      );
      for (const [tool, verdict] of verdicts) {
        const record = pinRecord(config.name, tool, verdict);
        if (record !== null) records.push(this.#audit.append(record));
        if (verdict.state !== "changed") continue;
        const pinned = listedOf(verdict.pinned);
        gate.holdTool(tool, {
          digest: verdict.digest,
          pinnedDigest: verdict.pinnedDigest,
          changed: verdict.changed,
        }, pinned);
        member.pinnedListing.set(tool, pinned);
        member.agent.anomalies?.toolChanged(tool);
        this.#log(
          `loom: tool "${tool}" of "${config.name}" changed since it was approved ` +
            `(${verdict.changed.join(", ")}); it is disabled until "loom pin approve ` +
            `${config.name} ${tool}"`,
        );
      }
    }
    const failed = (await Promise.allSettled(records)).find((r) => r.status === "rejected");
    if (failed !== undefined) {
      const reason = (failed as PromiseRejectedResult).reason;
      this.#log(`loom: a tool_pin record could not be written: ${errorText(reason)}`);
    }
  }

  /**
   * Release the holds whose changed definition is now the pin (approved).
   *
   * @param members the members to look at
   * @param only look at this tool of each member only (a call of it)
   * @returns whether any hold was released
   */
  release(members: readonly PinSubject[], only?: string): boolean {
    let released = false;
    for (const member of members) {
      const { config, gate } = member.agent;
      for (const [tool, hold] of [...gate.heldTools()]) {
        if (only !== undefined && tool !== only) continue;
        let pinned: string | undefined;
        try {
          pinned = this.#store.toolPins.pinnedDigest(config.name, tool);
        } catch (error) {
          this.#log(`loom: reading the pin of "${tool}" failed: ${errorText(error)}`);
          continue;
        }
        if (pinned !== hold.digest) continue;
        gate.releaseTool(tool);
        member.pinnedListing.delete(tool);
        released = true;
        this.#log(`loom: tool "${tool}" of "${config.name}" approved; serving its new definition`);
      }
    }
    return released;
  }

  /**
   * Look for approvals every few seconds, but only while some tool is held.
   *
   * @param members the members serving now
   * @param check called on each tick with a tool held: releases what was approved
   * @param everyMs the period (default {@linkcode PIN_POLL_MS})
   */
  poll(members: () => readonly PinSubject[], check: () => void, everyMs = PIN_POLL_MS): void {
    const id = setInterval(() => {
      if (members().some((m) => m.agent.gate.heldTools().size > 0)) check();
    }, everyMs);
    Deno.unrefTimer(id);
    this.#poll = id;
  }

  /** Stop polling and close the connection to the state database. */
  close(): void {
    clearInterval(this.#poll);
    this.#store.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * A tool's definition as pinned: what it lists, and where its calls go (the
 * bridge's method and templates; placeholders name secrets, never hold them).
 *
 * @param config the agent's config
 * @param tool the tool as its gate lists it (its own name)
 */
export function definitionOf(config: AgentConfig, tool: McpTool): ToolDefinition {
  const upstream = config.mcpUpstream;
  if (upstream !== null) {
    // Where a gateway's calls go: the upstream server (its URL, or the whole
    // command line) and its own name of the tool.
    const choice = upstream.tools?.find((c) => c.as === tool.name);
    return toolDefinition(tool, {
      mcp: upstream.url ?? [...upstream.command!],
      tool: choice?.name ?? tool.name,
    });
  }
  const bridge = config.bridges.find((b) => b.toolName === tool.name);
  return toolDefinition(
    tool,
    bridge === undefined ? null : {
      method: bridge.method,
      url: bridge.url,
      query: bridge.queryParams,
      headers: bridge.headers,
      body: bridge.bodyTemplate ?? null,
    },
  );
}

/** The listing of a pinned definition (its own name; the mesh namespaces it). */
function listedOf(definition: ToolDefinition): McpTool {
  return {
    name: definition.name,
    ...(definition.title === undefined ? {} : { title: definition.title }),
    description: definition.description ?? "",
    inputSchema: definition.inputSchema,
    ...(definition.outputSchema === undefined ? {} : { outputSchema: definition.outputSchema }),
    ...(definition.annotations === undefined ? {} : { annotations: definition.annotations }),
  };
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** One served agent's pins (`loom run`): checked again when its upstream's tools change. */
export interface PinnedAgent extends Disposable {
  /** Check the pins again (the upstream listed its tools again), announcing a changed listing. */
  recheck(): Promise<void>;
}

/**
 * Pin one served agent's tools (`loom run` of a gateway config): check them
 * now, hold the changed ones, and release a hold once a person approves it,
 * telling the agent's clients that the listing changed.
 *
 * @param agent the agent just opened, not serving yet
 * @param home the home whose state database holds the pins
 * @param audit where pins and changes are recorded
 * @param log a line for the operator
 * @returns the pins; dispose of them to stop the poll and close the database
 */
export async function pinServedAgent(
  agent: ServedAgent,
  home: LoomHome,
  audit: AuditLog,
  log: (line: string) => void,
): Promise<PinnedAgent> {
  const pins = await MeshPins.open(home, audit, log);
  const subject: PinSubject = { agent, pinnedListing: new Map() };
  try {
    await pins.check([subject]);
  } catch (error) {
    pins.close();
    throw error;
  }
  let listed = canonicalJson(agent.gate.listTools());
  const announce = () => {
    const now = canonicalJson(agent.gate.listTools());
    if (now === listed) return;
    listed = now;
    agent.engine.notifyToolsChanged();
  };
  pins.poll(() => [subject], () => {
    if (pins.release([subject])) announce();
  });
  return {
    recheck: async () => {
      await pins.check([subject]);
      announce();
    },
    [Symbol.dispose]: () => pins.close(),
  };
}
