/**
 * `agent.provenance`: who produced a config. A person (`human`, the default
 * when absent), a deterministic importer (`imported`), or a model
 * (`ai-generated`), written as the source alone or as `{ source, generator }`
 * naming what produced it. An `ai-generated` config serves no tool until a
 * person other than its submitter approved its exact bytes
 * (`src/store/config_approvals.ts`, `src/runtime/gate/quarantine.ts`).
 *
 * @module
 */

import { z } from "zod";

/** Who may produce a config; `ai-generated` ones serve nothing until a person approves them. */
export const PROVENANCE_SOURCES = ["human", "imported", "ai-generated"] as const;

const ProvenanceSource = z.enum(PROVENANCE_SOURCES);
/** C0 and C1 controls and DEL: a generator name is one line of plain text. */
// deno-lint-ignore no-control-regex
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/;
const PROVENANCE_HINT = 'Expected "human", "imported" or "ai-generated", or { source, generator }';

/**
 * Who produced the config: a person (`human`, the default), a deterministic
 * importer (`imported`), or a model (`ai-generated`), written as the source
 * alone or as `{ source, generator }` naming what produced it.
 */
export const Provenance = z.union([
  ProvenanceSource,
  z.strictObject({
    source: ProvenanceSource,
    generator: z.string().min(1).max(120).refine((text) => !CONTROL_CHARACTER.test(text), {
      error: "Generator must not contain control characters",
    }).optional().meta({
      description: 'What produced the config, such as "ollama/llama3.1" (at most 120 characters)',
    }),
  }),
], { error: PROVENANCE_HINT }).meta({
  description: "Who produced the config: human (default), imported or ai-generated, or " +
    "{ source, generator }. Threat: an ai-generated config serves no tool until a person " +
    'other than its submitter approves its exact bytes ("loom quarantine approve")',
});
/** What people write for `provenance`. */
export type Provenance = z.input<typeof Provenance>;
