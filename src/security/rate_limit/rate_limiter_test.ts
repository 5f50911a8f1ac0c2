import assert from "node:assert/strict";
import fc from "fast-check";
import { DEFAULT_MAX_KEYS, RateLimiter, rateLimitKey } from "./rate_limiter.ts";

function clock(start = 0): { now: () => number; set(t: number): void } {
  let t = start;
  return {
    now: () => t,
    set(next: number) {
      t = next;
    },
  };
}

Deno.test("RateLimiter.take() allows exactly L of a burst of L+5 and refuses the rest", () => {
  for (const limit of [1, 2, 5, 120]) {
    const limiter = new RateLimiter({ now: () => 1_000 });
    const spec = { limit, windowMs: 60_000 };
    const decisions = Array.from({ length: limit + 5 }, () => limiter.take("agent/tool", spec));
    assert.equal(decisions.filter((d) => d.allow).length, limit);
    assert.ok(decisions.slice(0, limit).every((d) => d.allow));
    for (const d of decisions.slice(limit)) {
      assert.deepEqual(d, { allow: false, retryAfterMs: 60_000 });
    }
  }
});

Deno.test("RateLimiter.take() gives the delay until the oldest call leaves the window", () => {
  const c = clock();
  const limiter = new RateLimiter({ now: c.now });
  const spec = { limit: 3, windowMs: 1_000 };
  for (const t of [0, 100, 200]) {
    c.set(t);
    assert.deepEqual(limiter.take("k", spec), { allow: true });
  }
  c.set(500);
  assert.deepEqual(limiter.take("k", spec), { allow: false, retryAfterMs: 500 });
  c.set(999);
  assert.deepEqual(limiter.take("k", spec), { allow: false, retryAfterMs: 1 });
  c.set(1_000); // the call at 0 is now outside (1000 - 1000, 1000]
  assert.deepEqual(limiter.take("k", spec), { allow: true });
  assert.deepEqual(limiter.take("k", spec), { allow: false, retryAfterMs: 100 });
});

Deno.test("RateLimiter.take() does not count refused calls", () => {
  const c = clock();
  const limiter = new RateLimiter({ now: c.now });
  const spec = { limit: 2, windowMs: 100 };
  limiter.take("k", spec);
  limiter.take("k", spec);
  for (let t = 1; t < 100; t++) {
    c.set(t);
    assert.equal(limiter.take("k", spec).allow, false);
  }
  c.set(100);
  assert.equal(limiter.take("k", spec).allow, true);
  assert.equal(limiter.take("k", spec).allow, true);
  assert.equal(limiter.take("k", spec).allow, false);
});

Deno.test("RateLimiter.take() keeps keys independent", () => {
  const limiter = new RateLimiter({ now: () => 0 });
  const spec = { limit: 1, windowMs: 1_000 };
  assert.equal(limiter.take(rateLimitKey("a", "t"), spec).allow, true);
  assert.equal(limiter.take(rateLimitKey("a", "t"), spec).allow, false);
  assert.equal(limiter.take(rateLimitKey("a", "u"), spec).allow, true);
  assert.equal(limiter.take(rateLimitKey("b", "t"), spec).allow, true);
});

Deno.test("RateLimiter.take() does not reopen a window when the clock steps back", () => {
  const limiter = new RateLimiter();
  const spec = { limit: 2, windowMs: 1_000 };
  limiter.take("k", spec, 5_000);
  limiter.take("k", spec, 5_000);
  assert.deepEqual(limiter.take("k", spec, 0), { allow: false, retryAfterMs: 1_000 });
  assert.deepEqual(limiter.take("k", spec, 5_999), { allow: false, retryAfterMs: 1 });
  assert.deepEqual(limiter.take("k", spec, 6_000), { allow: true });
});

