/**
 * `loom probe TARGET`: connect to any MCP server, over streamable HTTP or
 * stdio, in either protocol era, and print what it says about itself and
 * its tools. For checking a LOOM agent or mesh from the outside, and for
 * looking at a third-party server before wiring it in.
 *
 * Everything printed that came from the target is escaped for the terminal
 * (`escapeForTerminal`, or `jsonForTerminal` under `--json`), so a hostile
 * tool description cannot drive the terminal or forge lines. The bearer
 * token is read from a file or the environment, never from the command
 * line, and is never printed.
 *
 * @module
 */

import { LoomError, UsageError } from "../errors.ts";
import { escapeForTerminal, jsonForTerminal } from "../_util/terminal.ts";
import { parseOptions } from "./_args.ts";
import type { CliIo } from "./_io.ts";
import {
  type EraChoice,
  MAX_TEXT,
  MAX_TOOLS,
  type ProbeReport,
  probeServer,
} from "./_probe_client.ts";
import { HttpProbeTransport } from "./_probe_http.ts";
import { StdioProbeTransport } from "./_probe_stdio.ts";
import { timeoutError } from "./_probe_transport.ts";
import { splitCommandLine } from "./_probe_target.ts";

/** Help for `loom probe`. */
export const PROBE_HELP = `Usage: loom probe [options] URL
       loom probe [options] "COMMAND ARG..."
       loom probe [options] -- COMMAND ARG...

Connect to an MCP server and print its name, version, protocol version,
capabilities, instructions and tools (title, description, annotations).
Works with servers of both protocol eras: 2026-07-28 (server/discover,
stateless) and 2025-11-25 (initialize).

TARGET is either an http:// or https:// URL of a streamable HTTP endpoint
(usually ending in /mcp), or a stdio server: its command line as one
quoted argument (split on spaces; '...' and "..." group words; no shell,
so no variables, globs, pipes or redirections), or its exact arguments
after "--". The stdio server runs with an empty environment except PATH,
HOME and the variables named with --pass-env, and is stopped when the
probe ends.

Options:
  --json              print one JSON object instead of text
  --timeout SECONDS   give up after this long (default 10)
  --token-file FILE   file whose first line is the HTTP bearer token
                      (default: the LOOM_HTTP_TOKEN environment variable)
  --era auto|2025|2026
                      auto (default): try 2026-07-28 discovery, fall back to
                      initialize; 2025 or 2026: that era only
  --pass-env NAME     pass this variable of your environment to a stdio
                      server (repeatable)
  -h, --help          show this help

Examples:
  loom probe http://127.0.0.1:8400/mcp
  loom probe --token-file ~/.loom/token --json https://agents.example/mcp
  loom probe -- deno run -A server.ts
  loom probe --pass-env LOOM_HOME "loom run agents/demo.yaml"

Text from the server is printed with control, bidi and zero-width
characters escaped (\\x1b, \\u202e); descriptions over ${MAX_TEXT} characters
and tools beyond ${MAX_TOOLS} are cut, and the cut is noted.

Exit status: 0 ok, 64 usage, 66 command not found, 69 unreachable or not
MCP (connection refused, DNS, TLS, HTML page, JSON-RPC error, early exit),
75 timed out, 77 refused by the server's authentication (HTTP 401/403).
`;

/** Environment variables a stdio target always gets, when set. */
const KEPT_ENV = ["PATH", "HOME"];
const VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Run `loom probe`.
 *
 * @param args the arguments after `probe`
 * @param io the process's streams and environment
 * @returns the exit code (errors are thrown as {@linkcode LoomError}s)
 */
export async function probeCommand(args: string[], io: CliIo): Promise<number> {
  const dash = args.indexOf("--");
  const optionArgs = dash < 0 ? args : args.slice(0, dash);
  const { values, positionals } = parseOptions({
    args: optionArgs,
    allowPositionals: true,
    options: {
      json: { type: "boolean" },
      timeout: { type: "string" },
      "token-file": { type: "string" },
      era: { type: "string" },
      "pass-env": { type: "string", multiple: true },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    io.out(PROBE_HELP);
    return 0;
  }
  const era = (values.era ?? "auto") as EraChoice;
  if (!["auto", "2025", "2026"].includes(era)) {
    throw new UsageError(`Invalid --era "${era.slice(0, 20)}": expected auto, 2025 or 2026`);
  }
  const seconds = values.timeout === undefined ? 10 : Number(values.timeout);
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 600) {
    throw new UsageError("--timeout must be a number of seconds above 0, at most 600");
  }
  const target = dash >= 0
    ? stdioTarget(positionals, args.slice(dash + 1))
    : oneTarget(positionals);
  let open: () => HttpProbeTransport | StdioProbeTransport;
  let shown: string;
  if (target.kind === "http") {
    const token = await readToken(values["token-file"], io);
    open = () => new HttpProbeTransport(target.url, token);
    shown = target.url;
  } else {
    if (values["token-file"] !== undefined) {
      throw new UsageError("--token-file applies to an HTTP target, not a stdio command");
    }
    const env = childEnv(values["pass-env"] ?? [], io);
    open = () => new StdioProbeTransport(target.argv, env);
    shown = `stdio target "${target.argv[0]}"`;
  }
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(timeoutError(shown, seconds)), seconds * 1000);
  let report: ProbeReport;
  try {
    report = await probeServer({ open, era, signal: deadline.signal, timeoutMs: seconds * 1000 });
  } catch (error) {
    if (deadline.signal.aborted && !(error instanceof LoomError)) throw deadline.signal.reason;
    throw error;
  } finally {
    clearTimeout(timer);
  }
  const where = target.kind === "http" ? { kind: "http", url: target.url } : {
    kind: "stdio",
    command: target.argv,
  };
  io.out(values.json ? `${jsonForTerminal({ target: where, ...report })}\n` : formatReport(report));
  return 0;
}

