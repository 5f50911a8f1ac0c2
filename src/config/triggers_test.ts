import assert from "node:assert/strict";
import { parseConfig } from "./load.ts";
import { onlyIssue, refusedIssues } from "./_testing.ts";
import { webhookUrlProblem } from "./triggers.ts";

/** A config whose one tool has the given triggers (lines from 9 on), parameters and tier. */
function config(triggers: string, options: { tier?: number; parameters?: string } = {}): string {
  return `agent:
  name: sched
  exposes:
    - name: report
      description: Build the report
      access: read
      parameters: ${options.parameters ?? "{ days: { type: integer, default: 7 } }"}
      triggers:
${triggers}  http_bridge:
    - tool_name: report
      url: https://api.example.com/report
  runtime:
    trust_tier: ${options.tier ?? 2}
`;
}

const load = (text: string) => parseConfig(text, { path: "sched.yaml" });

Deno.test("triggers load: cron and webhook resolved onto the tool", () => {
  const loaded = load(config(
    '        - cron: " 0 9 * * 1-5 "\n' +
      '        - cron: "*/15 * * * *"\n          webhook: https://hooks.example.com/loom\n',
  ));
  assert.deepEqual(loaded.tools[0].triggers, [
    { cron: "0 9 * * 1-5", webhook: null },
    { cron: "*/15 * * * *", webhook: "https://hooks.example.com/loom" },
  ]);
  // A tool without triggers has none.
  const plain = load(config("        - cron: '@daily'\n").replace(/ {6}triggers:\n.*\n/, ""));
  assert.equal(plain.tools[0].triggers, undefined);
});

Deno.test("a bad cron expression is refused at its position, naming the field", () => {
  const issue = onlyIssue(refusedIssues(() => load(config('        - cron: "0 9 * * MOX"\n'))));
  assert.equal(issue.file, "sched.yaml");
  assert.equal(issue.line, 9);
  assert.equal(issue.column, 17);
  assert.equal(issue.path, "agent.exposes[0].triggers[0].cron");
  assert.match(issue.message, /day-of-week field: "MOX"/);
  const count = onlyIssue(refusedIssues(() => load(config('        - cron: "0 9 * *"\n'))));
  assert.match(count.message, /expected 5 fields/);
});

Deno.test("a trigger on a tool with a required parameter without default is refused", () => {
  const issue = onlyIssue(
    refusedIssues(() =>
      load(config('        - cron: "0 9 * * *"\n', { parameters: "{ id: { type: string } }" }))
    ),
  );
  assert.equal(issue.line, 8);
  assert.equal(issue.path, "agent.exposes[0].triggers");
  assert.match(issue.message, /requires "id" with no default/);
  // Optional, or with a default: fine.
  load(config('        - cron: "0 9 * * *"\n', {
    parameters: "{ id: { type: string, required: false } }",
  }));
});

Deno.test("a required input_schema property refuses a trigger too", () => {
  const text = config('        - cron: "0 9 * * *"\n').replace(
    "      parameters: { days: { type: integer, default: 7 } }",
    "      input_schema: { type: object, properties: { q: { type: string } }, required: [q] }",
  );
  assert.match(onlyIssue(refusedIssues(() => load(text))).message, /requires "q"/);
});

Deno.test("a webhook below trust tier 2 is refused", () => {
  const issue = onlyIssue(
    refusedIssues(() =>
      load(config('        - cron: "0 9 * * *"\n          webhook: https://hooks.example.com/x\n', {
        tier: 1,
      }))
    ),
  );
  assert.equal(issue.line, 10);
  assert.equal(issue.column, 20);
  assert.equal(issue.path, "agent.exposes[0].triggers[0].webhook");
  assert.match(issue.message, /trust tier 1 \(observer\) does not allow/);
});

Deno.test("a webhook URL that is not http(s) is refused", () => {
  const issue = onlyIssue(
    refusedIssues(() =>
      load(config('        - cron: "0 9 * * *"\n          webhook: "file:///etc/passwd"\n'))
    ),
  );
  assert.equal(issue.line, 10);
  assert.match(issue.message, /scheme "file:" is not allowed/);
  assert.match(webhookUrlProblem("not a url")!, /absolute http\(s\) URL/);
  assert.match(webhookUrlProblem("https://u:p@hooks.example.com/")!, /user name or password/);
  assert.equal(webhookUrlProblem("http://127.0.0.1:8080/hook"), null);
});

Deno.test("more than four triggers on one tool are refused", () => {
  const five = '        - cron: "* * * * *"\n'.repeat(5);
  assert.match(onlyIssue(refusedIssues(() => load(config(five)))).message, /at most 4 items/);
});