Deno.test("RateLimiter.take() keeps the newest calls when a key's limit changes", () => {
  const limiter = new RateLimiter();
  for (let t = 0; t < 5; t++) assert.ok(limiter.take("k", { limit: 5, windowMs: 100 }, t).allow);
  // Lowered to 3: the last three calls (2, 3, 4) still fill the window.
  assert.deepEqual(limiter.take("k", { limit: 3, windowMs: 100 }, 10), {
    allow: false,
    retryAfterMs: 92,
  });
  assert.ok(limiter.take("k", { limit: 3, windowMs: 100 }, 102).allow);
  // Raised to 10: room again.
  assert.ok(limiter.take("k", { limit: 10, windowMs: 100 }, 103).allow);
});

Deno.test("RateLimiter.take() handles a huge limit without preallocating it", () => {
  const limiter = new RateLimiter({ now: () => 0 });
  const spec = { limit: 1_000_000_000, windowMs: 1_000 };
  for (let i = 0; i < 1_000; i++) assert.ok(limiter.take("k", spec).allow);
});

Deno.test("RateLimiter.take() throws RangeError on an invalid limit", () => {
  const limiter = new RateLimiter();
  for (
    const spec of [
      { limit: 0, windowMs: 1_000 },
      { limit: -1, windowMs: 1_000 },
      { limit: 1.5, windowMs: 1_000 },
      { limit: NaN, windowMs: 1_000 },
      { limit: 1, windowMs: 0 },
      { limit: 1, windowMs: -5 },
      { limit: 1, windowMs: Infinity },
      { limit: 1, windowMs: NaN },
    ]
  ) {
    assert.throws(() => limiter.take("k", spec), RangeError, JSON.stringify(spec));
  }
  assert.throws(() => limiter.take("k", { limit: 1, windowMs: 1 }, NaN), RangeError);
  assert.throws(() => new RateLimiter({ maxKeys: 0 }), RangeError);
  assert.throws(() => new RateLimiter({ maxKeys: 1.5 }), RangeError);
});

Deno.test("RateLimiter uses performance.now by default", () => {
  const limiter = new RateLimiter();
  assert.ok(limiter.take("k", { limit: 1, windowMs: 60_000 }).allow);
  assert.ok(!limiter.take("k", { limit: 1, windowMs: 60_000 }).allow);
  assert.equal(DEFAULT_MAX_KEYS, 10_000);
});

// --- eviction ----------------------------------------------------------------

Deno.test("RateLimiter never evicts an active key: key churn cannot reset a full window", () => {
  const c = clock();
  const limiter = new RateLimiter({ now: c.now, maxKeys: 3 });
  const spec = { limit: 2, windowMs: 1_000 };
  assert.ok(limiter.take("victim", spec).allow);
  assert.ok(limiter.take("victim", spec).allow);
  for (let i = 0; i < 500; i++) {
    c.set(i);
    limiter.take(`churn-${i}`, spec);
    assert.equal(limiter.take("victim", spec).allow, false, `after churn ${i}`);
  }
  assert.ok(limiter.size <= 3);
  c.set(1_000);
  assert.ok(limiter.take("victim", spec).allow);
});

Deno.test("RateLimiter refuses a new key when every held key is active, until one goes idle", () => {
  const c = clock();
  const limiter = new RateLimiter({ now: c.now, maxKeys: 2 });
  const spec = { limit: 5, windowMs: 1_000 };
  c.set(0);
  assert.ok(limiter.take("a", spec).allow);
  c.set(300);
  assert.ok(limiter.take("b", spec).allow);
  c.set(400);
  assert.deepEqual(limiter.take("c", spec), { allow: false, retryAfterMs: 600 });
  c.set(999);
  assert.deepEqual(limiter.take("c", spec), { allow: false, retryAfterMs: 1 });
  // Held keys keep working while new ones wait.
  assert.ok(limiter.take("b", spec).allow);
  c.set(1_000); // "a" is idle now
  assert.deepEqual(limiter.take("c", spec), { allow: true });
  assert.equal(limiter.size, 2);
});

Deno.test("RateLimiter evicts idle keys so memory stays bounded", () => {
  const c = clock();
  const limiter = new RateLimiter({ now: c.now });
  const spec = { limit: 1, windowMs: 10 };
  for (let i = 0; i < 50_000; i++) {
    c.set(i);
    assert.ok(limiter.take(`k${i}`, spec).allow);
  }
  assert.ok(limiter.size <= 12, `held ${limiter.size} keys`);
});

