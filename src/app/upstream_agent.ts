/**
 * Gateway mode: the MCP upstream of an agent whose config has
 * `mcp_upstream`, opened for its gate.
 *
 * Opening starts the upstream (a child process under Deno's permission
 * flags for a module, `upstreamDenoFlags()`; or a streamable HTTP
 * connection), lists its tools and decides which the agent serves
 * (`upstream_tools.ts`). While it serves, what the upstream sends on its
 * own is routed here: its log messages and its sampling and elicitation
 * requests reach the client of the one call in flight, or nobody; its
 * process events become `sandbox_lifecycle` records.
 *
 * Secrets the upstream needs (`env_secrets`, `{{secret:NAME}}` in
 * `headers`) are released by the credential broker when it starts and at
 * each restart, audited like a bridge's (tool `(upstream)`), under the same
 * grant; every answer is redacted of them.
 *
 * @module
 */

import { type AgentConfig, isDenoModule, type McpUpstreamSpec } from "../config/mod.ts";
import { parseTemplate } from "../_util/template.ts";
import { PolicyError } from "../errors.ts";
import type { AuditLog } from "../security/audit/mod.ts";
import type { CredentialBroker } from "../security/secrets/mod.ts";
import { upstreamDenoFlags } from "../security/sandbox/mod.ts";
import {
  McpUpstream,
  type McpUpstreamTransport,
  type UpstreamLifecycleEvent,
} from "../upstream/mod.ts";
import { LOG_LEVELS, type LogLevel } from "../mcp/mod.ts";
import type {
  Released,
  UpstreamCallClient,
  UpstreamCaller,
  UpstreamToolSpec,
} from "../runtime/mod.ts";
import type { SandboxEvent } from "../runtime/sandbox/mod.ts";
import { sandboxRecorder } from "./lifecycle.ts";
import { chooseTools } from "./upstream_tools.ts";

/** What {@linkcode openUpstream} needs. */
export interface OpenUpstreamOptions {
  audit: AuditLog;
  /** Releases the upstream's secrets; absent when it names none. */
  broker: CredentialBroker | undefined;
  /** A line for the operator (stderr). */
  log(line: string): void;
  /** LOOM's version, announced to the upstream. */
  version: string;
  /** The upstream said its tools changed, or it restarted. */
  onToolsChanged?: () => void;
}

/** An opened upstream: what the gate calls, and the tools it serves. */
export interface OpenedUpstream {
  caller: UpstreamCaller;
  tools: UpstreamToolSpec[];
  /** List the upstream's tools again and choose among them as at the start. */
  relist(): Promise<UpstreamToolSpec[]>;
}

const NOTHING: Released = Object.freeze({ values: new Map<string, string>(), redaction: null });

/**
 * Start the agent's upstream and list the tools it will serve.
 *
 * @param config a config with `mcp_upstream`
 * @param options audit log, broker, operator log
 * @returns the caller for the gate and the tools
 * @throws {UpstreamError} when the upstream cannot be started or listed within `start_timeout`
 * @throws {PolicyError} when its secrets are not released
 */
