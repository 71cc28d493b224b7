import assert from "node:assert/strict";
import {
  axonCheck,
  clockCheck,
  diskCheck,
  formatReport,
  imageMode,
  modelCheck,
  parsePins,
  registrationCheck,
  tokenChecks,
  venvChecks,
} from "./checks.ts";

const who = { hotkey: "5Hot", netuid: 119, wallet: "w", hotkeyName: "h" };

Deno.test("registrationCheck() passes with the uid and stake, fails with the btcli command to register", () => {
  assert.deepEqual(registrationCheck({ uid: 7, subnetExists: true, stakeTao: 1.5 }, who), {
    name: "registration",
    ok: true,
    detail: "hotkey 5Hot is uid 7 on netuid 119 (stake 1.500 TAO)",
  });
  const no = registrationCheck({ uid: null, subnetExists: true, stakeTao: null }, who);
  assert.equal(no.fix, "btcli subnet register --netuid 119 --wallet.name w --wallet.hotkey h");
  assert.equal(registrationCheck({ uid: null, subnetExists: false, stakeTao: null }, who).ok, false);
});

Deno.test("axonCheck() passes what is or will be served and fails an entry the config disagrees with", () => {
  const wanted = (decision: Parameters<typeof axonCheck>[1] & { ok: true }) => decision;
  assert.ok(
    axonCheck(
      "1.2.3.4:8001",
      wanted({ ok: true, endpoint: "1.2.3.4:8001", decision: { action: "unchanged" } }),
    ).ok,
  );
  assert.ok(
    axonCheck(null, wanted({ ok: true, endpoint: "1.2.3.4:8001", decision: { action: "serve" } })).ok,
  );
  const wrong = axonCheck("9.9.9.9:8001", {
    ok: true,
    endpoint: "1.2.3.4:8001",
    decision: { action: "wait", untilBlock: 90 },
  });
  assert.equal(wrong.ok, false);
  assert.match(wrong.fix!, /serves 1\.2\.3\.4:8001 at block 90 \(ServingRateLimit\)/);
  assert.equal(axonCheck(null, { ok: false, reason: "axon.external_ip is not set" }).ok, false);
});

Deno.test("clockCheck() fails a clock behind the latest block or a block far in the past", () => {
  assert.ok(clockCheck(4_000, 10).ok, "a block built 4 s ago");
  assert.match(clockCheck(-3_000, 10).detail, /at least 3\.0 s behind the chain \(block 10\)/);
  assert.match(clockCheck(120_000, 10).detail, /120\.0 s old by the local clock/);
});

Deno.test("tokenChecks() needs a valid token with the write role", () => {
  assert.equal(tokenChecks(null, null)[0].ok, false);
  assert.deepEqual(tokenChecks("t", { user: "u", role: "write", fineGrainedWrite: false }).map((c) => c.ok), [
    true,
    true,
  ]);
  assert.deepEqual(tokenChecks("t", { user: "u", role: "read", fineGrainedWrite: false }).map((c) => c.ok), [
    true,
    false,
  ]);
  assert.deepEqual(
    tokenChecks("t", { user: "u", role: "fineGrained", fineGrainedWrite: true }).map((c) => c.ok),
    [true, true],
  );
  assert.match(
    tokenChecks("t", { status: 401, error: "Invalid credentials" })[0].detail,
    /401: Invalid credentials/,
  );
});

Deno.test("modelCheck() sends a gated model's operator to its license page", () => {
  assert.ok(modelCheck("o/m", { status: 200, gated: true, bytes: 2e9 }).ok);
  const gated = modelCheck("black-forest-labs/FLUX.1-dev", { status: 403, gated: true, bytes: null });
  assert.equal(
    gated.fix,
    "accept the license at https://huggingface.co/black-forest-labs/FLUX.1-dev with the token's account",
  );
  assert.equal(modelCheck("o/m", { status: 404, gated: false, bytes: null }).ok, false);
});

Deno.test("venvChecks() compares versions with the pins, a CUDA build suffix aside, and names each GPU's image mode", () => {
  const pins = parsePins("torch==2.13.0\n# note\npeft==0.21.2  # why\nhuggingface_hub==2.4.0\n");
  const lib = (version: string | null) => ({ version, error: version ? null : "ModuleNotFoundError" });
  const report = {
    python: "3.11",
    libraries: {
      torch: lib("2.13.0+cu128"),
      peft: lib("0.21.2"),
      huggingface_hub: lib("2.4.0"),
      bitsandbytes: lib(null),
    },
    cuda_build: "12.8",
    cuda_available: true,
    gpus: [{ index: 0, name: "RTX 4090", memory_mb: 24_564, capability: "8.9", bf16: true }],
  };
  const [venv, gpus] = venvChecks(".venv/bin/python", report, pins);
  assert.ok(venv.ok, venv.detail);
  assert.match(gpus.detail, /0: RTX 4090, 24 GiB, sm_89, image mode fp8 \(nf4 needs bitsandbytes\)/);
  const old =
    venvChecks("p", { ...report, libraries: { ...report.libraries, peft: lib("0.20.0") } }, pins)[0];
  assert.equal(old.detail, "peft 0.20.0 (pinned 0.21.2)");
  assert.equal(venvChecks("p", { error: "no such file" }, pins)[0].ok, false);
  assert.equal(imageMode(81_000, false), "bf16");
});

Deno.test("diskCheck() fails a budget smaller than the base models and a disk too small for what is left", () => {
  const d = { cacheDir: "c", budgetBytes: 100e9, needBytes: 73e9, cachedBytes: 0, freeBytes: 500e9 };
  assert.ok(diskCheck(d).ok);
  assert.equal(diskCheck({ ...d, budgetBytes: 50e9 }).fix, "raise training.cache_max_gb to at least 73");
  assert.match(
    diskCheck({ ...d, freeBytes: 20e9 }).detail,
    /73\.0 GB of base models still to fetch into "c", 20\.0 GB free/,
  );
  assert.ok(diskCheck({ ...d, freeBytes: 20e9, cachedBytes: 60e9 }).ok);
});

Deno.test("formatReport() puts each fix under its ✗ and ends with the verdict", () => {
  const text = formatReport([
    { name: "a", ok: true, detail: "fine" },
    { name: "b", ok: false, detail: "broken", fix: "mend it" },
  ]);
  assert.equal(
    text,
    "✓ a: fine\n✗ b: broken\n    fix: mend it\n1 of 2 checks failed: the miner would not mine",
  );
});
