/**
 * LOOM's layout rules as a `deno lint` plugin, so the module structure that
 * `docs/architecture.md` describes cannot drift:
 *
 * - `loom/layering`: imports inside `src/` go one way:
 *   errors/_util <- config <- store <- security <- bridge <- mcp <- runtime <- web <- cli;
 *   `generator` uses only config and below.
 * - `loom/mod-entry`: another folder is used only through its `mod.ts`
 *   (`_util/` and `errors.ts` hold plain helpers and are imported directly).
 * - `loom/private-file`: `_x.ts` files are private to their folder.
 * - `loom/package-owner`: each third-party package has one owner folder.
 *
 * @module
 */

const LAYERS: Record<string, number> = {
  "errors.ts": 0,
  _util: 0,
  config: 1,
  store: 2,
  security: 3,
  bridge: 4,
  mcp: 5,
  runtime: 6,
  web: 7,
  cli: 8,
  generator: 2.5,
};

/** Package specifier prefix -> the folder (or file) allowed to import it. */
const OWNERS: [RegExp, string, string][] = [
  [/^zod(\/|$)/, "src/config/", "config/"],
  [/^yaml(\/|$)/, "src/config/", "config/"],
  [/^hono(\/|$)/, "src/web/", "web/"],
  [/^@modelcontextprotocol\/sdk(\/|$)/, "src/mcp/_sdk.ts", "mcp/_sdk.ts"],
  [/^node:sqlite$/, "src/store/", "store/"],
];

function srcPart(filename: string): string | null {
  const i = filename.lastIndexOf("/src/");
  return i === -1 ? null : filename.slice(i + 5);
}

function topOf(rel: string): string {
  return rel.includes("/") ? rel.slice(0, rel.indexOf("/")) : rel;
}

function dirOf(rel: string): string {
  return rel.includes("/") ? rel.slice(0, rel.lastIndexOf("/")) : "";
}

function resolveRel(fromRel: string, spec: string): string | null {
  const parts = dirOf(fromRel).split("/").filter(Boolean);
  for (const seg of spec.split("/")) {
    if (seg === "." || seg === "") continue;
    if (seg === "..") {
      if (parts.length === 0) return null; // leaves src/
      parts.pop();
    } else parts.push(seg);
  }
  return parts.join("/");
}

function isTest(rel: string): boolean {
  return rel.endsWith("_test.ts") || rel.includes("/testdata/") || rel.includes("/_testing");
}

type Report = (message: string) => void;

function checkImport(fileRel: string, spec: string, report: Report): void {
  if (!spec.startsWith(".")) {
    for (const [re, owner, shown] of OWNERS) {
      if (re.test(spec) && !(`src/${fileRel}`.startsWith(owner)) && !isTest(fileRel)) {
        report(`"${spec}" may only be imported in src/${shown} (its owner)`);
      }
    }
    return;
  }
  const target = resolveRel(fileRel, spec);
  if (target === null) return;
  const fromTop = topOf(fileRel);
  const toTop = topOf(target);
  const fromLayer = LAYERS[fromTop];
  const toLayer = LAYERS[toTop];
  if (fromLayer !== undefined && toLayer !== undefined && toLayer > fromLayer) {
    report(`src/${fromTop} may not import src/${toTop}: imports go toward errors/_util`);
  }
  if (fromTop === "generator" && toLayer !== undefined && toLayer > 2 && toTop !== "generator") {
    report(`src/generator may import only config and below, not src/${toTop}`);
  }
  const fromDir = dirOf(fileRel);
  const toDir = dirOf(target);
  if (toDir === fromDir || toTop === "_util" || target === "errors.ts") return;
  if (fromDir.startsWith(toDir + "/")) return; // a subfolder using its parent's files
  const base = target.slice(target.lastIndexOf("/") + 1);
  if (base.startsWith("_") && !isTest(fileRel)) {
    report(`"${spec}" is private to src/${toDir}/`);
  } else if (base !== "mod.ts" && !isTest(fileRel)) {
    report(`Import src/${toDir}/ through its mod.ts, not "${base}"`);
  }
}

const plugin: Deno.lint.Plugin = {
  name: "loom",
  rules: {
    layering: {
      create(context) {
        const rel = srcPart(context.filename);
        if (rel === null) return {};
        const visit = (node: { source: { value: string } } & Deno.lint.Node) =>
          checkImport(rel, node.source.value, (message) => context.report({ node, message }));
        return {
          ImportDeclaration: visit,
          ExportNamedDeclaration(node) {
            if (node.source) visit(node as typeof node & { source: { value: string } });
          },
          ExportAllDeclaration: visit,
        };
      },
    },
  },
};

export default plugin;