export async function openUpstream(
  config: AgentConfig,
  options: OpenUpstreamOptions,
): Promise<OpenedUpstream> {
  const spec = config.mcpUpstream;
  if (spec === null) throw new TypeError(`Agent "${config.name}" has no mcp_upstream`);
  const origin = upstreamOrigin(spec);
  const secrets = new UpstreamSecrets(config, origin, options.broker);
  const calls = new CallsInFlight();
  const record = sandboxRecorder(options.audit, config.name, options.log);
  let closing = false;
  const upstream = new McpUpstream(transportOf(config, spec, secrets), {
    name: config.name,
    clientVersion: options.version,
    onToolsChanged: options.onToolsChanged,
    onLifecycle: (event) => {
      const lifecycle = lifecycleEvent(event, closing);
      if (lifecycle !== null) record(lifecycle);
      if (event.kind === "restart" || event.kind === "give_up") {
        options.log(`loom[${config.name}]: upstream ${event.kind} (${lifecycle?.detail ?? ""})`);
      }
    },
    // Log messages reach the one client whose call is in flight, redacted.
    onLog: (level, data, logger) => {
      const client = calls.only();
      if (client === undefined) return;
      const redaction = secrets.released.redaction;
      // Redacted whole first, then cut: a cut could split a secret the redactor would miss.
      const raw = { upstream: logger ?? config.name, data };
      const shown = (redaction === null ? raw : redaction.redactJson(raw)) as typeof raw;
      const source = String(shown.upstream).slice(0, 64);
      client.log(logLevel(level), { upstream: source, data: boundedLog(shown.data) });
    },
    onServerRequest: serverRequests(spec, calls),
  });
  try {
    const signal = AbortSignal.timeout(spec.startTimeoutMs);
    await upstream.start(signal);
    const offered = await upstream.listTools(signal);
    const tools = chooseTools(config, offered, options.log);
    const caller: UpstreamCaller = {
      origin,
      callTool: (name, args, call) =>
        calls.during(call.client, () => upstream.callTool(name, args, call)),
      released: () => secrets.released,
      close: () => {
        closing = true;
        return upstream.close();
      },
    };
    const relist = async () =>
      chooseTools(
        config,
        await upstream.listTools(AbortSignal.timeout(spec.startTimeoutMs)),
        options.log,
      );
    return { caller, tools, relist };
  } catch (error) {
    closing = true;
    await upstream.close();
    throw error;
  }
}

/** The upstream's identity in records and grants: `stdio:<program>`, or the URL's origin. */
export function upstreamOrigin(spec: McpUpstreamSpec): string {
  if (spec.url !== null) return new URL(spec.url).origin;
  return `stdio:${spec.command![0]}`;
}

/** The secret names an upstream's config names: `env_secrets` values and header placeholders. */
export function upstreamSecretNames(spec: McpUpstreamSpec): string[] {
  const names = new Set(Object.values(spec.envSecrets));
  for (const value of Object.values(spec.headers)) {
    for (const part of parseTemplate(value)) if (part.kind === "secret") names.add(part.name);
  }
  return [...names];
}

/** The secrets of one upstream, released at each start and kept for redaction. */
class UpstreamSecrets {
  readonly #config: AgentConfig;
  readonly #origin: string;
  readonly #broker: CredentialBroker | undefined;
  readonly #names: string[];
  #starts = 0;
  released: Released = NOTHING;

  constructor(config: AgentConfig, origin: string, broker: CredentialBroker | undefined) {
    this.#config = config;
    this.#origin = origin;
    this.#broker = broker;
    this.#names = upstreamSecretNames(config.mcpUpstream!);
  }

  /** Release every secret the upstream names, or throw naming the first refused. */
  async release(): Promise<ReadonlyMap<string, string>> {
    if (this.#names.length === 0) return NOTHING.values;
    const config = this.#config;
    if (this.#broker === undefined) {
      throw new PolicyError(`Agent "${config.name}": no credential broker for its upstream`);
    }
    const answer = await this.#broker.resolve({
      agent: config.name,
      configDigest: config.source.digest,
      names: this.#names,
      origin: this.#origin,
      tool: "(upstream)",
      call: `${config.name}-upstream-${++this.#starts}`,
      configPath: config.source.path,
    });
    if (!answer.ok) {
      throw new PolicyError(
        answer.message ?? `Secret "${answer.name}" is not available to "${config.name}"`,
      );
    }
    this.released = { values: answer.values, redaction: answer.redactor };
    return answer.values;
  }
}

function transportOf(
  config: AgentConfig,
  spec: McpUpstreamSpec,
  secrets: UpstreamSecrets,
): McpUpstreamTransport {
  if (spec.url !== null) {
    return {
      kind: "http",
      url: spec.url,
      era: spec.era,
      allowNetworks: config.runtime.allowNetworks,
      headers: async () => {
        const values = await secrets.release();
        const headers: Record<string, string> = {};
        for (const [name, template] of Object.entries(spec.headers)) {
          headers[name] = parseTemplate(template).map((part) =>
            part.kind === "text" ? part.text : part.kind === "secret" ? values.get(part.name) : ""
          ).join("");
        }
        return headers;
      },
    };
  }
  const command = spec.command!;
  return {
    kind: "stdio",
    command,
    ...(isDenoModule(command[0]) ? { denoFlags: upstreamDenoFlags(config) } : {}),
    env: spec.env,
    resolveEnv: async () => {
      const values = await secrets.release();
      const env: Record<string, string> = {};
      for (const [variable, name] of Object.entries(spec.envSecrets)) {
        env[variable] = values.get(name)!;
      }
      return env;
    },
    ...(spec.cwd === null ? {} : { cwd: spec.cwd }),
  };
}

