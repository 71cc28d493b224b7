import assert from "node:assert/strict";
import { discoverDevices, parseNvidiaSmi, selectDevices } from "./devices.ts";
import { CPU_DEVICE, freeMemoryMb } from "../../core/device.ts";

const fixture = (name: string) => Deno.readTextFileSync(new URL(`./testdata/${name}`, import.meta.url));

/** Puts a fake `nvidia-smi` that prints `csv` (or fails) first on a private PATH. */
async function fakeNvidiaSmi(csv: string | null): Promise<string> {
  const dir = await Deno.makeTempDir();
  const script = csv === null
    ? `#!/bin/sh\necho "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver." >&2\nexit 9\n`
    : `#!/bin/sh\ncase "$1" in --query-gpu=index,uuid,name,memory.total,memory.used,utilization.gpu) ;; *) exit 64;; esac\ncat <<'CSV'\n${csv}CSV\n`;
  await Deno.writeTextFile(`${dir}/nvidia-smi`, script, { mode: 0o755 });
  return `${dir}/nvidia-smi`;
}

Deno.test("parseNvidiaSmi() reads 1, 2 and 8 GPU outputs", () => {
  assert.equal(parseNvidiaSmi(fixture("nvidia-smi-1x4090.csv"))[0].name, "NVIDIA GeForce RTX 4090");
  assert.equal(parseNvidiaSmi(fixture("nvidia-smi-2xA100.csv")).length, 2);
  const eight = parseNvidiaSmi(fixture("nvidia-smi-8xH100-one-busy.csv"));
  assert.equal(eight.length, 8);
  assert.equal(freeMemoryMb(eight[3]), 81559 - 61234);
});

Deno.test("parseNvidiaSmi() names the malformed line", () => {
  assert.throws(() => parseNvidiaSmi("0, GPU-x, A, 100, 1, 0\nbogus"), /line 2: "bogus"/);
});

Deno.test("selectDevices() honours CUDA_VISIBLE_DEVICES by index and UUID, then miner.devices", () => {
  const all = parseNvidiaSmi(fixture("nvidia-smi-8xH100-one-busy.csv"));
  assert.deepEqual(selectDevices(all, "2,5", null).map((d) => d.index), [2, 5]);
  assert.deepEqual(selectDevices(all, "GPU-70b2e381", null).map((d) => d.index), [7]);
  assert.deepEqual(selectDevices(all, "1,2,3", [2, 3]).map((d) => d.index), [2, 3]);
  assert.deepEqual(selectDevices(all, "-1", null), []);
  assert.deepEqual(selectDevices(all, undefined, [0]).map((d) => d.index), [0]);
});

Deno.test("discoverDevices() runs nvidia-smi from PATH and applies the selection", async () => {
  const smi = await fakeNvidiaSmi(fixture("nvidia-smi-8xH100-one-busy.csv"));
  const found = await discoverDevices("0,3", null, smi);
  assert.deepEqual(found.devices.map((d) => d.index), [0, 3]);
  assert.equal(found.note, null);
});

Deno.test("discoverDevices() falls back to one cpu device and says why", async () => {
  const missing = await discoverDevices(undefined, null, "/nonexistent/nvidia-smi");
  assert.deepEqual(missing.devices, [CPU_DEVICE]);
  assert.match(missing.note ?? "", /nvidia-smi is not installed/);
  const broken = await discoverDevices(undefined, null, await fakeNvidiaSmi(null));
  assert.match(broken.note ?? "", /exited 9: "NVIDIA-SMI has failed/);
  const hidden = await discoverDevices("", [], await fakeNvidiaSmi(fixture("nvidia-smi-2xA100.csv")));
  assert.match(hidden.note ?? "", /No GPU left/);
});
