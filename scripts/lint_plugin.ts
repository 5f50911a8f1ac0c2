/**
 * LOOM's layout rules as a `deno lint` plugin, so the module structure that
 * `docs/architecture.md` describes cannot drift. Without it, one convenient
 * import (the gate reaching into the web layer, a test helper pulled into
 * production code, a second owner of `node:sqlite`) quietly widens what a
 * module can touch, and the seams the security review relies on stop being
 * the only way in.
 *
 * Only files with a `src/` folder in their path are checked (the path after
 * the last `/src/`). Each import is checked by its specifier: static imports
 * (`import ... from`, `import type`, bare `import "..."`), re-exports
 * (`export ... from`, `export * from`), and dynamic `import("...")` whose
 * specifier is a string literal or a template literal without substitutions.
 * A computed specifier (`import(name)`), `import("x").T` in a type, and
 * absolute or URL specifiers of LOOM files are not checked.
 *
 * - `loom/layering`: relative imports go one way:
 *   errors.ts, _util <- net <- llm <- config <- store <- security <- upstream <- mcp
 *   <- runtime <- web <- app <- cli. A module may import its own top-level folder and
 *   lower ones, never a higher one. `generator` may import only itself, config,
 *   llm, net, errors.ts and _util. Top-level folders and files not named here are not
 *   ordered. Applies to tests too.
 * - `loom/mod-entry`: a relative import of a file in another folder must name
 *   that folder's `mod.ts`. Not checked: files in the same folder, a
 *   subfolder importing a file of one of its parent folders, anything in
 *   `_util/`, and `errors.ts`.
 * - `loom/private-file`: a file named `_x.ts` may be imported only from its
 *   own folder and that folder's subfolders (the same exceptions as
 *   `loom/mod-entry`).
 * - `loom/package-owner`: each third-party package has one owner, and only
 *   the owner imports it, by its bare name or an `npm:` specifier: `zod` and
 *   `yaml` in `src/config/`, `hono` and `jose` in `src/web/`, `@cfworker/json-schema`
 *   (the input schema validator) in `src/config/`, `@modelcontextprotocol/sdk`
 *   in `src/mcp/_sdk.ts` alone, `node:sqlite` in `src/store/`. Other packages
 *   and built-ins are not checked.
 *
 * Tests (`*_test.ts`, files under a `testdata/` folder, and `_testing*` files
 * and folders) are exempt from `loom/mod-entry`, `loom/private-file` and
 * `loom/package-owner`, so they can exercise private code, but not from
 * `loom/layering`.
 *
 * @module
 */

const LAYERS: Record<string, number> = {
  "errors.ts": 0,
  _util: 0,
  config: 1,
  store: 2,
  security: 3,
  net: 0.5,
  llm: 0.75,
  upstream: 4,
  mcp: 5,
  runtime: 6,
  web: 7,
  app: 7.5,
  cli: 8,
  generator: 2.5,
};

/**
 * Package name pattern (after any `npm:` prefix and version) -> the folder (or
 * file) allowed to import it, and how messages show that owner.
 */
