import assert from "node:assert/strict";
import { workerPermissions } from "./worker_host.ts";

const KEYS = ["env", "ffi", "import", "net", "read", "run", "sys", "write"];

Deno.test("workerPermissions() names every permission key, all false but net", () => {
  const narrow = workerPermissions(["api.example.com:443", "localhost:8080"]);
  assert.deepEqual(Object.keys(narrow).sort(), KEYS);
  assert.deepEqual(narrow.net, ["api.example.com:443", "localhost:8080"]);
  for (const key of KEYS.filter((k) => k !== "net")) {
    assert.equal(narrow[key as keyof typeof narrow], false, key);
  }
});

Deno.test("workerPermissions() gives an agent without bridges no network at all", () => {
  const none = workerPermissions([]);
  assert.equal(none.net, false);
  assert.deepEqual(Object.keys(none).sort(), KEYS);
});
