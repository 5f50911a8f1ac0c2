/**
 * Test helpers of the mesh's tests (`mesh_test.ts`, `mesh_reload_test.ts`,
 * and the end-to-end `tests/e2e/mesh_test.ts`):
 * a mesh directory and home in a temp directory with a real audit log and a
 * real upstream on loopback, agent configs whose tools call it, and bounded
 * waits.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { AuditLog } from "../security/audit/mod.ts";
import { type LoomHome, resolveHome } from "../store/mod.ts";
import type { ToolCallContext } from "../mcp/mod.ts";
import { Mesh, type MeshOptions } from "./mesh.ts";
import { startUpstream, tempDir, type Upstream } from "../../tests/_helpers.ts";

/** A mesh directory, home, audit log and upstream; meshes opened are closed on dispose. */
export interface Fixture extends AsyncDisposable {
  dir: string;
  home: LoomHome;
  audit: AuditLog;
  api: Upstream;
  warnings: string[];
  write(file: string, text: string): Promise<void>;
  open(options?: Partial<MeshOptions>): Promise<Mesh>;
}

/**
 * A fixture; the upstream answers `{ path }`, or what `handler` answers.
 *
 * @param handler the upstream's handler (default: echo the path)
 */
export async function fixture(
  handler: (req: Request) => Response | Promise<Response> = (req) =>
    Response.json({ path: new URL(req.url).pathname }),
): Promise<Fixture> {
  const root = await tempDir("loom-mesh-");
  const dir = join(root.path, "agents");
  await Deno.mkdir(dir);
  const api = await startUpstream(handler);
  const home = resolveHome(new Map([["LOOM_HOME", join(root.path, "home")]]));
  await Deno.mkdir(home.root, { recursive: true, mode: 0o700 });
  const audit = await AuditLog.open(home.audit);
  const meshes: Mesh[] = [];
  const warnings: string[] = [];
  return {
    dir,
    home,
    audit,
    api,
    warnings,
    write: (file, text) => Deno.writeTextFile(join(dir, file), text),
    async open(options = {}) {
      const mesh = await Mesh.open(dir, {
        home,
        audit,
        env: new Map(),
        version: "0.0.0-test",
        namespace: false,
        requireSigned: false,
        onWarning: (w) => warnings.push(w),
        log: (line) => warnings.push(line),
        ...options,
      });
      meshes.push(mesh);
      return mesh;
    },
    async [Symbol.asyncDispose]() {
      for (const m of meshes) await m.close();
      await audit.close();
      await api[Symbol.asyncDispose]();
      await root[Symbol.asyncDispose]();
    },
  };
}

/** A config of agent `name` whose tools each call `${url}/${name}/${tool}`. */
export function agentYaml(name: string, url: string, tools: string[]): string {
  return `agent:
  name: ${name}
  exposes:
${
    tools.map((t) => `    - name: ${t}\n      description: Tool ${t} of ${name}\n`).join("")
  }  http_bridge:
${tools.map((t) => `    - tool_name: ${t}\n      url: "${url}/${name}/${t}"\n`).join("")}`;
}

/** A call context with nothing attached. */
export function ctx(): ToolCallContext {
  return { signal: new AbortController().signal, sessionId: null, client: null, log() {} };
}

/** The text of a result. */
export function textOf(result: { content: { text: string }[] }): string {
  return result.content.map((c) => c.text).join("");
}

/** Poll `done` every 50 ms, at most `tries` times. */
export async function eventually(done: () => boolean, what: string, tries = 200): Promise<void> {
  for (let i = 0; i < tries && !done(); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(done(), what);
}

/** Whether a process of that id runs (signal 0 is not portable in Deno: SIGCONT, harmless). */
export function alive(pid: number): boolean {
  try {
    Deno.kill(pid, "SIGCONT");
    return true;
  } catch {
    return false;
  }
}
