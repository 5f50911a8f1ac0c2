/**
 * Load-time checks that relate fields to each other, run after the schema
 * accepted the shape. Each finding is positioned at the YAML node it is about.
 *
 * Errors refuse the config; warnings are reported and the config loads.
 *
 * @module
 */

import { isLoopbackHost } from "../net/mod.ts";
import { suggest } from "../_util/suggest.ts";
import { parseDuration } from "../_util/units.ts";
import {
  findCredential,
  findHeaderCredential,
  findInvisible,
  findPoisoning,
  type OwnNames,
  ownNames,
} from "./_lint.ts";
import { type Located, type PathSegment, quote, type YamlSource } from "./_yaml.ts";
import { type AgentConfigParsed, toolGlobRegExp } from "./schema.ts";
import { MAX_PARAMETER_DESCRIPTION_BYTES, MAX_TOOL_DESCRIPTION_BYTES } from "./tool_limits.ts";
import {
  checkBodyTemplate,
  checkHeaderTemplate,
  checkUrlTemplate,
  queryKeyProblem,
  type TemplatePart,
} from "../_util/template.ts";
import { METHOD_OVERRIDE_HEADERS, minimumTier, TIER_METHODS, TIER_NAMES } from "./tiers.ts";
import type { ParamSpec, TrustTier } from "./types.ts";
import { MANAGED_HEADERS } from "../_util/http_headers.ts";
import { isInlinePattern, PATTERN_DEADLINE_MS } from "../_util/regex_cost.ts";
import {
  paramValueProblem,
  type ParsedParameter,
  resolveParam,
  stringMaxLength,
} from "./param_rules.ts";
import { outputSchemaProblems } from "./output_schema.ts";
import { triggerProblems } from "./triggers.ts";
import { anomalyProblems } from "./anomaly.ts";
import { checkUpstream } from "./_upstream_checks.ts";
import { compositeProblems } from "./composite.ts";
import { inputSchemaParams, inputSchemaProblems } from "./input_schema.ts";
import { mcpHeaderNameProblem, mcpHeaderNames, mcpHeaderTypeProblem } from "./mcp_header.ts";

type ParsedAgent = AgentConfigParsed["agent"];
type ParsedTool = ParsedAgent["exposes"][number];
type ParsedBridge = ParsedAgent["http_bridge"][number];

/** What the bridge and the escalation checks need of one top-level argument. */
interface DeclaredParam {
  /** Its type, when it declares exactly one. */
  type: string | undefined;
  /** Whether a call always has a value for it (required, or a default that is applied). */
  present: boolean;
}

/** A tool's top-level arguments, from `parameters` or from `input_schema`. */
function declaredParams(tool: ParsedTool): Map<string, DeclaredParam> {
  if (tool.input_schema !== undefined) {
    const out = new Map<string, DeclaredParam>();
    for (const [name, p] of inputSchemaParams(tool.input_schema)) {
      out.set(name, { type: p.type, present: p.required });
    }
    return out;
  }
  return new Map(
    Object.entries(tool.parameters ?? {}).map(([name, p]) => [
      name,
      { type: p.type, present: p.required || p.default !== undefined },
    ]),
  );
}

/** Findings of the load-time checks. */
export interface Findings {
  errors: Located[];
  warnings: Located[];
}

/** Methods that change what they name: a read tool using one gets a warning. */
const CHANGING_METHODS: ReadonlySet<string> = new Set(["PUT", "PATCH", "DELETE"]);

const SECRET_ADVICE = 'use "{{secret:NAME}}" and store the value with `loom secrets set NAME`';

/**
 * The names a description of this document may tell the model to use: its
 * tool names, and every key under `agent.exposes` (parameter and property
 * names, at any depth, of `parameters`, `input_schema` and `output_schema`).
 * Read from the raw document, so it works when the schema refused it too.
 */
function ownNamesOf(data: unknown): OwnNames {
  const names: string[] = [];
  const visit = (value: unknown): void => {
    if (Array.isArray(value)) {
      value.forEach(visit);
    } else if (value !== null && typeof value === "object") {
      for (const [key, item] of Object.entries(value)) {
        names.push(key);
        visit(item);
      }
    }
  };
  const exposes = (data as { agent?: { exposes?: unknown } } | null)?.agent?.exposes;
  if (Array.isArray(exposes)) {
    for (const tool of exposes) {
      const name = (tool as { name?: unknown } | null)?.name;
      if (typeof name === "string") names.push(name);
      visit(tool);
    }
  }
  return ownNames(names);
}

