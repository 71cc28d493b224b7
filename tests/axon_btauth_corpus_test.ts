/**
 * Our btauth/1 verifier (actors/axon/btauth.ts) and bittensor 11's own `http_auth.verify` agree: one
 * corpus, built and judged by the real SDK (tests/py/axon_btauth_corpus.py: odd query strings, empty and
 * binary bodies, unicode paths, both schemes, wrapped signatures, every header broken in turn, the
 * window's edges, a replay), run through ours with the same clock; each verdict must be the SDK's.
 */
import assert from "node:assert/strict";
import { type BtauthCode, type ReplayLedger, verifyBtauth } from "../actors/axon/btauth.ts";
import { runBt11Script } from "./axon_bt11.ts";

type Step = {
  headers: [string, string][];
  method: string;
  target: string;
  body: string;
  now_ns: string;
  sdk: string;
};
type Corpus = { receiver: string; cases: { name: string; steps: Step[] }[] };

const SDK_CLASS: Record<BtauthCode, string> = {
  malformed_auth: "MalformedAuth",
  wrong_receiver: "WrongReceiver",
  stale_request: "StaleRequest",
  bad_signature: "BadSignature",
  replayed_request: "ReplayedRequest",
};

Deno.test("verifyBtauth() gives the SDK's verdict on every request of its corpus", async () => {
  const corpus = await runBt11Script<Corpus>("tests/py/axon_btauth_corpus.py");
  assert.ok(corpus.cases.length >= 70, `a corpus of ${corpus.cases.length} cases`);
  const disagree: string[] = [];
  let requests = 0;
  for (const c of corpus.cases) {
    const ledger: ReplayLedger = new Map();
    c.steps.forEach((s, i) => {
      requests++;
      const r = verifyBtauth(Object.fromEntries(s.headers), {
        method: s.method,
        target: s.target,
        body: Uint8Array.from(atob(s.body), (ch) => ch.charCodeAt(0)),
      }, { self: corpus.receiver, nowNs: BigInt(s.now_ns), ledger });
      const ours = r.ok ? "ok" : SDK_CLASS[r.code];
      if (ours !== s.sdk) disagree.push(`${c.name} [${i}]: SDK ${s.sdk}, ours ${ours}`);
    });
  }
  assert.deepEqual(disagree, [], `${disagree.length} of ${requests} requests disagree`);
  const verdicts = new Set(corpus.cases.flatMap((c) => c.steps.map((s) => s.sdk)));
  assert.deepEqual([...verdicts].sort(), [
    "BadSignature",
    "MalformedAuth",
    "ReplayedRequest",
    "StaleRequest",
    "WrongReceiver",
    "ok",
  ]);
});