const OWNERS: [RegExp, string, string][] = [
  [/^zod(@[^/]*)?(\/|$)/, "src/config/", "config/"],
  [/^yaml(@[^/]*)?(\/|$)/, "src/config/", "config/"],
  [/^hono(@[^/]*)?(\/|$)/, "src/web/", "web/"],
  [/^jose(@[^/]*)?(\/|$)/, "src/web/", "web/"],
  [/^@cfworker\/json-schema(@[^/]*)?(\/|$)/, "src/config/", "config/"],
  [/^@modelcontextprotocol\/sdk(@[^/]*)?(\/|$)/, "src/mcp/_sdk.ts", "mcp/_sdk.ts"],
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

/** The rules, each with the check of one specifier from one file. */
type RuleName = "layering" | "mod-entry" | "private-file" | "package-owner";
type Check = (fileRel: string, spec: string) => string | null;

const CHECKS: Record<RuleName, Check> = {
  layering(fileRel, spec) {
    if (!spec.startsWith(".")) return null;
    const target = resolveRel(fileRel, spec);
    if (target === null) return null;
    const fromTop = topOf(fileRel);
    const toTop = topOf(target);
    const fromLayer = LAYERS[fromTop];
    const toLayer = LAYERS[toTop];
    if (fromLayer === undefined || toLayer === undefined) return null;
    if (toLayer > fromLayer) {
      return `src/${fromTop} may not import src/${toTop}: imports go toward errors/_util`;
    }
    if (fromTop === "generator" && toLayer > LAYERS.config && toTop !== "generator") {
      return `src/generator may import only config and below, not src/${toTop}`;
    }
    return null;
  },
  "mod-entry"(fileRel, spec) {
    const target = crossFolderTarget(fileRel, spec);
    if (target === null) return null;
    const base = target.slice(target.lastIndexOf("/") + 1);
    if (base.startsWith("_") || base === "mod.ts") return null;
    return `Import src/${dirOf(target)}/ through its mod.ts, not "${base}"`;
  },
  "private-file"(fileRel, spec) {
    const target = crossFolderTarget(fileRel, spec);
    if (target === null) return null;
    const base = target.slice(target.lastIndexOf("/") + 1);
    return base.startsWith("_") ? `"${spec}" is private to src/${dirOf(target)}/` : null;
  },
  "package-owner"(fileRel, spec) {
    if (spec.startsWith(".") || isTest(fileRel)) return null;
    const name = spec.replace(/^npm:\/?/, "");
    for (const [re, owner, shown] of OWNERS) {
      if (re.test(name) && !`src/${fileRel}`.startsWith(owner)) {
        return `"${spec}" may only be imported in src/${shown} (its owner)`;
      }
    }
    return null;
  },
};

/**
 * The target of a relative import that `loom/mod-entry` and
 * `loom/private-file` look at: in another folder that is not a parent of the
 * importing file's folder, not in `_util/`, not `errors.ts`, from a file that
 * is not a test. Null for every other import.
 */
function crossFolderTarget(fileRel: string, spec: string): string | null {
  if (!spec.startsWith(".") || isTest(fileRel)) return null;
  const target = resolveRel(fileRel, spec);
  if (target === null) return null;
  const fromDir = dirOf(fileRel);
  const toDir = dirOf(target);
  if (toDir === fromDir || toDir === "" || topOf(target) === "_util") return null;
  if (fromDir.startsWith(toDir + "/")) return null; // a subfolder using its parent's files
  return target;
}

/** The specifier of a dynamic `import()` when it is a literal; null otherwise. */
function literalSpecifier(source: Deno.lint.Expression): string | null {
  if (source.type === "Literal" && typeof source.value === "string") return source.value;
  if (source.type === "TemplateLiteral" && source.expressions.length === 0) {
    return source.quasis[0]?.cooked ?? null;
  }
  return null;
}

function rule(name: RuleName): Deno.lint.Rule {
  const check = CHECKS[name];
  return {
    create(context) {
      const rel = srcPart(context.filename);
      if (rel === null) return {};
      const visit = (node: Deno.lint.Node, spec: string | null) => {
        if (spec === null) return;
        const message = check(rel, spec);
        if (message !== null) context.report({ node, message });
      };
      return {
        ImportDeclaration(node) {
          visit(node, node.source.value);
        },
        ExportNamedDeclaration(node) {
          if (node.source) visit(node, node.source.value);
        },
        ExportAllDeclaration(node) {
          visit(node, node.source.value);
        },
        ImportExpression(node) {
          visit(node, literalSpecifier(node.source));
        },
      };
    },
  };
}

const plugin: Deno.lint.Plugin = {
  name: "loom",
  rules: {
    layering: rule("layering"),
    "mod-entry": rule("mod-entry"),
    "private-file": rule("private-file"),
    "package-owner": rule("package-owner"),
  },
};

export default plugin;
