import assert from "node:assert/strict";
import { Deadlines } from "./deadlines.ts";

Deno.test("Deadlines rejects an invalid tick or delay with a RangeError", () => {
  assert.throws(() => new Deadlines(0), RangeError);
  assert.throws(() => new Deadlines(1.5), RangeError);
  const deadlines = new Deadlines();
  assert.throws(() => deadlines.after(-1, () => {}), RangeError);
  assert.throws(() => deadlines.after(Number.NaN, () => {}), RangeError);
});

Deno.test("Deadlines.after() never fires a cancelled deadline and leaves no timer behind", async () => {
  const deadlines = new Deadlines(5);
  let fired = 0;
  const cancels = Array.from({ length: 100 }, () => deadlines.after(20, () => fired++));
  assert.equal(deadlines.pending, 100);
  for (const cancel of cancels) cancel();
  cancels[0](); // twice is harmless
  assert.equal(deadlines.pending, 0);
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(fired, 0);
  // The test sanitizer fails this test if a timer were still armed.
});

Deno.test("Deadlines.after() fires each deadline once, never before its time", async () => {
  const deadlines = new Deadlines(10);
  const start = performance.now();
  const delays = [0, 15, 30, 30];
  const firedAt = await Promise.all(
    delays.map((ms) =>
      new Promise<number>((resolve) =>
        deadlines.after(ms, () => resolve(performance.now() - start))
      )
    ),
  );
  let cancelledRan = false;
  deadlines.after(30, () => (cancelledRan = true))();
  for (let i = 0; i < delays.length; i++) {
    assert.ok(firedAt[i] >= delays[i], `a ${delays[i]} ms deadline fired at ${firedAt[i]} ms`);
  }
  assert.equal(cancelledRan, false);
  assert.equal(deadlines.pending, 0);
});

Deno.test("Deadlines.after() keeps other deadlines of a slot when one callback throws", async () => {
  const deadlines = new Deadlines(10);
  const errors: unknown[] = [];
  const onError = (event: ErrorEvent) => {
    event.preventDefault();
    errors.push(event.error);
  };
  globalThis.addEventListener("error", onError);
  try {
    const ran = await new Promise<boolean>((resolve) => {
      deadlines.after(5, () => {
        throw new Error("boom");
      });
      deadlines.after(5, () => resolve(true));
    });
    assert.equal(ran, true);
    assert.equal(errors.length, 1);
  } finally {
    globalThis.removeEventListener("error", onError);
  }
});

Deno.test("Deadlines.after() from a firing callback, and a long delay among short ones, both fire", async () => {
  const deadlines = new Deadlines(5);
  const order: string[] = [];
  const cancelLong = deadlines.after(60_000, () => order.push("long"));
  await new Promise<void>((resolve) => {
    deadlines.after(5, () => {
      order.push("first");
      deadlines.after(5, () => {
        order.push("second");
        resolve();
      });
    });
  });
  assert.deepEqual(order, ["first", "second"]);
  assert.equal(deadlines.pending, 1);
  cancelLong();
  assert.equal(deadlines.pending, 0);
});
