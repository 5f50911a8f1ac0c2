/**
 * The commented starter config printed by `loom init NAME`.
 *
 * @example
 * ```ts
 * import { starterConfig } from "./init_template.ts";
 * const yaml = starterConfig("weather-bridge");
 * yaml.includes('name: "weather-bridge"'); // true
 * ```
 *
 * @module
 */

import { AGENT_NAME } from "./schema.ts";
import { DEFAULT_STRING_MAX_LENGTH } from "./param_rules.ts";

/**
 * A starter config: one read-only tool served by one GET bridge, trust tier 1,
 * every field explained in a comment. It loads as-is.
 *
 * @param name the agent name (kebab-case, 1-64 characters)
 * @returns the YAML text
 * @throws {RangeError} when the name is not kebab-case
 */
export function starterConfig(name: string): string {
  if (name.length > 64 || !AGENT_NAME.test(name)) {
    throw new RangeError(
      `Cannot create a starter config: agent name must be kebab-case, 1-64 characters`,
    );
  }
  return `# LOOM agent config. \`loom schema\` prints every key with its meaning.
# Check it with \`loom validate ${name}.yaml\`. After review, sign it with
# \`loom sign config ${name}.yaml\` (once: \`loom sign keygen\`): \`loom run\` then
# refuses any copy whose bytes differ from the ones signed.
# Editor completion: run \`loom schema > loom.schema.json\`, then put this line first:
#   # yaml-language-server: $schema=./loom.schema.json
# Unknown keys are errors (with a "did you mean" hint), so typos never go unnoticed.

agent:
  # kebab-case, 1-64 characters. Credentials are granted to this name and
  # to the digest of this file (\`loom secrets grant ${name} KEY --config ${name}.yaml\`),
  # or to the key that signed it (add \`--signed-by KEYID\`).
  name: "${name}"
  # Semantic version of this config.
  version: "0.1.0"
  # One line for people; the model sees the tool descriptions below.
  description: "Searches items in the example API"
  # Who wrote this config: human (the default), imported, or ai-generated,
  # also written { source: ai-generated, generator: "ollama/llama3.1" }.
  # An ai-generated config serves no tool until a person other than its
  # submitter approves these exact bytes ("loom quarantine approve ${name}.yaml").
  provenance: human

  # The MCP tools this agent serves. Each needs exactly one http_bridge entry.
  exposes:
    - # a-z, 0-9 and _, 1-64 characters; unique within the agent (and the mesh).
      name: search_items
      # Optional short display name for people: one line, at most 100 characters.
      title: "Search items"
      # What the tool does, written for the model. Scanned at load for
      # tool-poisoning text (hidden instructions, invisible characters).
      description: "Search the example API for items matching a text query"
      # read: observes only. write: changes upstream state (needs trust_tier 2+).
      # Clients see it in the tool's annotations (readOnlyHint, destructiveHint),
      # which LOOM derives from access and the bridge's method: never written here.
      access: read
      # Parameters become the tool's JSON Schema (additionalProperties: false).
      # type: string | integer | number | boolean | array | object
      # required (default true), default, enum, min_length / max_length
      # (strings default to at most ${DEFAULT_STRING_MAX_LENGTH} characters), minimum / maximum,
      # pattern (ECMAScript regex, whole value), description,
      # items (for arrays), properties (for objects),
      # allow: [shell, path, sql, template, prompt] switches off an injection
      # detector for a parameter that legitimately carries such text.
      # mcp_header: Name (top-level string, integer or boolean) lists it with
      # x-mcp-header, so MCP clients mirror it into an Mcp-Param-Name header.
      # Instead of parameters, input_schema takes a JSON Schema 2020-12 object
      # schema, listed as written and enforced on every call (no defaults applied).
      parameters:
        query:
          type: string
          description: "Text to search for"
          min_length: 1
          max_length: 200
        limit:
          type: integer
          required: false
          default: 10
          minimum: 1
          maximum: 100
          description: "Largest number of results to return"
      # Optional per-tool override of runtime.rate_limit.
      # rate_limit: { per_minute: 30 }
      # Optional JSON Schema of the result (after the bridge's response_path), in
      # the subset type, properties, required, items, enum, additionalProperties,
      # description; the top level is type: object. Listed as outputSchema; each
      # result is checked and sent as structuredContent too; a result that does
      # not match is a tool error.
      # output_schema:
      #   type: object
      #   required: [items]
      #   properties:
      #     items: { type: array, items: { type: object } }
      # Optional: "loom mesh" calls the tool itself on a five-field cron
      # schedule (its time zone), through the gate like any call; a tool with
      # no required parameter only. A webhook gets each result (tier 2+).
      # triggers: [{ cron: "0 9 * * 1-5" }]
      # Tier 3+: a composite tool has steps (other tools, each through its
      # own gate, in parallel unless one uses another's result) instead of a
      # bridge, and may have an llm step that summarises the results:
      # steps: [{ id: up, tool: prom_query, arguments: { query: up }, timeout: 10s }]
      # llm: { provider: ollama, url: "http://127.0.0.1:11434", model: llama3.2, prompt: "Summarise" }

  # How each tool call becomes an HTTP request.
  http_bridge:
    - # The exposed tool this bridge serves.
      tool_name: search_items
      # GET HEAD OPTIONS on tier 1; POST PUT PATCH need tier 2; DELETE tier 3.
      method: GET
      # Scheme, host and port are literal. {{param}} may stand in the path
      # (percent-encoded, one segment), never in the host or the query.
      url: "https://api.example.com/v1/search"
      # Tool parameter -> outgoing query key (values are form-encoded;
      # an omitted optional parameter is left out).
      query_params:
        query: q
        limit: limit
      # Header name -> value. Credentials only as {{secret:NAME}}, stored with
      # \`loom secrets set NAME\` and sent only to this bridge's origin:
      #   Authorization: "Bearer {{secret:example-token}}"
      headers:
        Accept: application/json
      # JSON body for POST/PUT/PATCH; a string "{{name}}" takes the typed value.
      # null (no body) for GET and HEAD.
      body_template: null
      # Dotted path into a JSON response (e.g. data.items); null returns it all.
      response_path: null
      # Per-request timeout; runtime.max_execution_time still bounds the call.
      timeout: 10s

  # Calls matching a rule are held for review by a person: the client is told
  # an approval id, and the call runs (once) only after "loom approvals
  # approve ID" and a retry with the same arguments. Every step is recorded.
  # First matching rule wins; every condition given must hold. Example:
  #   - name: large-page
  #     reason: "Large result pages need a look"
  #     tool: "search_*"          # glob over tool names
  #     access: read              # read | write | omit for both
  #     param_gt: { limit: 50 }   # numeric argument greater than
  #     param_eq: {}              # argument equals a string
  #     param_contains: {}        # argument contains a string (any case)
  escalation_rules: []

  # Gateway mode, instead of exposes and http_bridge: an existing MCP server
  # behind this agent's gate. Its tools are listed through the gate, pinned
  # on first contact ("loom pin"), and every call is checked and recorded.
  #   mcp_upstream:
  #     command: ["npm:@modelcontextprotocol/server-memory"]  # or url: https://...
  #     env: { MEMORY_FILE_PATH: /data/memory.jsonl }         # literal values only
  #     env_secrets: { API_TOKEN: api_token }                 # from "loom secrets set"
  #     permissions: { read: [/data], write: [/data] }        # Deno flags; nothing else
  #     tools: [{ name: read_graph, as: memory_read }]        # default: all (writes from tier 2)

  runtime:
    # 1 observer (read only), 2 worker, 3 operator, 4 privileged (every
    # write held until a person approves it). Least privilege:
    # keep 1 if you can.
    trust_tier: 1
    # Bounds the whole call, upstream included: 500ms, 2s, 1m, 1h.
    max_execution_time: 30s
    # Cap on decompressed response bytes: 65536, 64KiB, 1MiB, 10MB.
    max_response_bytes: 1MiB
    # Default per-tool sliding-window limit.
    rate_limit: { per_minute: 120 }
    # Injection detection on string arguments: block | audit | off.
    injection: block
    # deno (own process, permissions narrowed to the bridge origins),
    # docker (\`loom sandbox\` prints hardened docker arguments), none (tiers 1-2).
    sandbox: deno
    # Private IPv4 networks (CIDR) this agent may reach; others are refused.
    # allow_networks: ["10.0.0.0/8"]
    allow_networks: []
    # Tier 1 calls while the audit log cannot be written: refuse, or allow
    # them to run unrecorded (counted once the log is back). Tier 2 and above
    # never run without a record.
    audit_failure: refuse
    # Whether a held call may be approved by the client's user when the client
    # can ask (elicitation); false leaves every approval to "loom approvals".
    inline_approval: true
    # Upstream text that looks like instructions to the model: flag (answered
    # fenced as data, with a notice), block (a tool error instead), or off.
    output_scan: flag
    # Anomalies (audit records, /metrics counters, an optional webhook from
    # tier 2): a tool first called after the warm-up, rate-limit refusals,
    # refused secrets and bursts of refusals within the window.
    # anomaly: { warmup: 24h, window: 5m, rate_limit: 1, credential_denials: 3, denial_burst: 20 }
`;
}
