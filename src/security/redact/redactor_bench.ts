/**
 * Cost of {@linkcode Redactor.redact} on a 64 KiB JSON body with three
 * secrets: the body holds no secret (the common case) or one of each.
 * Construction is timed apart (the broker caches redactors).
 *
 * Run: `deno bench src/security/redact/redactor_bench.ts`
 *
 * @module
 */

import { Redactor } from "./redactor.ts";

const SECRETS: [string, string][] = [
  ["api-key", "sk_live_4f9a8b7c6d5e4f3a2b1c0d9e"],
  ["password", "correct horse/battery+staple=42"],
  ["token", "ghx_Zq8YvW7uT6sR5qP4oN3mL2kJ1iH0gF"],
];

/** A JSON body of about 64 KiB: an array of issue-like records. */
function body(withSecrets: boolean): string {
  const items = [];
  for (let i = 0; items.length < 2000; i++) {
    items.push({
      id: i,
      title: `Issue number ${i}: the widget <b>fails</b> when "quoted" & escaped`,
      url: `https://api.example.test/repos/acme/widget/issues/${i}?page=${i % 7}&q=a%20b`,
      labels: ["bug", "p" + (i % 3)],
      body: "Line one\nLine two with \\ backslash and é and =3D",
    });
  }
  let text = JSON.stringify(items).slice(0, 64 * 1024);
  if (withSecrets) {
    const at = text.length >> 2;
    text = text.slice(0, at) + SECRETS.map(([, v]) => v).join(" ") + text.slice(at);
  }
  return text;
}

const redactor = new Redactor(SECRETS);
const clean = body(false);
const dirty = body(true);

Deno.bench("Redactor() construction, 3 secrets", () => {
  new Redactor(SECRETS);
});

Deno.bench("Redactor.redact() 64 KiB JSON, no secret", { baseline: true }, () => {
  redactor.redact(clean);
});

Deno.bench("Redactor.redact() 64 KiB JSON, 3 secrets", () => {
  redactor.redact(dirty);
});

Deno.bench("Redactor.redact() 300-byte audit field", () => {
  redactor.redact(clean.slice(0, 300));
});
