/**
 * Cost of {@linkcode validateArguments} on the arguments a tool call usually
 * carries: a few strings, numbers and a boolean, with length, range, enum and
 * (inline) pattern rules. It runs on every call, so this is on the hot path.
 * Injection screening is off here: `injection_bench.ts` measures it.
 *
 * Run: `deno bench --config deno.dev.json -A src/security/validate/validate_arguments_bench.ts`
 *
 * @module
 */

import type { ToolSpec } from "../../config/mod.ts";
import { validateArguments } from "./validate_arguments.ts";

const TOOL: ToolSpec = {
  name: "search_issues",
  description: "Search issues",
  access: "read",
  parameters: {
    query: { type: "string", required: true, maxLength: 200, allow: [] },
    repo: { type: "string", required: true, maxLength: 100, pattern: "[a-z0-9-]{1,64}", allow: [] },
    state: {
      type: "string",
      required: false,
      enum: ["open", "closed"],
      maxLength: 10_000,
      allow: [],
    },
    limit: { type: "integer", required: false, minimum: 1, maximum: 100, default: 10, allow: [] },
    score: { type: "number", required: false, minimum: 0, allow: [] },
    draft: { type: "boolean", required: false, allow: [] },
    labels: {
      type: "array",
      required: false,
      items: { type: "string", required: true, maxLength: 50, allow: [] },
      allow: [],
    },
  },
};

const TYPED = {
  query: "login page blank after update",
  repo: "loom-web",
  state: "open",
  limit: 25,
  score: 0.5,
  draft: false,
  labels: ["bug", "ui"],
};

const STRINGLY = { query: "timeout", repo: "api", limit: "50", draft: "true" };

Deno.bench("validateArguments() on 7 typed arguments", { group: "typed" }, () => {
  validateArguments(TOOL, TYPED, { injection: "off" });
});

Deno.bench("validateArguments() on 4 arguments with numbers and booleans as strings", {
  group: "coerced",
}, () => {
  validateArguments(TOOL, STRINGLY, { injection: "off" });
});
