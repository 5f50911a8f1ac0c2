/**
 * A small MCP server over stdio for the upstream client's tests. It speaks
 * the initialize era, lists its tools three per page, and has tools that
 * misbehave on purpose: `crash` exits, `big` prints one line of `size`
 * bytes, `junk` prints a line that is not JSON, `slow` waits for its
 * cancellation, `sample` and `ping_client` and `roots` send requests to the
 * client, `notify` sends a log message and `tools/list_changed`, `env`
 * reports the environment (run it with `--allow-env`).
 *
 * Arguments: `--desc-file PATH` reads the description of `echo` from PATH
 * at start and again on every `tools/list` (run it with `--allow-read=PATH`).
 *
 * @module
 */

const encoder = new TextEncoder();
const args = Deno.args;
const descAt = args.indexOf("--desc-file");
const echoDescription = descAt >= 0
  ? (await Deno.readTextFile(args[descAt + 1])).trim()
  : "Echo the text back";

await Deno.stderr.write(encoder.encode("fixture: starting \x1b[31m junk on stderr\n"));

const TOOLS = [
  { name: "echo", description: echoDescription },
  { name: "env", description: "Report the environment" },
  { name: "crash", description: "Exit with code 3" },
  { name: "progress", description: "Send two progress notifications" },
  { name: "slow", description: "Wait until cancelled" },
  { name: "notify", description: "Send a log message and tools/list_changed" },
  { name: "sample", description: "Ask the client for a sampling/createMessage" },
  { name: "ping_client", description: "Ping the client" },
  { name: "roots", description: "Ask the client for roots/list" },
  { name: "big", description: "Print one line of size bytes" },
  { name: "junk", description: "Print a non-JSON line, then answer" },
  { name: "pid", description: "Report the process id" },
].map((t) => ({ ...t, inputSchema: { type: "object" } }));
const PAGE = 3;

let nextId = 1;
const waiting = new Map<number, (message: Record<string, unknown>) => void>();
const cancelled = new Map<unknown, () => void>();

function send(message: unknown): void {
  Deno.stdout.writeSync(encoder.encode(JSON.stringify(message) + "\n"));
}

function ask(method: string, params: unknown): Promise<Record<string, unknown>> {
  const id = nextId++;
  send({ jsonrpc: "2.0", id: `s${id}`, method, params });
  return new Promise((resolve) => waiting.set(id, resolve));
}

/** The whole environment, or (allowed to read single variables only) what it may read of it. */
function environment(): Record<string, string | null> {
  try {
    return Deno.env.toObject();
  } catch {
    return { FX_TOKEN: readToken() };
  }
}

/** `FX_TOKEN` when the fixture may read it (a secret LOOM gave it), else null. */
function readToken(): string | null {
  try {
    return Deno.env.get("FX_TOKEN") ?? null;
  } catch {
    return null;
  }
}

function text(value: unknown) {
  return {
    content: [{ type: "text", text: typeof value === "string" ? value : JSON.stringify(value) }],
  };
}

async function call(id: unknown, params: Record<string, unknown>) {
  const a = (params.arguments ?? {}) as Record<string, unknown>;
  const token = (params._meta as Record<string, unknown> | undefined)?.progressToken;
  switch (params.name) {
    case "echo":
      return text(a.text);
    case "env":
      return text(environment());
    case "crash":
      Deno.exit(3);
      break;
    case "progress":
      send({
        jsonrpc: "2.0",
        method: "notifications/progress",
        params: { progressToken: token, progress: 1, total: 2, message: "half" },
      });
      send({
        jsonrpc: "2.0",
        method: "notifications/progress",
        params: { progressToken: token, progress: 2, total: 2 },
      });
      return text("done");
    case "slow":
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 20_000);
        cancelled.set(id, () => {
          clearTimeout(timer);
          resolve();
        });
      });
      return text("late");
    case "notify":
      send({
        jsonrpc: "2.0",
        method: "notifications/message",
        params: { level: "warning", logger: "fx", data: { note: "hello", token: readToken() } },
      });
      send({ jsonrpc: "2.0", method: "notifications/tools/list_changed" });
      return text("sent");
    case "sample":
      return text(await ask("sampling/createMessage", { messages: [], maxTokens: 1 }));
    case "ping_client":
      return text(await ask("ping", {}));
    case "roots":
      return text(await ask("roots/list", {}));
    case "big":
      send({
        jsonrpc: "2.0",
        method: "notifications/message",
        params: { level: "info", data: "x".repeat(Number(a.size)) },
      });
      return text("big sent");
    case "junk":
      Deno.stdout.writeSync(encoder.encode('this is not json\n{"jsonrpc":"1.0"}\n'));
      return text("after junk");
    case "pid":
      return text(String(Deno.pid));
  }
  return { ...text("unknown tool"), isError: true };
}

async function handle(message: Record<string, unknown>): Promise<void> {
  const { id, method } = message;
  const params = (message.params ?? {}) as Record<string, unknown>;
  if (method === undefined) {
    const key = typeof id === "string" ? Number(id.slice(1)) : NaN;
    waiting.get(key)?.(message);
    waiting.delete(key);
    return;
  }
  if (method === "notifications/cancelled") {
    cancelled.get(params.requestId)?.();
    return;
  }
  if (id === undefined) return;
  if (method === "initialize") {
    send({
      jsonrpc: "2.0",
      id,
      result: {
        protocolVersion: "2025-06-18",
        capabilities: { tools: { listChanged: true } },
        serverInfo: { name: "fixture", version: "1.0.0" },
        instructions: "Fixture",
      },
    });
  } else if (method === "tools/list") {
    const start = Number(params.cursor ?? 0);
    if (descAt >= 0) TOOLS[0].description = Deno.readTextFileSync(args[descAt + 1]).trim();
    const page = TOOLS.slice(start, start + PAGE);
    const next = start + PAGE < TOOLS.length ? String(start + PAGE) : undefined;
    send({ jsonrpc: "2.0", id, result: { tools: page, ...(next ? { nextCursor: next } : {}) } });
  } else if (method === "tools/call") {
    const result = await call(id, params);
    if (method === "tools/call" && params.name === "slow" && result.content[0].text === "late") {
      return;
    }
    send({ jsonrpc: "2.0", id, result });
  } else if (method === "ping") {
    send({ jsonrpc: "2.0", id, result: {} });
  } else {
    send({ jsonrpc: "2.0", id, error: { code: -32601, message: "Method not found" } });
  }
}

const decoder = new TextDecoder();
let buffer = "";
for await (const chunk of Deno.stdin.readable) {
  buffer += decoder.decode(chunk, { stream: true });
  for (let nl = buffer.indexOf("\n"); nl >= 0; nl = buffer.indexOf("\n")) {
    const line = buffer.slice(0, nl);
    buffer = buffer.slice(nl + 1);
    if (line.trim() !== "") handle(JSON.parse(line));
  }
}
