/**
 * Config texts and assertions shared by the tests of this folder (private to
 * config/).
 *
 * @module
 */

import assert from "node:assert/strict";
import { ConfigError, type ConfigIssue } from "../errors.ts";

/**
 * The issues of a config that `load` refuses; fails the test when it loads.
 *
 * @param load loads one config (and throws its `ConfigError`)
 * @returns the refusal's issues
 */
export function refusedIssues(load: () => unknown): ConfigIssue[] {
  try {
    load();
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${error}`);
    return [...error.issues];
  }
  assert.fail("expected the config to be refused");
}

/**
 * The one issue of a refusal; fails the test, listing them, when there are more.
 *
 * @param issues the refusal's issues
 * @returns the only one
 */
export function onlyIssue(issues: readonly ConfigIssue[]): ConfigIssue {
  assert.equal(
    issues.length,
    1,
    issues.map((i) => `${i.line}:${i.column} ${i.path}: ${i.message}`).join("\n"),
  );
  return issues[0];
}

/**
 * A minimal valid config: one tool with one parameter and its bridge. Line
 * numbers matter to the position tests that build on it.
 */
export const VALID_CONFIG = `agent:
  name: demo
  exposes:
    - name: get_user
      description: Fetch one user
      parameters:
        id: { type: string }
  http_bridge:
    - tool_name: get_user
      url: https://api.example.com/users/{{id}}
`;

/** A valid config that sets every section: nested parameters, a full bridge, rules, runtime. */
export const FULL_CONFIG = `agent:
  name: full
  version: 2.1.0-rc.1
  description: Everything
  exposes:
    - name: create_item
      description: Create an item
      access: write
      rate_limit: { per_minute: 5 }
      parameters:
        title: { type: string, max_length: 80, min_length: 1, pattern: "^[a-z ]+$", allow: [sql] }
        tags:
          type: array
          required: false
          items: { type: string, enum: [a, b] }
        meta:
          type: object
          required: false
          properties:
            size: { type: integer, minimum: 1, maximum: 9, default: 3 }
  http_bridge:
    - tool_name: create_item
      method: POST
      url: https://api.example.com/items
      query_params: { title: t }
      headers: { X-Api-Key: "{{secret:example-key}}" }
      body_template: { title: "{{title}}", tags: "{{tags}}", fixed: [1, true, null] }
      response_path: data.item
      timeout: 2s
  escalation_rules:
    - name: big
      tool: "create_*"
      access: write
      param_eq: { title: boss }
  runtime:
    trust_tier: 2
    rate_limit: { per_minute: 30 }
    injection: audit
    sandbox: none
    allow_networks: [10.0.0.0/8]
`;

/**
 * The schema of a list of items as `output_schema` tests write it: each item
 * an object of exactly `id`, `state` and `note`.
 */
export const ITEM_LIST_SCHEMA = Object.freeze({
  type: "array",
  items: {
    type: "object",
    additionalProperties: false,
    properties: {
      id: { type: "integer" },
      state: { type: "string", enum: ["open", "closed"] },
      note: { type: ["string", "null"] },
    },
  },
});
