/**
 * A fake GpuActor for queue tests: an in-process actor speaking GpuMsg that records the jobs it gets
 * and lets the test decide when and how each run ends, instantly and without a worker or a process.
 */
import type { Device } from "../core/device.ts";
import type { TrainerOutcome } from "../core/training.ts";
import type { GpuMsg, GpuReporter, TrainJob } from "../actors/protocol.ts";
import { type ActorRef, type Clock, spawn } from "../actors/runtime/actor.ts";
import type { TrainerEvent } from "../core/training.ts";

export type FakeGpu = {
  device: Device;
  ref: ActorRef<GpuMsg>;
  jobs: TrainJob[];
  cancels: string[];
  running(): string | null;
  emit(event: TrainerEvent): void;
  finish(outcome: TrainerOutcome): void;
};

export function startFakeGpu(
  device: Device,
  opts: { clock?: Clock; autoFinish?: TrainerOutcome } = {},
): FakeGpu {
  let run: { job: TrainJob; report: GpuReporter } | null = null;
  const fake: FakeGpu = {
    device,
    jobs: [],
    cancels: [],
    running: () => run?.job.taskId ?? null,
    emit: (event) => void run?.report({ kind: "event", taskId: run.job.taskId, event }),
    finish: (outcome) => {
      const r = run;
      if (!r) throw new Error("fake GPU: nothing runs");
      run = null;
      r.report({ kind: "ended", taskId: r.job.taskId, outcome });
    },
    ref: spawn<GpuMsg, null>({
      name: `fake-gpu:${device.index}`,
      clock: opts.clock,
      capacity: 10_000,
      init: () => null,
      handle: (_s, msg) => {
        switch (msg.type) {
          case "train":
            if (run) return msg.reply({ ok: false, reason: "busy", message: "busy" });
            fake.jobs.push(msg.job);
            run = { job: msg.job, report: msg.report };
            msg.report({ kind: "spawned", taskId: msg.job.taskId, pid: 0 });
            msg.reply({ ok: true });
            if (opts.autoFinish) queueMicrotask(() => run && fake.finish(opts.autoFinish!));
            return;
          case "cancel":
            fake.cancels.push(msg.taskId);
            if (run?.job.taskId !== msg.taskId) {
              return msg.reply({ ok: false, reason: "not_running", message: "no" });
            }
            msg.reply({ ok: true });
            return void queueMicrotask(() =>
              fake.finish({ ok: false, code: "cancelled", message: "cancelled" })
            );
          case "adopt":
            if (run) run.report = msg.report;
            return msg.reply({
              running: run ? [{ taskId: run.job.taskId, devices: run.job.devices }] : [],
              unreported: [],
            });
        }
      },
    }),
  };
  return fake;
}

/** A `done` outcome whose quality check passed. */
export function doneOutcome(passed = true): TrainerOutcome {
  const quality = {
    passed,
    metric: "eval_loss",
    base: 2,
    adapter: 1,
    threshold: 1.98,
    detail: "fake",
    samples: [],
  };
  return {
    ok: true,
    done: {
      type: "done",
      time: 1,
      artifacts: [{ path: "adapter_model.safetensors", sha256: "0".repeat(64), bytes: 1 }],
      metrics: {},
      quality,
    },
  };
}

export function cudaDevice(index: number, memoryTotalMb = 81_559, memoryUsedMb = 0): Device {
  return {
    kind: "cuda",
    index,
    uuid: `GPU-${index}`,
    name: "NVIDIA H100 80GB HBM3",
    memoryTotalMb,
    memoryUsedMb,
    utilization: 0,
  };
}
