import assert from "node:assert/strict";
import { FAKE_NVIDIA_SMI } from "../../tests/status_fixtures.ts";
import { parseGpuQuery, pollGpus } from "./gpu_poll.ts";

Deno.test("parseGpuQuery() reads each card's load, memory, temperature and power, unknown fields as null", () => {
  const gpus = parseGpuQuery(
    "0, GPU-a, NVIDIA H100 80GB HBM3, 97, 61234, 81559, 71, 612.50\n" +
      "1, GPU-b, NVIDIA A100-SXM4-40GB, [N/A], 1, 40960, [Not Supported], [N/A]\n",
  );
  assert.deepEqual(gpus[0], {
    index: 0,
    uuid: "GPU-a",
    name: "NVIDIA H100 80GB HBM3",
    utilization: 0.97,
    memoryUsedBytes: 61234 * 1024 ** 2,
    memoryTotalBytes: 81559 * 1024 ** 2,
    temperatureC: 71,
    powerW: 612.5,
  });
  assert.deepEqual([gpus[1].utilization, gpus[1].temperatureC, gpus[1].powerW], [null, null, null]);
});

Deno.test("parseGpuQuery() refuses a line that is not the queried fields", () => {
  assert.throws(() => parseGpuQuery("0, GPU-a, H100\n"), /line 1/);
});

Deno.test("pollGpus() reads the fake nvidia-smi and says why when the tool is missing", async () => {
  const polled = await pollGpus(FAKE_NVIDIA_SMI);
  assert.ok(polled.ok);
  assert.deepEqual(polled.gpus.map((g) => g.index), [0, 1]);
  assert.ok(polled.gpus.every((g) => g.utilization !== null && g.temperatureC !== null));
  assert.deepEqual(await pollGpus("/nonexistent/nvidia-smi"), {
    ok: false,
    note: "nvidia-smi is not installed",
  });
});
