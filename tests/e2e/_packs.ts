/**
 * Helpers of the starter-pack tests: a pack copied with its URLs pointed at a
 * test server, served by `loom run` (a subprocess, over stdio) to the SDK
 * client; real service binaries found on PATH and run on a free loopback port.
 *
 * @module
 */

import { join } from "node:path";
import { Client, StdioClientTransport } from "../../src/mcp/client.ts";
import { LOOM_FLAGS, MAIN } from "../_helpers.ts";

/** The packs directory of this checkout. */
export const PACKS = new URL("../../packs/", import.meta.url);

/** A pack served by `loom run`, with its SDK client. */
export interface ServedPack extends AsyncDisposable {
  /** Call a tool; returns its text, parsed as JSON. Fails on a tool error. */
  call(name: string, args?: Record<string, unknown>): Promise<unknown>;
  /** Call a tool; returns its text as it is. Fails on a tool error. */
  text(name: string, args?: Record<string, unknown>): Promise<string>;
  /** The listed tool names, sorted. */
  tools(): Promise<string[]>;
  /** What LOOM wrote to stderr so far. */
  stderr(): string;
}

/**
 * Copy `packs/NAME.yaml` into `dir` with `from` (the pack's base URL)
 * replaced by `to`, and serve it with `loom run` over stdio (home `dir/home`).
 * `before` runs once the copy is written, with its path and the home (to set
 * and grant secrets).
 */
export async function servePack(
  name: string,
  options: {
    dir: string;
    from: string;
    to: string;
    before?: (config: string, home: string) => Promise<void>;
  },
): Promise<ServedPack> {
  const pack = await Deno.readTextFile(new URL(`${name}.yaml`, PACKS));
  if (!pack.includes(options.from)) throw new Error(`pack ${name} does not name ${options.from}`);
  const config = join(options.dir, `${name}.yaml`);
  await Deno.writeTextFile(config, pack.replaceAll(options.from, options.to));
  const home = join(options.dir, "home");
  await options.before?.(config, home);
  const transport = new StdioClientTransport({
    command: Deno.execPath(),
    args: [...LOOM_FLAGS, MAIN, "run", config],
    env: { LOOM_HOME: home, NO_COLOR: "1" },
    stderr: "pipe",
  });
  let err = "";
  transport.stderr?.on("data", (chunk: Uint8Array) => err += new TextDecoder().decode(chunk));
  const client = new Client({ name: "packs-e2e", version: "1.0.0" });
  await client.connect(transport);
  const text = async (tool: string, args: Record<string, unknown> = {}) => {
    const result = await client.callTool({ name: tool, arguments: args });
    const out = (result as { content: { text: string }[] }).content.map((c) => c.text).join("");
    if (result.isError) throw new Error(`${tool} failed: ${out}\n${err}`);
    return out;
  };
  return {
    call: async (tool, args = {}) => JSON.parse(await text(tool, args)),
    text,
    async tools() {
      return (await client.listTools()).tools.map((t) => t.name).sort();
    },
    stderr: () => err,
    [Symbol.asyncDispose]: () => client.close(),
  };
}

/**
 * The path of a program on PATH. Throws (the test fails, never skips) when it
 * is missing: `.ci/run` installs the Debian packages that provide it.
 */
export async function requireBinary(name: string, pkg: string): Promise<string> {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (dir === "") continue;
    const path = join(dir, name);
    try {
      if ((await Deno.stat(path)).isFile) return path;
    } catch {
      // not in this directory
    }
  }
  throw new Error(
    `"${name}" is not on PATH: install the Debian package "${pkg}" ` +
      `(.ci/run does: apt-get install -y --no-install-recommends ${pkg})`,
  );
}

/** A free loopback port: bound on port 0, then closed. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** A service process; disposing it kills it and waits for its end. */
export interface Service extends AsyncDisposable {
  /** Its base URL, `http://127.0.0.1:PORT`. */
  url: string;
  /** What it wrote to stderr (read once it ended). */
  log(): Promise<string>;
}

/**
 * Start `program args` (with `{{port}}` in args replaced by a free port) and
 * wait, bounded, until GET `ready` answers 200. `prepare` runs first, with
 * the port (to write a config that names it).
 */
export async function startService(
  program: string,
  args: string[],
  ready: string,
  prepare?: (port: number) => Promise<void>,
): Promise<Service> {
  const port = freePort();
  await prepare?.(port);
  const child = new Deno.Command(program, {
    args: args.map((a) => a.replaceAll("{{port}}", String(port))),
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const output = child.output();
  const url = `http://127.0.0.1:${port}`;
  const service: Service = {
    url,
    log: async () => new TextDecoder().decode((await output).stderr),
    [Symbol.asyncDispose]: async () => {
      try {
        child.kill("SIGTERM");
      } catch {
        // already ended
      }
      await output;
    },
  };
  try {
    await until(async () => (await fetchOk(`${url}${ready}`)) !== null, `${program} ready`);
  } catch (error) {
    await service[Symbol.asyncDispose]();
    throw new Error(`${(error as Error).message}\n${await service.log()}`);
  }
  return service;
}

/** GET a URL: the parsed JSON of a 200 answer, or null. */
export async function fetchOk(url: string, init?: RequestInit): Promise<unknown> {
  try {
    const response = await fetch(url, init);
    const text = await response.text();
    if (!response.ok) return null;
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  } catch {
    return null;
  }
}

/** Poll `check` every 100 ms, at most 300 times (30 s); throws when it never holds. */
export async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Prometheus scraping itself every second, its storage in `dir`. */
export async function startPrometheus(dir: string): Promise<Service> {
  const program = await requireBinary("prometheus", "prometheus");
  const config = join(dir, "prometheus.yml");
  return await startService(
    program,
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      "--web.listen-address=127.0.0.1:{{port}}",
      "--log.level=warn",
    ],
    "/-/ready",
    (port) =>
      Deno.writeTextFile(
        config,
        [
          "global: { scrape_interval: 1s, evaluation_interval: 1s }",
          "scrape_configs:",
          "  - job_name: prometheus",
          `    static_configs: [{ targets: ["127.0.0.1:${port}"] }]`,
          "",
        ].join("\n"),
      ),
  );
}
