/**
 * Arguments of a tool that declares an `input_schema` (gate step 2): the
 * verbatim JSON Schema 2020-12 decides which calls are valid, and LOOM's own
 * bounds and injection screening still apply to every value.
 *
 * In order:
 *
 * 1. The arguments must be a plain JSON object (`undefined` / `null` mean `{}`).
 * 2. The walk of `_walk.ts` copies them as free-form JSON: at most 8 levels
 *    deep, 100,000 values, 1,000 keys per object and 1,000 items per array;
 *    every string and key well-formed Unicode and at most 10,000 code points
 *    (or the largest `maxLength` the schema declares); every string and key
 *    screened by `detectInjection()` under `runtime.injection` (no `allow`
 *    list: an input schema has no per-property exemptions). So the validator
 *    only ever sees a bounded value.
 * 3. The tool's compiled validator (`compileInputSchema()`,
 *    `src/config/input_check.ts`) checks the copy; its first error is the
 *    refusal (`Invalid argument "address.zip": must be of type "string"`).
 *
 * Nothing is coerced and no `default` of the schema is applied: the bridge
 * receives the arguments as the client sent them.
 *
 * @example
 * ```ts
 * import { compileToolInputSchema, validateSchemaArguments } from "./schema_arguments.ts";
 * const compiled = compileToolInputSchema({
 *   name: "find",
 *   description: "Find a place",
 *   access: "read",
 *   parameters: {},
 *   inputSchema: { type: "object", properties: { zip: { type: "string" } }, required: ["zip"] },
 * })!;
 * validateSchemaArguments(compiled, { zip: 75001 }, { injection: "block" }).ok; // false
 * ```
 *
 * @module
 */

import {
  compileInputSchema,
  inputSchemaStringCap,
  type InputSchemaValidator,
  type ParamSpec,
  type ToolSpec,
} from "../../config/mod.ts";
import { InputError } from "../../errors.ts";
import { checkJson, isPlainObject, Refusal, refuse, Walk } from "./_walk.ts";
import type { ValidateArgumentsOptions, ValidationOutcome } from "./validate_arguments.ts";

/** A tool's input schema, ready for calls: its validator and its string bound. */
export interface CompiledInputSchema {
  readonly validate: InputSchemaValidator;
  /** The rules of every string and key of an argument (its `maxLength`). */
  readonly strings: ParamSpec;
}

/**
 * Compile a tool's `input_schema`, once (the gate does it when it is built).
 *
 * @param tool the resolved tool
 * @returns null when the tool declares `parameters` instead
 */
export function compileToolInputSchema(tool: ToolSpec): CompiledInputSchema | null {
  if (tool.inputSchema === undefined) return null;
  return {
    validate: compileInputSchema(tool.inputSchema),
    strings: {
      type: "string",
      required: false,
      allow: [],
      maxLength: inputSchemaStringCap(tool.inputSchema),
    },
  };
}

/**
 * Check and screen the arguments of a call of a tool with an input schema.
 *
 * @param compiled the tool's compiled schema
 * @param args the `arguments` of the `tools/call` request
 * @param options the injection mode
 * @returns the arguments (a copy) or the first problem; `findings` as in
 *   `validateArguments()`. Never `pending`: input schema patterns run inline.
 */
export function validateSchemaArguments(
  compiled: CompiledInputSchema,
  args: unknown,
  options: ValidateArgumentsOptions,
): ValidationOutcome {
  const walk = new Walk(options.injection, compiled.strings);
  try {
    const input = args === undefined || args === null ? {} : args;
    if (!isPlainObject(input)) refuse("", "Arguments must be a JSON object");
    walk.visit("");
    const value = checkJson(input, "", 0, [], walk, true) as Record<string, unknown>;
    const failure = compiled.validate(value);
    if (failure !== undefined) {
      return {
        ok: false,
        error: new InputError(failure.field, failure.message),
        findings: walk.findings,
      };
    }
    return { ok: true, value, findings: walk.findings };
  } catch (e) {
    if (e instanceof Refusal) return { ok: false, error: e.error, findings: walk.findings };
    throw e;
  }
}
