import assert from "node:assert/strict";
import { dependencyFailure } from "./load_failure.ts";

Deno.test("dependencyFailure() keeps the package and the innermost cause on one line", () => {
  const error = new TypeError(
    "Failed caching npm package 'yaml@2.9.1'\n" +
      "    0: error sending request for url (http://127.0.0.1:9/yaml/-/yaml-2.9.1.tgz): client error (Connect): tcp connect error: Connection refused (os error 111)\n" +
      "    1: client error (Connect)\n" +
      "    2: tcp connect error\n" +
      "    3: Connection refused (os error 111)",
  );
  assert.equal(
    dependencyFailure(error),
    "loom: cannot load LOOM: Failed caching npm package 'yaml@2.9.1': Connection refused " +
      '(os error 111); run "deno install" in the LOOM checkout when the package registry is reachable',
  );
});

Deno.test("dependencyFailure() masks credentials in a registry URL and escapes control characters", () => {
  const error = new Error(
    "Failed caching npm package 'zod@4.6.7'\n 0: error sending request for url (https://me:s3cret-token@registry.invalid/zod): \u001b[31mdns error",
  );
  const line = dependencyFailure(error);
  assert.ok(!line.includes("s3cret-token"), line);
  assert.ok(line.includes("//***@registry.invalid"), line);
  assert.ok(!line.includes("\u001b"), line);
  assert.ok(!line.includes("\n"));
});

Deno.test("dependencyFailure() gives no fetch hint for another load error", () => {
  assert.equal(
    dependencyFailure(new SyntaxError("Unexpected token")),
    "loom: cannot load LOOM: Unexpected token",
  );
});
