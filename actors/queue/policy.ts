/**
 * What the operator lets a validator ask for, checked when a task arrives (admission.ts): which base
 * models it may name (the configured ones plus `training.allowed_base_models`, each matched exactly,
 * so a validator can never name a folder the operator did not list), the caps of `training.limits`,
 * the queue's sharing among validators (`miner.fairness`) and `miner.task_time_limit_s`. A signed
 * request proves who sent it, not that it is harmless. Pure.
 */
import { ConfigSchema, type FileConfig } from "../../core/config.ts";
import type { Task } from "../../core/task.ts";
import type { Fairness } from "./fairness.ts";

export type TrainingLimits = FileConfig["training"]["limits"];

export type AdmissionPolicy = {
  /** Base models each kind of task may name, exactly as written. */
  baseModels: { text: ReadonlySet<string>; image: ReadonlySet<string> };
  limits: TrainingLimits;
  fairness: Fairness;
  taskTimeLimitS: number;
  /** Seconds until a base model is cached (the CacheActor's view; placement.ts downloadEstimateS). */
  downloadS?: (baseModel: string) => number;
};

/** The policy of a config: `admissionPolicyOf(cfg)` in the miner. */
export function admissionPolicyOf(cfg: Pick<FileConfig, "miner" | "training">): AdmissionPolicy {
  const { training, miner } = cfg;
  const allowed = training.allowed_base_models;
  return {
    baseModels: {
      text: new Set([training.text.base_model, ...allowed]),
      image: new Set([training.image.base_model, ...allowed]),
    },
    limits: training.limits,
    fairness: {
      maxShare: miner.fairness.max_share,
      minSlots: miner.fairness.min_slots,
      reservedSlots: miner.fairness.reserved_slots,
    },
    taskTimeLimitS: miner.task_time_limit_s,
  };
}

/**
 * The defaults' policy, changed where `over` says: for a queue started without one (tests and
 * benchmarks), and for tests that name their own fake or tiny models. Only the configured default
 * base models are allowed unless `allowedBaseModels` lists more.
 */
export function admissionPolicy(
  over: {
    allowedBaseModels?: string[];
    limits?: Partial<TrainingLimits>;
    fairness?: Partial<Fairness>;
    taskTimeLimitS?: number;
  } = {},
): AdmissionPolicy {
  const base = admissionPolicyOf(ConfigSchema.parse({}));
  const add = (set: ReadonlySet<string>) => new Set([...set, ...(over.allowedBaseModels ?? [])]);
  return {
    baseModels: { text: add(base.baseModels.text), image: add(base.baseModels.image) },
    limits: { ...base.limits, ...over.limits },
    fairness: { ...base.fairness, ...over.fairness },
    taskTimeLimitS: over.taskTimeLimitS ?? base.taskTimeLimitS,
  };
}

const HUB_ID = /^[A-Za-z0-9][\w.-]*\/[A-Za-z0-9][\w.-]*$/;

/**
 * Why the task's base model is refused, or null. The same words whatever the name is and whatever
 * lies on this machine's disk; the allowed Hub ids are listed, allowed local folders never are.
 */
export function baseModelRefusal(task: Task, policy: AdmissionPolicy): string | null {
  const model = task.request.training.base_model;
  const allowed = policy.baseModels[task.request.type];
  if (allowed.has(model)) return null;
  const hub = [...allowed].filter((m) => HUB_ID.test(m));
  const shown = JSON.stringify(model.length > 100 ? `${model.slice(0, 100)}…` : model);
  const list = hub.length ? hub.slice(0, 10).map((m) => `"${m}"`).join(", ") : "none named here";
  return `base_model ${shown} is not a model this miner trains for ${task.request.type} tasks ` +
    `(it trains: ${list})`;
}

/** Every field of the task above its cap, named with the cap, or null when all are within. */
export function limitRefusal(task: Task, limits: TrainingLimits): string | null {
  const { training, type } = task.request;
  const hp = training.hyperparameters;
  const checks: [field: string, value: number | null, cap: keyof TrainingLimits][] = [
    ["hyperparameters.max_steps", hp.max_steps, "max_steps"],
    ["hyperparameters.epochs", hp.epochs, "max_epochs"],
    ["hyperparameters.rank", hp.rank, "max_rank"],
    ["hyperparameters.batch_size", hp.batch_size, "max_batch_size"],
    ["hyperparameters.gradient_accumulation", hp.gradient_accumulation, "max_gradient_accumulation"],
    ["hyperparameters.learning_rate", hp.learning_rate, "max_learning_rate"],
  ];
  if (type === "text") {
    checks.push([
      "hyperparameters.max_seq_length",
      training.hyperparameters.max_seq_length,
      "max_seq_length",
    ]);
  } else {
    const q = training.quality;
    checks.push(
      ["hyperparameters.resolution", training.hyperparameters.resolution, "max_resolution"],
      ["quality.num_inference_steps", q.num_inference_steps, "max_inference_steps"],
      ["quality.prompts (count)", q.prompts.length, "max_quality_prompts"],
    );
  }
  const over = checks
    .filter(([, value, cap]) => value !== null && value > limits[cap])
    .map(([field, value, cap]) =>
      `training.${field} is ${value}, above this miner's cap of ${limits[cap]} (training.limits.${cap})`
    );
  return over.length ? over.join("; ") : null;
}

/** "2 h 5 min", "40 s": how long, for a refusal. */
export function formatSeconds(s: number): string {
  if (s < 60) return `${Math.ceil(s)} s`;
  const min = Math.ceil(s / 60);
  if (min < 60) return `${min} min`;
  const h = Math.floor(min / 60);
  if (h >= 48) return `${Math.round(h / 24)} days`;
  return min % 60 ? `${h} h ${min % 60} min` : `${h} h`;
}