const utf8 = new TextEncoder();

/**
 * The byte limit of the description at `path`, or undefined when it has none
 * here: a tool's own description, or a parameter's (in `parameters` or an
 * `input_schema`, at any depth). Other descriptions keep their schema limits.
 */
function descriptionLimit(path: readonly PathSegment[]): [string, number] | undefined {
  if (path[0] !== "agent" || path[1] !== "exposes" || path.length < 4) return undefined;
  if (path.length === 4) return ["Tool description", MAX_TOOL_DESCRIPTION_BYTES];
  if (path[3] === "parameters" || path[3] === "input_schema") {
    return ["Parameter description", MAX_PARAMETER_DESCRIPTION_BYTES];
  }
  return undefined;
}

/**
 * Scan every string (and key) of the raw document: literal credentials
 * anywhere, high-entropy tokens in header values, invisible characters
 * anywhere, tool-poisoning text in descriptions and tool titles, and the size
 * of tool and parameter descriptions. Runs even when the schema rejected the
 * document, so a leaked token is reported with the other problems.
 *
 * A poisoning finding names its label and the description's position, never
 * the text it matched. A description may name the config's own tools and
 * parameters; naming any other tool as one to call is poisoning.
 */
export function scanStrings(data: unknown, source: YamlSource, errors: Located[]): void {
  const own = ownNamesOf(data);
  const visit = (value: unknown, path: PathSegment[]): void => {
    if (typeof value === "string") {
      scanString(value, path, false);
    } else if (Array.isArray(value)) {
      value.forEach((item, i) => visit(item, [...path, i]));
    } else if (value !== null && typeof value === "object") {
      for (const [key, item] of Object.entries(value)) {
        if (key === "__proto__") {
          // The schema library skips this key silently; refuse it loudly.
          errors.push(source.at([...path, key], 'Key "__proto__" is not allowed', true));
        }
        scanString(key, [...path, key], true);
        visit(item, [...path, key]);
      }
    }
  };
  const scanString = (text: string, path: PathSegment[], isKey: boolean): void => {
    const last = path[path.length - 1];
    const isToolTitle = path.length === 4 && path[1] === "exposes" && last === "title";
    const isDescription = !isKey && (last === "description" || isToolTitle) &&
      !path.includes("body_template");
    if (isDescription) {
      const limit = isToolTitle ? undefined : descriptionLimit(path);
      if (limit !== undefined && text.length > limit[1] / 3) {
        const bytes = utf8.encode(text).length;
        if (bytes > limit[1]) {
          errors.push(source.at(
            path,
            `${limit[0]} is ${bytes} bytes: the limit is ${limit[1]} bytes ` +
              `(${limit[1] / 1024} KiB); shorten it`,
          ));
        }
      }
      const poisoning = findPoisoning(text, own);
      if (poisoning) {
        errors.push(source.at(
          path,
          `${isToolTitle ? "Title" : "Description"} contains text used for tool poisoning ` +
            `(${poisoning}): rewrite it`,
        ));
      }
    } else {
      const invisible = findInvisible(text);
      if (invisible) {
        errors.push(source.at(
          path,
          `Contains an invisible or bidirectional control character (${invisible})`,
          isKey,
        ));
      }
    }
    const inHeaderValue = !isKey && path.length >= 2 && path[path.length - 2] === "headers" &&
      (path.includes("http_bridge") || path.includes("mcp_upstream"));
    const credential = inHeaderValue ? findHeaderCredential(text) : findCredential(text);
    if (credential) {
      errors.push(source.at(
        path,
        `Literal credential (${credential}) is not allowed: ${SECRET_ADVICE}`,
        isKey,
      ));
    }
  };
  visit(data, []);
}

/**
 * Run the cross-field checks on a schema-valid config.
 *
 * @param config the parsed config (snake_case, defaults applied)
 * @param source positions
 * @returns errors and warnings, positioned
 */