Deno.test("RateLimiter.clear() forgets every key", () => {
  const limiter = new RateLimiter({ now: () => 0 });
  limiter.take("k", { limit: 1, windowMs: 1_000 });
  limiter.clear();
  assert.equal(limiter.size, 0);
  assert.ok(limiter.take("k", { limit: 1, windowMs: 1_000 }).allow);
});

// --- properties --------------------------------------------------------------

/** Allowed calls in the window ending at `t`: those at s with s <= t and t - s < w. */
function inWindow(allowed: readonly number[], t: number, w: number): number {
  let n = 0;
  for (const s of allowed) if (s <= t && t - s < w) n++;
  return n;
}

function checkExact(times: number[], limit: number, windowMs: number): void {
  const limiter = new RateLimiter();
  const spec = { limit, windowMs };
  const allowed: number[] = [];
  for (const t of times) {
    const before = inWindow(allowed, t, windowMs);
    const decision = limiter.take("k", spec, t);
    if (decision.allow) {
      assert.ok(before < limit, `allowed at ${t} with ${before} in window`);
      allowed.push(t);
    } else {
      // Refused only when the window really is full.
      assert.equal(before, limit, `refused at ${t} with ${before} in window`);
      assert.ok(decision.retryAfterMs > 0);
      const oldest = allowed.filter((s) => t - s < windowMs)[0];
      assert.equal(decision.retryAfterMs, windowMs - (t - oldest));
    }
  }
  // In every window of length W the allowed calls are at most L (the fullest
  // windows end at an allowed call).
  for (const t of allowed) assert.ok(inWindow(allowed, t, windowMs) <= limit);
}

Deno.test("RateLimiter is exact over random arrival times (fast-check, integer times)", () => {
  fc.assert(
    fc.property(
      // Small ranges so calls often land exactly on a window boundary.
      fc.array(fc.integer({ min: 0, max: 400 }), { maxLength: 300 }),
      fc.integer({ min: 1, max: 10 }),
      fc.integer({ min: 1, max: 100 }),
      (raw, limit, windowMs) => checkExact([...raw].sort((a, b) => a - b), limit, windowMs),
    ),
    { numRuns: 300 },
  );
});

Deno.test("RateLimiter is exact over random arrival times (fast-check, fractional times)", () => {
  fc.assert(
    fc.property(
      fc.array(fc.double({ min: 0, max: 1_000, noNaN: true }), { maxLength: 200 }),
      fc.integer({ min: 1, max: 6 }),
      fc.double({ min: 0.5, max: 200, noNaN: true }),
      (raw, limit, windowMs) => checkExact([...raw].sort((a, b) => a - b), limit, windowMs),
    ),
    { numRuns: 200 },
  );
});

Deno.test("RateLimiter stays exact per key under eviction pressure (fast-check)", () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.record({ key: fc.integer({ min: 0, max: 6 }), dt: fc.integer({ min: 0, max: 120 }) }),
        { maxLength: 300 },
      ),
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 1, max: 500 }),
      (events, maxKeys, limit, windowMs) => {
        const limiter = new RateLimiter({ maxKeys });
        const spec = { limit, windowMs };
        const allowed = new Map<number, number[]>();
        let t = 0;
        for (const { key, dt } of events) {
          t += dt;
          const mine = allowed.get(key) ?? [];
          const used = inWindow(mine, t, windowMs);
          let activeOthers = 0;
          for (const [k, stamps] of allowed) {
            if (k !== key && inWindow(stamps, t, windowMs) > 0) activeOthers++;
          }
          const decision = limiter.take(`k${key}`, spec, t);
          assert.ok(limiter.size <= maxKeys);
          if (decision.allow) {
            assert.ok(used < limit, "allowed beyond the limit");
            mine.push(t);
            allowed.set(key, mine);
          } else {
            const full = used === limit;
            const capped = used === 0 && activeOthers >= maxKeys;
            assert.ok(
              full || capped,
              `refused key ${key} at ${t}: ${used} used, ${activeOthers} active`,
            );
          }
        }
      },
    ),
    { numRuns: 300 },
  );
});
