/**
 * Drives HTTP load for the bench: `wrk` with `mcp_call.lua` when it is
 * installed (installing it from Debian's packages when running as root), else
 * the Deno generator `load_http.ts` in its own process. Both report the same
 * fields plus the generator's own CPU, so a run can show the generator was
 * not the bottleneck.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { PROTOCOL_VERSION } from "./_servers.ts";
import type { LoadRun } from "./_stats.ts";

const HERE = fileURLToPath(new URL(".", import.meta.url));

/** Which generator drives HTTP. */
export type Generator = "wrk" | "deno";

/**
 * One HTTP load run, as the generator reported it. `errors` counts non-2xx/3xx
 * answers plus connection, read, write and timeout errors.
 */
export interface HttpLoad extends LoadRun {
  /** CPU the generator used, ms. */
  clientCpuMs: number;
}

async function succeeds(cmd: string, args: string[]): Promise<boolean> {
  try {
    const out = await new Deno.Command(cmd, { args, stdout: "null", stderr: "null" }).output();
    return out.success;
  } catch {
    return false;
  }
}

/**
 * Find a load generator: `wrk` if present; if absent and running as root with
 * apt-get, install it (Debian package `wrk`); otherwise the Deno generator.
 *
 * @param options `prefer: "deno"` skips wrk; `log` receives progress lines
 * @returns the generator to use
 */
export async function ensureGenerator(
  options: { prefer?: Generator; log?: (line: string) => void } = {},
): Promise<Generator> {
  if (options.prefer === "deno") return "deno";
  // wrk prints its usage and exits 1 without a URL; `-v` exits 0 on some builds only.
  const hasWrk = async () => (await succeeds("sh", ["-c", "command -v wrk"]));
  if (await hasWrk()) return "wrk";
  const root = Deno.uid?.() === 0;
  if (root && await succeeds("sh", ["-c", "command -v apt-get"])) {
    options.log?.("bench: installing wrk (apt-get install -y wrk)…");
    await succeeds("sh", [
      "-c",
      "DEBIAN_FRONTEND=noninteractive apt-get update -qq && " +
      "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk",
    ]);
    if (await hasWrk()) return "wrk";
    options.log?.("bench: could not install wrk; using the Deno load generator");
  } else {
    options.log?.("bench: wrk not found; using the Deno load generator");
  }
  return "deno";
}

/** What to send. */
export interface HttpTarget {
  url: string;
  /** JSON-RPC body with `@ID@`; a GET when absent. */
  bodyTemplate?: string;
  /** MCP session id. */
  session?: string;
  /** `MCP-Protocol-Version` header (default {@linkcode PROTOCOL_VERSION}). */
  protocol?: string;
  /** Extra request headers (e.g. `Mcp-Method`, `Mcp-Name` of a stateless call). */
  headers?: Record<string, string>;
}

/**
 * Extra headers as `BENCH_HEADERS` carries them to both generators: one
 * `Name: value` per line. Refuses a name or value that would break the line
 * format (or the request).
 */
export function encodeBenchHeaders(headers: Record<string, string>): string {
  return Object.entries(headers).map(([name, value]) => {
    if (!/^[A-Za-z0-9-]+$/.test(name)) throw new Error(`Bad bench header name: ${name}`);
    if (/[\r\n]/.test(value) || value.trim() !== value || value === "") {
      throw new Error(`Bad value for bench header ${name}: ${JSON.stringify(value)}`);
    }
    return `${name}: ${value}`;
  }).join("\n");
}

/** Parse the `RESULT {json}` line both generators print. */
function parseResult(text: string, clientCpuMs: number | null): HttpLoad {
  const m = /^RESULT (\{.*\})$/m.exec(text);
  if (!m) throw new Error(`Load generator printed no result:\n${text.slice(-2000)}`);
  const r = JSON.parse(m[1]);
  const seconds = r.duration_us / 1e6;
  return {
    requests: r.requests,
    seconds,
    rps: r.requests / seconds,
    errors: (r.status_errors ?? 0) + (r.connect_errors ?? 0) + (r.read_errors ?? 0) +
      (r.write_errors ?? 0) + (r.timeouts ?? 0),
    p50Us: r.p50_us,
    p99Us: r.p99_us,
    clientCpuMs: clientCpuMs ?? r.client_cpu_ms ?? NaN,
  };
}

/**
 * Run one load: `connections` keep-alive connections for `seconds`.
 *
 * @param generator from {@linkcode ensureGenerator}
 * @param target URL, body, session, protocol version and extra headers
 * @param options concurrency and duration (wrk takes whole seconds)
 * @returns the generator's figures
 */
export async function runHttpLoad(
  generator: Generator,
  target: HttpTarget,
  options: { connections: number; seconds: number },
): Promise<HttpLoad> {
  const env: Record<string, string> = { BENCH_PROTOCOL: target.protocol ?? PROTOCOL_VERSION };
  if (target.bodyTemplate !== undefined) env.BENCH_BODY = target.bodyTemplate;
  if (target.session !== undefined) env.BENCH_SESSION = target.session;
  if (target.headers !== undefined) env.BENCH_HEADERS = encodeBenchHeaders(target.headers);
  if (generator === "wrk") {
    const seconds = Math.max(1, Math.round(options.seconds));
    // sh waits for wrk, then prints its own /proc stat: cutime + cstime is wrk's CPU.
    const script = 'wrk "$@"; echo; echo "SHSTAT $(cat /proc/$$/stat)"';
    const out = await new Deno.Command("sh", {
      args: [
        "-c",
        script,
        "sh",
        "-t1",
        `-c${options.connections}`,
        `-d${seconds}s`,
        "--timeout",
        "30s",
        "-s",
        join(HERE, "mcp_call.lua"),
        target.url,
      ],
      env,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    const stat = /^SHSTAT .*\) (.*)$/m.exec(text);
    let cpu: number | null = null;
    if (stat) {
      const f = stat[1].split(" ");
      cpu = (Number(f[13]) + Number(f[14])) * 10; // cutime + cstime, 100 ticks/s
    }
    if (!out.success) {
      throw new Error(`wrk failed: ${new TextDecoder().decode(out.stderr)}\n${text}`);
    }
    return parseResult(text, cpu);
  }
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-env",
      "--allow-read",
      join(HERE, "load_http.ts"),
      `--url=${target.url}`,
      `--connections=${options.connections}`,
      `--seconds=${options.seconds}`,
    ],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(`load_http.ts failed: ${new TextDecoder().decode(out.stderr)}\n${text}`);
  }
  return parseResult(text, null);
}