export function checkConfig(config: AgentConfigParsed, source: YamlSource): Findings {
  return new Checker(config.agent, source).run();
}

class Checker {
  #agent: ParsedAgent;
  #source: YamlSource;
  #tier: TrustTier;
  #errors: Located[] = [];
  #warnings: Located[] = [];

  constructor(agent: ParsedAgent, source: YamlSource) {
    this.#agent = agent;
    this.#source = source;
    this.#tier = agent.runtime.trust_tier as TrustTier;
  }

  run(): Findings {
    const tools = this.#checkTools();
    this.#checkBridges(tools);
    this.#checkRuntime();
    this.#checkEscalation();
    const composite = compositeProblems(this.#agent, this.#tier, this.#source);
    this.#errors.push(...composite.errors);
    this.#warnings.push(...composite.warnings);
    checkUpstream(this.#agent, {
      error: (path, message, key) => this.#error(path, message, key),
      warn: (path, message, key) => this.#warn(path, message, key),
    });
    return { errors: this.#errors, warnings: this.#warnings };
  }

  #error(path: PathSegment[], message: string, key = false): void {
    this.#errors.push(this.#source.at(path, message, key));
  }

  #warn(path: PathSegment[], message: string, key = false): void {
    this.#warnings.push(this.#source.at(path, message, key));
  }

  #tierLabel(): string {
    return `trust tier ${this.#tier} (${TIER_NAMES[this.#tier]})`;
  }

  // --- tools --------------------------------------------------------------

  /** Returns tool name -> index of its first declaration. */
  #checkTools(): Map<string, number> {
    const tools = new Map<string, number>();
    if (this.#agent.exposes.length === 0 && this.#agent.mcp_upstream === undefined) {
      this.#warn(["agent"], "Agent exposes no tools", true);
    }
    this.#agent.exposes.forEach((tool, i) => {
      const path: PathSegment[] = ["agent", "exposes", i];
      const first = tools.get(tool.name);
      if (first !== undefined) {
        const line = this.#source.locate(["agent", "exposes", first, "name"]).line;
        this.#error(
          [...path, "name"],
          `Duplicate tool name ${quote(tool.name)}: already declared at line ${line}`,
        );
      } else {
        tools.set(tool.name, i);
      }
      if (tool.access === "write" && this.#tier === 1) {
        this.#error(
          [...path, "access"],
          `Tool ${
            quote(tool.name)
          } has access "write", which ${this.#tierLabel()} does not allow: ` +
            "set access: read or raise runtime.trust_tier to 2",
        );
      }
      const headers = mcpHeaderNames();
      for (const [name, param] of Object.entries(tool.parameters ?? {})) {
        this.#checkParameter(param, [...path, "parameters", name], 0);
        if (param.mcp_header !== undefined) {
          const at = [...path, "parameters", name, "mcp_header"];
          const problem = mcpHeaderNameProblem(param.mcp_header) ??
            mcpHeaderTypeProblem(param.type);
          const duplicate = problem === undefined ? headers(param.mcp_header) : undefined;
          if (problem !== undefined) this.#error(at, `Key "mcp_header" ${problem}`);
          else if (duplicate !== undefined) this.#error(at, duplicate);
        }
      }
      if (tool.input_schema !== undefined) {
        const at = [...path, "input_schema"];
        if (tool.parameters !== undefined) {
          this.#error(
            at,
            `Tool ${quote(tool.name)} declares both parameters and input_schema: ` +
              "declare its arguments with one of them",
            true,
          );
        }
        this.#errors.push(...inputSchemaProblems(tool.input_schema, at, this.#source));
      }
      if (tool.output_schema !== undefined) {
        const at = [...path, "output_schema"];
        this.#errors.push(...outputSchemaProblems(tool.output_schema, at, this.#source));
      }
      const triggers = [...path, "triggers"];
      this.#errors.push(...triggerProblems(tool, this.#tier, triggers, this.#source));
    });
    return tools;
  }

  #checkParameter(param: ParsedParameter, path: PathSegment[], depth: number): void {
    const { type } = param;
    if (depth > 0 && param.mcp_header !== undefined) {
      this.#error(
        [...path, "mcp_header"],
        'Key "mcp_header" applies only to a top-level parameter, not to items or properties',
        true,
      );
    }
    let resolved: ParamSpec | undefined;
    /** The spec the gate will hold, resolved once and only when a value must be checked. */
    const spec = (): ParamSpec => (resolved ??= resolveParam(param));
    const isText = type === "string";
    const isNumeric = type === "integer" || type === "number";
    const misplaced = (key: string, allowed: string) =>
      this.#error([...path, key], `Key "${key}" applies only to type ${allowed}, not ${type}`);
    if (!isText) {
      if (param.min_length !== undefined) misplaced("min_length", "string");
      if (param.max_length !== undefined) misplaced("max_length", "string");
      if (param.pattern !== undefined) misplaced("pattern", "string");
    } else if (param.pattern !== undefined) {
      const maxLength = stringMaxLength(spec());
      if (!isInlinePattern(param.pattern, maxLength)) {
        this.#warn(
          [...path, "pattern"],
          `Pattern may backtrack heavily on a ${maxLength}-character argument: it will be ` +
            `checked off the event loop, and a value not checked within ${PATTERN_DEADLINE_MS} ms ` +
            "is refused. To check it inline, do not nest repetitions or put two that can match " +
            'the same characters side by side (write "(a+)+" as "a+"), bound repetitions ' +
            '("{1,64}"), avoid lookarounds and backreferences, or lower max_length',
        );
      }
    }
    if (!isNumeric) {
      if (param.minimum !== undefined) misplaced("minimum", "integer or number");
      if (param.maximum !== undefined) misplaced("maximum", "integer or number");
    }
    if (type !== "array" && param.items !== undefined) misplaced("items", "array");
    if (type !== "object" && param.properties !== undefined) misplaced("properties", "object");
    if (
      param.min_length !== undefined && param.max_length !== undefined &&
      param.min_length > param.max_length
    ) {
      this.#error([...path, "min_length"], 'Key "min_length" is greater than "max_length"');
    }
    if (
      param.minimum !== undefined && param.maximum !== undefined && param.minimum > param.maximum
    ) {
      this.#error([...path, "minimum"], 'Key "minimum" is greater than "maximum"');
    }
    if (param.enum !== undefined) {
      if (type === "array" || type === "object") {
        misplaced("enum", "string, integer, number or boolean");
      } else {
        const seen = new Set<unknown>();
        const withoutEnum = { ...spec(), enum: undefined };
        param.enum.forEach((value, i) => {
          const problem = paramValueProblem(withoutEnum, value);
          if (problem) this.#error([...path, "enum", i], `Enum value ${problem}`);
          if (seen.has(value)) this.#error([...path, "enum", i], "Duplicate enum value");
          seen.add(value);
        });
      }
    }
    if (param.default !== undefined) {
      const problem = paramValueProblem(spec(), param.default);
      if (problem) this.#error([...path, "default"], `Default value ${problem}`);
    }
    if (param.items !== undefined && type === "array") {
      this.#checkParameter(param.items, [...path, "items"], depth + 1);
    }
    if (param.properties !== undefined && type === "object") {
      for (const [name, child] of Object.entries(param.properties)) {
        this.#checkParameter(child, [...path, "properties", name], depth + 1);
      }
    }
  }

  // --- bridges ------------------------------------------------------------

  #checkBridges(tools: Map<string, number>): void {
    const bridged = new Map<string, number>();
    const names = [...tools.keys()];
    this.#agent.http_bridge.forEach((bridge, i) => {
      const path: PathSegment[] = ["agent", "http_bridge", i];
      const toolIndex = tools.get(bridge.tool_name);
      let tool: ParsedTool | undefined;
      if (toolIndex === undefined) {
        const available = names.length === 0
          ? "the agent exposes no tools"
          : `available tools are ${names.map(quote).join(", ")}`;
        this.#error(
          [...path, "tool_name"],
          `Bridge names unknown tool ${quote(bridge.tool_name)}: ${available}` +
            hint(bridge.tool_name, names),
        );
      } else {
        tool = this.#agent.exposes[toolIndex];
        const previous = bridged.get(bridge.tool_name);
        if (previous !== undefined) {
          const line = this.#source.locate(["agent", "http_bridge", previous]).line;
          this.#error(
            [...path, "tool_name"],
            `Tool ${quote(bridge.tool_name)} already has a bridge at line ${line}: ` +
              "each tool has exactly one",
          );
        } else {
          bridged.set(bridge.tool_name, i);
        }
      }
      this.#checkMethod(bridge, path, tool);
      this.#checkUrl(bridge, path, tool);
      this.#checkQueryParams(bridge, path, tool);
      this.#checkHeaders(bridge, path, tool);
      this.#checkBody(bridge, path, tool);
      const timeout = bridge.timeout === null ? undefined : parseDuration(bridge.timeout);
      const limit = parseDuration(this.#agent.runtime.max_execution_time);
      if (timeout !== undefined && limit !== undefined && timeout > limit) {
        this.#warn(
          [...path, "timeout"],
          "Timeout is longer than runtime.max_execution_time, which still bounds the call",
        );
      }
    });
    this.#agent.exposes.forEach((tool, i) => {
      if (tools.get(tool.name) === i && !bridged.has(tool.name) && tool.steps === undefined) {
        this.#error(
          ["agent", "exposes", i, "name"],
          `Tool ${quote(tool.name)} has no http_bridge entry: add one with tool_name: ${tool.name}`,
        );
      }
    });
  }

  #checkMethod(bridge: ParsedBridge, path: PathSegment[], tool: ParsedTool | undefined): void {
    if (tool?.access === "read" && CHANGING_METHODS.has(bridge.method)) {
      this.#warn(
        [...path, "method"],
        `Tool ${quote(tool.name)} has access "read" but its bridge uses ${bridge.method}: ` +
          "it is treated (and annotated for clients) as read-only; set access: write if it " +
          "changes upstream state",
      );
    }
    if (TIER_METHODS[this.#tier].includes(bridge.method)) return;
    this.#error(
      [...path, "method"],
      `Method ${quote(bridge.method)} is not allowed at ${this.#tierLabel()}: ` +
        `allowed methods are ${TIER_METHODS[this.#tier].join(", ")}; ` +
        `${bridge.method} needs runtime.trust_tier ${minimumTier(bridge.method)} or higher`,
    );
  }

  /**
   * Check each placeholder of a template the grammar accepted: names a
   * declared parameter of the tool.
   */
  #checkNames(parts: readonly TemplatePart[], path: PathSegment[], tool: ParsedTool | undefined) {
    if (!tool) return;
    const params = declaredParams(tool);
    for (const part of parts) {
      if (part.kind !== "param" || params.has(part.name)) continue;
      const declared = [...params.keys()];
      const list = declared.length === 0
        ? "the tool declares no parameters"
        : tool.input_schema !== undefined
        ? `top-level properties of its input_schema are ${declared.map(quote).join(", ")}`
        : `declared parameters are ${declared.map(quote).join(", ")}`;
      this.#error(
        path,
        `Placeholder ${quote(`{{${part.name}}}`)} names no parameter of tool ` +
          `${quote(tool.name)}: ${list}${hint(part.name, declared)}`,
      );
    }
  }

  #checkUrl(bridge: ParsedBridge, bridgePath: PathSegment[], tool: ParsedTool | undefined): void {
    const path = [...bridgePath, "url"];
    const checked = checkUrlTemplate(bridge.url);
    for (const problem of checked.problems) this.#error(path, problem);
    if (checked.parts) this.#checkNames(checked.parts, path, tool);
    const template = checked.template;
    if (template === undefined) return;
    const params = tool ? declaredParams(tool) : new Map<string, DeclaredParam>();
    for (const name of template.pathParams) {
      const spec = params.get(name);
      if (!spec) continue;
      if (tool?.input_schema !== undefined && !isPathType(spec.type)) {
        this.#error(
          path,
          `Path placeholder ${quote(`{{${name}}}`)} names a property whose type is not one ` +
            "string, integer, number or boolean: path values must be scalars, so declare its type",
        );
      } else if (spec.type === "array" || spec.type === "object") {
        this.#error(
          path,
          `Path placeholder ${quote(`{{${name}}}`)} names a parameter of type ` +
            `${spec.type}: path values must be strings, numbers or booleans`,
        );
      } else if (!spec.present) {
        this.#error(
          path,
          tool?.input_schema !== undefined
            ? `Path placeholder ${quote(`{{${name}}}`)} names a property the input_schema ` +
              'does not list in its top-level "required": a path segment may not be empty'
            : `Path placeholder ${quote(`{{${name}}}`)} names an optional parameter ` +
              "without a default: a path segment may not be empty",
        );
      }
    }
    if (template.target.scheme === "http" && !isLoopbackHost(template.target.hostname)) {
      this.#warn(
        path,
        "URL uses plain http to a non-loopback host: requests and credentials travel unencrypted",
      );
    }
  }

  #checkQueryParams(bridge: ParsedBridge, path: PathSegment[], tool: ParsedTool | undefined) {
    for (const [param, key] of Object.entries(bridge.query_params)) {
      const keyPath = [...path, "query_params", param];
      const params = tool ? declaredParams(tool) : undefined;
      if (tool && params && !params.has(param)) {
        const declared = [...params.keys()];
        this.#error(
          keyPath,
          `Query parameter ${quote(param)} is not a declared parameter of tool ` +
            `${quote(tool.name)}${hint(param, declared)}`,
          true,
        );
      }
      const problem = queryKeyProblem(key);
      if (problem !== undefined) this.#error(keyPath, problem);
    }
  }

  #checkHeaders(bridge: ParsedBridge, path: PathSegment[], tool: ParsedTool | undefined): void {
    const seen = new Set<string>();
    for (const [name, value] of Object.entries(bridge.headers)) {
      const headerPath = [...path, "headers", name];
      const lower = name.toLowerCase();
      if (seen.has(lower)) {
        this.#error(
          headerPath,
          `Duplicate header ${quote(name)}: names are case-insensitive`,
          true,
        );
      }
      seen.add(lower);
      if (MANAGED_HEADERS.has(lower)) {
        this.#error(
          headerPath,
          `Header ${quote(name)} is set by LOOM and cannot be configured`,
          true,
        );
      }
      if (METHOD_OVERRIDE_HEADERS.includes(lower) && this.#tier < 3) {
        this.#error(
          headerPath,
          `Header ${quote(name)} is not allowed at ${this.#tierLabel()}: it asks the server to ` +
            "use another method; method overrides need runtime.trust_tier 3 or higher",
          true,
        );
      }
      const checked = checkHeaderTemplate(value);
      for (const problem of checked.problems) this.#error(headerPath, problem);
      if (checked.parts) this.#checkNames(checked.parts, headerPath, tool);
    }
  }

  #checkBody(bridge: ParsedBridge, path: PathSegment[], tool: ParsedTool | undefined): void {
    const body = bridge.body_template;
    if (body === null) return;
    const bodyPath = [...path, "body_template"];
    if (bridge.method === "GET" || bridge.method === "HEAD") {
      this.#error(
        bodyPath,
        `A ${bridge.method} request cannot have a body: set body_template to null or use POST`,
      );
      return;
    }
    const problems = checkBodyTemplate(body, (parts, at) => {
      this.#checkNames(parts, [...bodyPath, ...at], tool);
    });
    for (const problem of problems) {
      this.#error([...bodyPath, ...problem.path], problem.message, problem.key);
    }
  }

  // --- runtime ------------------------------------------------------------

  #checkRuntime(): void {
    const runtime = this.#agent.runtime;
    const path: PathSegment[] = ["agent", "runtime"];
    if (runtime.sandbox === "none" && this.#tier === 4) {
      this.#error(
        [...path, "sandbox"],
        `Sandbox "none" is not allowed at ${this.#tierLabel()}: privileged agents cannot opt ` +
          "out of sandboxing",
      );
    } else if (runtime.sandbox === "none" && this.#tier === 3) {
      this.#error(
        [...path, "sandbox"],
        `Sandbox "none" is not allowed at ${this.#tierLabel()}: only tiers 1 and 2 may run ` +
          "without a sandbox",
      );
    }
    if (runtime.injection === "off") {
      this.#warn([...path, "injection"], "Injection detection is off for every tool");
    }
    const firstWrite = this.#agent.exposes.find((tool) => tool.access === "write");
    if (this.#tier === 4 && firstWrite !== undefined) {
      this.#warn(
        [...path, "trust_tier"],
        `Every write call at ${this.#tierLabel()} is held for review, and approvals are not ` +
          `available in this version yet: calls of ${quote(firstWrite.name)} and the other ` +
          "write tools are refused",
      );
    }
    if (runtime.audit_failure === "allow") {
      this.#warn(
        [...path, "audit_failure"],
        this.#tier === 1
          ? "Calls run unrecorded while the audit log cannot be written (only counted)"
          : `Audit failure "allow" has no effect at ${this.#tierLabel()}: calls never run ` +
            "unrecorded above tier 1",
      );
    }
    this.#errors.push(
      ...anomalyProblems(runtime.anomaly, this.#tier, [...path, "anomaly"], this.#source),
    );
    runtime.allow_networks.forEach((cidr, i) => {
      if (cidr.includes(":")) return; // IPv6: prefix bits are masked when matching
      const [address, bits] = cidr.split("/");
      const prefix = Number(bits);
      const value = address.split(".").reduce((acc, octet) => acc * 256 + Number(octet), 0);
      const size = 2 ** (32 - prefix);
      if (value % size !== 0) {
        const base = value - (value % size);
        const text = [24, 16, 8, 0].map((shift) => Math.floor(base / 2 ** shift) % 256).join(".");
        this.#error(
          [...path, "allow_networks", i],
          `Network ${quote(cidr)} has host bits set: did you mean ${quote(`${text}/${prefix}`)}?`,
        );
      } else if (prefix < 8) {
        this.#warn(
          [...path, "allow_networks", i],
          `Network ${quote(cidr)} is very broad: it opens most of the address space to this agent`,
        );
      }
    });
  }

  // --- escalation ---------------------------------------------------------

  #checkEscalation(): void {
    const seen = new Set<string>();
    this.#agent.escalation_rules.forEach((rule, i) => {
      const path: PathSegment[] = ["agent", "escalation_rules", i];
      if (seen.has(rule.name)) {
        this.#error([...path, "name"], `Duplicate escalation rule name ${quote(rule.name)}`);
      }
      seen.add(rule.name);
      const glob = rule.tool === null ? undefined : toolGlobRegExp(rule.tool);
      const matched = this.#agent.exposes.filter((tool) =>
        (glob === undefined || glob.test(tool.name)) &&
        (rule.access === null || tool.access === rule.access)
      );
      if (matched.length === 0 && this.#agent.exposes.length > 0) {
        this.#warn(
          [...path, rule.tool === null ? "access" : "tool"],
          `Escalation rule ${quote(rule.name)} matches no tool`,
        );
        return;
      }
      // A gateway's tools and their parameters are known only once the upstream runs.
      if (this.#agent.mcp_upstream !== undefined) return;
      const conditions: [string, Record<string, unknown>][] = [
        ["param_gt", rule.param_gt],
        ["param_eq", rule.param_eq],
        ["param_contains", rule.param_contains],
      ];
      for (const [field, map] of conditions) {
        for (const param of Object.keys(map)) {
          const specs = matched
            .map((tool) => declaredParams(tool).get(param))
            .filter((spec) => spec !== undefined);
          if (specs.length === 0) {
            this.#warn(
              [...path, field, param],
              `Parameter ${quote(param)} is not declared on any tool rule ${quote(rule.name)} ` +
                "matches: the condition never holds",
              true,
            );
          } else if (
            field === "param_gt" &&
            specs.every((s) => s.type !== "integer" && s.type !== "number")
          ) {
            this.#warn(
              [...path, field, param],
              `Parameter ${quote(param)} is not numeric on any matched tool: param_gt never holds`,
              true,
            );
          }
        }
      }
    });
  }
}

function isPathType(type: string | undefined): boolean {
  return type === "string" || type === "integer" || type === "number" || type === "boolean";
}

/** `; did you mean "x"?` (or with another separator), or "" when nothing is close. */
export function hint(name: string, candidates: readonly string[], separator = "; "): string {
  const best = suggest(name, candidates);
  return best === undefined ? "" : `${separator}did you mean ${quote(best)}?`;
}