type Target = { kind: "http"; url: string } | { kind: "stdio"; argv: string[] };

function stdioTarget(before: string[], argv: string[]): Target {
  if (before.length > 0) {
    throw new UsageError('Give the target either before "--" or after it, not both');
  }
  if (argv.length === 0 || argv[0] === "") throw new UsageError('Missing the command after "--"');
  return { kind: "stdio", argv };
}

function oneTarget(positionals: string[]): Target {
  if (positionals.length !== 1) {
    throw new UsageError(
      positionals.length === 0
        ? "Missing TARGET: an http(s) URL or a stdio command line (see --help)"
        : 'Give one TARGET; put a stdio command\'s arguments after "--" or quote the command line',
    );
  }
  const text = positionals[0];
  if (/^https?:\/\//i.test(text)) return { kind: "http", url: checkUrl(text) };
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    throw new UsageError("TARGET URL must use http:// or https://");
  }
  return { kind: "stdio", argv: splitCommandLine(text) };
}

function checkUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError("TARGET is not a valid URL");
  }
  if (url.username !== "" || url.password !== "") {
    // A credential on the command line is visible to every local user.
    throw new UsageError(
      "TARGET URL must not hold a user name or password; use --token-file or LOOM_HTTP_TOKEN",
    );
  }
  return url.href;
}

async function readToken(file: string | undefined, io: CliIo): Promise<string | undefined> {
  if (file === undefined) return io.env.get("LOOM_HTTP_TOKEN") || undefined;
  const text = await Deno.readTextFile(file);
  const token = text.split("\n").map((l) => l.trim()).find((l) => l !== "");
  if (token === undefined) throw new UsageError("Token file holds no token");
  if (!/^[\x21-\x7e]+$/.test(token)) {
    throw new UsageError("Token file's first line holds characters a bearer token cannot");
  }
  return token;
}

function childEnv(names: string[], io: CliIo): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of [...KEPT_ENV, ...names]) {
    if (!VAR_NAME.test(name)) {
      throw new UsageError(`--pass-env "${name.slice(0, 40)}" is not a variable name`);
    }
    const value = io.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  return env;
}

/** The text report: server facts, then one block per tool, then the notes. */
export function formatReport(report: ProbeReport): string {
  const e = escapeForTerminal;
  const lines: string[] = [];
  const { server } = report;
  lines.push(`server:       ${e(server.name) || "(no name)"} ${e(server.version)}`.trimEnd());
  if (server.title !== null) lines.push(`title:        ${e(server.title)}`);
  lines.push(
    `protocol:     ${e(report.protocolVersion)} (${
      report.era === "2026-07-28" ? "stateless, server/discover" : "initialize, session"
    })`,
  );
  if (report.supportedVersions !== null) {
    lines.push(`supports:     ${report.supportedVersions.map(e).join(", ")}`);
  }
  lines.push(`capabilities: ${capabilityList(report.capabilities) || "(none)"}`);
  if (report.instructions !== null) lines.push(`instructions: ${e(report.instructions)}`);
  lines.push("", `tools (${report.tools.length}):`);
  for (const tool of report.tools) {
    lines.push(`  ${e(tool.name)}${tool.title === null ? "" : ` - ${e(tool.title)}`}`);
    if (tool.description !== null) lines.push(`      ${e(tool.description)}`);
    const hints = hintList(tool.annotations);
    if (hints !== "") lines.push(`      annotations: ${hints}`);
    const params = parameterList(tool.inputSchema);
    if (params !== "") lines.push(`      parameters: ${params}`);
  }
  for (const note of report.notes) lines.push(`note: ${e(note)}`);
  return lines.join("\n") + "\n";
}

function capabilityList(capabilities: Record<string, unknown>): string {
  return Object.entries(capabilities).slice(0, 32).map(([name, value]) => {
    const flags = value !== null && typeof value === "object"
      ? Object.entries(value).filter(([, v]) => v === true).map(([k]) => k).slice(0, 8)
      : [];
    return escapeForTerminal(flags.length > 0 ? `${name} (${flags.join(", ")})` : name);
  }).join(", ");
}

function hintList(annotations: Record<string, unknown> | null): string {
  if (annotations === null) return "";
  return Object.entries(annotations).slice(0, 16)
    .filter(([, v]) => typeof v === "boolean" || typeof v === "string" || typeof v === "number")
    .map(([k, v]) => escapeForTerminal(`${k.slice(0, 64)}=${String(v).slice(0, 200)}`))
    .join(" ");
}

function parameterList(schema: unknown): string {
  if (schema === null || typeof schema !== "object") return "";
  const { properties, required } = schema as Record<string, unknown>;
  if (properties === null || typeof properties !== "object" || Array.isArray(properties)) return "";
  const needed = new Set(Array.isArray(required) ? required : []);
  const names = Object.keys(properties);
  const shown = names.slice(0, 50).map((n) =>
    escapeForTerminal(n.slice(0, 100)) + (needed.has(n) ? "*" : "")
  );
  return shown.join(", ") + (names.length > 50 ? `, ... (${names.length} in all)` : "");
}