/** The clients of the gateway calls in flight, for what the upstream sends while they run. */
class CallsInFlight {
  readonly #clients = new Set<UpstreamCallClient>();

  /** Run a call with its client counted as in flight. */
  async during<T>(client: UpstreamCallClient | undefined, run: () => Promise<T>): Promise<T> {
    if (client === undefined) return await run();
    this.#clients.add(client);
    try {
      return await run();
    } finally {
      this.#clients.delete(client);
    }
  }

  /**
   * The client of the only call in flight: a stdio upstream is shared by
   * every session, and nothing in what it sends says which call it is
   * about, so with two calls in flight no client is told (one session must
   * never see another's).
   */
  only(): UpstreamCallClient | undefined {
    if (this.#clients.size !== 1) return undefined;
    return this.#clients.values().next().value;
  }
}

/** The client capability a request of the upstream needs, by method. */
const REQUEST_CAPABILITY: Readonly<Record<string, string>> = {
  "sampling/createMessage": "sampling",
  "elicitation/create": "elicitation",
};

/**
 * How the upstream's own requests are answered: sampling and elicitation
 * only when the config allows them, and then only by the client of the one
 * call in flight, when it declared the capability; every other case is
 * refused (the upstream gets a JSON-RPC error).
 */
function serverRequests(
  spec: McpUpstreamSpec,
  calls: CallsInFlight,
): ((method: string, params: unknown) => Promise<unknown>) | undefined {
  if (!spec.allowSampling && !spec.allowElicitation) return undefined;
  return (method, params) => {
    const allowed = method === "sampling/createMessage"
      ? spec.allowSampling
      : method === "elicitation/create" && spec.allowElicitation;
    const client = calls.only();
    const capability = REQUEST_CAPABILITY[method];
    if (!allowed) {
      return Promise.reject(new PolicyError(`The config does not allow the upstream's ${method}`));
    }
    if (client?.request === undefined || client.capabilities?.has(capability) !== true) {
      return Promise.reject(
        new PolicyError(`No client can answer the upstream's ${method} now`),
      );
    }
    const body = typeof params === "object" && params !== null && !Array.isArray(params)
      ? params as Record<string, unknown>
      : {};
    return client.request(method, body);
  };
}

/** The most of an upstream's log message passed on, as JSON characters. */
const MAX_LOG_CHARS = 8192;

/** A log message's data, or its JSON cut to {@linkcode MAX_LOG_CHARS} when longer. */
function boundedLog(data: unknown): unknown {
  const text = JSON.stringify(data) ?? "null";
  return text.length <= MAX_LOG_CHARS ? data : `${text.slice(0, MAX_LOG_CHARS)}… (cut)`;
}

/** An upstream's log level as MCP names it, or `info` for one MCP does not name. */
function logLevel(level: string): LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(level) ? level as LogLevel : "info";
}

/**
 * An upstream process event as the sandbox records its host's
 * (`sandbox_lifecycle`): started, exited (a crash unless LOOM was closing
 * it), restarted after the backoff, given up on.
 */
function lifecycleEvent(event: UpstreamLifecycleEvent, closing: boolean): SandboxEvent | null {
  const pid = event.pid === undefined ? {} : { pid: event.pid };
  switch (event.kind) {
    case "start":
      return { action: "spawn", detail: "mcp upstream", ...pid };
    case "exit":
      return closing
        ? { action: "stop", detail: "shutdown", ...pid }
        : { action: "crash", detail: `exit code ${event.code ?? "unknown"}`, ...pid };
    case "restart":
      return { action: "restart", detail: event.detail ?? "backoff", ...pid };
    case "give_up":
      return { action: "kill", detail: "gave up restarting", ...pid };
  }
}
