import assert from "node:assert/strict";
import type { Entry } from "./priority.ts";
import { type Fairness, quotaOf, quotaRefusal } from "./fairness.ts";

const F: Fairness = { maxShare: 0.5, minSlots: 1, reservedSlots: 5 };
const held = (validator: string, stake: number, n: number): Entry[] =>
  Array.from({ length: n }, (_, i) => ({
    id: `${validator}-${i}`,
    validator,
    stake,
    priority: 0,
    receivedMs: i,
    deadlineMs: null,
    need: { gpus: 1, vramMb: 1 },
  }));

Deno.test("quotaOf() gives slots in proportion to stake among validators with tasks waiting, within the bounds", () => {
  const others = [...held("b", 3_000, 10), ...held("c", 1_000, 1)];
  assert.deepEqual(quotaOf(others, { validator: "a", stake: 1_000 }, 100, F), {
    held: 0,
    quota: 20,
    share: 0.2,
  });
  assert.equal(quotaOf(others, { validator: "b", stake: 3_000 }, 100, F).quota, 50, "capped at max_share");
  assert.equal(
    quotaOf(others, { validator: "tiny", stake: 0.001 }, 100, F).quota,
    1,
    "never below min_slots",
  );
  assert.equal(quotaOf([], { validator: "alone", stake: 5 }, 100, F).quota, 50, "alone, still the cap");
  const noStake = quotaOf(held("b", 0, 3), { validator: "a", stake: 0 }, 10, F);
  assert.equal(noStake.quota, 5, "no stake anywhere: equal shares");
});

Deno.test("quotaRefusal() keeps the last reserved slots for validators under their floor", () => {
  const full = [...held("a", 1_000, 50), ...held("b", 1_000, 45)];
  assert.match(
    quotaRefusal(full, 95, { validator: "a", stake: 1_000 }, 100, F) ?? "",
    /you hold 50 of your 50/,
  );
  assert.match(
    quotaRefusal(full, 95, { validator: "b", stake: 1_000 }, 100, F) ?? "",
    /the last 5 free slot\(s\) of 100 are kept for validators holding fewer than 1 task\(s\), and you hold 45/,
  );
  assert.equal(quotaRefusal(full, 95, { validator: "new", stake: 1 }, 100, F), null);
  const small = held("a", 1_000, 2);
  assert.match(quotaRefusal(small, 2, { validator: "a", stake: 1_000 }, 4, F) ?? "", /2 of your 2/);
  assert.equal(
    quotaRefusal(held("a", 1, 1), 1, { validator: "b", stake: 1 }, 4, F),
    null,
    "half kept at most",
  );
});
