import assert from "node:assert/strict";
import { trainerArgs } from "./trainer_process.ts";

const run = { taskFile: "/w/t/task.json", datasetDir: "/d", outDir: "/w/t/out", resume: false };

Deno.test("trainerArgs() runs the trainer module directly on one device", () => {
  assert.deepEqual(trainerArgs(run), [
    "-m",
    "trainer",
    "run",
    "--task",
    "/w/t/task.json",
    "--dataset",
    "/d",
    "--out",
    "/w/t/out",
  ]);
  assert.equal(trainerArgs({ ...run, resume: true, nprocs: 1 }).at(-1), "--resume");
});

Deno.test("trainerArgs() launches one process per GPU with torchrun when a task asks for several", () => {
  assert.deepEqual(trainerArgs({ ...run, nprocs: 4, resume: true }), [
    "-m",
    "torch.distributed.run",
    "--standalone",
    "--nnodes",
    "1",
    "--nproc_per_node",
    "4",
    "-m",
    "trainer",
    "run",
    "--task",
    "/w/t/task.json",
    "--dataset",
    "/d",
    "--out",
    "/w/t/out",
    "--resume",
  ]);
});
