/** Anomaly detection's state in the state database survives a re-open (a real SQLite file). */

import assert from "node:assert/strict";
import { openStore, resolveHome, STORE_SCHEMA_VERSION } from "./mod.ts";
import { tempDir } from "../../tests/_helpers.ts";

Deno.test("anomaly state: first-seen time and learned tools survive a re-open", async () => {
  await using dir = await tempDir();
  const home = resolveHome(new Map([["LOOM_HOME", dir.path]]));
  {
    await using store = await openStore(home);
    assert.equal(store.schemaVersion, STORE_SCHEMA_VERSION);
    assert.ok(STORE_SCHEMA_VERSION >= 8);
    assert.equal(store.anomalyState.firstSeen("shop", 1_000), 1_000);
    store.anomalyState.learn("shop", ["put", "get"], 2_000);
    store.anomalyState.learn("shop", [], 2_000);
    store.anomalyState.learn("other", ["get"], 2_000);
  }
  {
    await using store = await openStore(home);
    assert.equal(store.anomalyState.firstSeen("shop", 9_000), 1_000);
    assert.deepEqual(store.anomalyState.learned("shop"), ["get", "put"]);
    store.anomalyState.learn("shop", ["get", "post"], 3_000);
    assert.deepEqual(store.anomalyState.learned("shop"), ["get", "post", "put"]);
    assert.equal(store.anomalyState.forget("shop"), true);
    assert.deepEqual(store.anomalyState.learned("shop"), []);
    assert.equal(store.anomalyState.firstSeen("shop", 9_000), 9_000);
    assert.deepEqual(store.anomalyState.learned("other"), ["get"]);
  }
});

Deno.test("anomaly state: an empty name is refused", async () => {
  await using dir = await tempDir();
  await using store = await openStore(resolveHome(new Map([["LOOM_HOME", dir.path]])));
  assert.throws(() => store.anomalyState.firstSeen("", 1), TypeError);
  assert.throws(() => store.anomalyState.learn("shop", [""], 1), TypeError);
});
