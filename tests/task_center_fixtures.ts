/** Shared by the submit and dataset tests: signers from dev seeds, tasks with URL datasets, a dataset fetch. */
import { Keyring } from "@polkadot/keyring";
import { stringToU8a, u8aToHex } from "@polkadot/util";
import { cryptoWaitReady } from "@polkadot/util-crypto";
import { createHash } from "node:crypto";
import type { Signer } from "../actors/task_center/signing.ts";
import { newTask, type Task, TaskRequest, type TaskResult, transition } from "../core/task.ts";
import { doneEvent } from "./fixtures.ts";

export async function testSigner(uri = "//Alice"): Promise<Signer> {
  await cryptoWaitReady();
  const pair = new Keyring({ type: "sr25519" }).addFromUri(uri);
  return { hotkey: { ss58: pair.address }, sign: (m) => u8aToHex(pair.sign(stringToU8a(m))) };
}

export const DATASET_HOST = "http://datasets.test";

export function sha256(bytes: Uint8Array | string): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** A text task whose dataset is `bytes` at `DATASET_HOST/<name>`. */
export function urlTask(id: string, name: string, bytes: Uint8Array, nowMs = 1_000, maxBytes?: number): Task {
  const request = TaskRequest.parse({
    id,
    type: "text",
    dataset: { kind: "url", url: `${DATASET_HOST}/${name}`, sha256: sha256(bytes), max_bytes: maxBytes },
    training: { base_model: "tiny-llama", hyperparameters: { max_steps: 4 } },
  });
  return newTask(request, "5Validator", nowMs);
}

/** fetch that serves `files` under DATASET_HOST and passes everything else to the real fetch. */
export function datasetFetch(files: Map<string, Uint8Array>): typeof fetch {
  return (input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    if (!url.startsWith(DATASET_HOST)) return fetch(input, init);
    const body = files.get(new URL(url).pathname.slice(1));
    return Promise.resolve(
      body ? new Response(body as Uint8Array<ArrayBuffer>) : new Response("missing", { status: 404 }),
    );
  };
}

export const JSONL = '{"text": "hello world"}\n{"text": "second row"}\n{"text": "third"}\n';

/** The error `fn` rejects with; fails when it resolves or throws something not of `cls`. */
export async function rejection<E extends Error>(
  fn: () => Promise<unknown>,
  cls: new (...a: never[]) => E,
): Promise<E> {
  try {
    await fn();
  } catch (e) {
    if (e instanceof cls) return e;
    throw e;
  }
  throw new Error(`Expected a rejection with ${cls.name}`);
}

/** A task walked to `uploading`: trained and past its quality check. */
export function uploadingTask(id: string, now: number): Task {
  let t = urlTask(id, "train.jsonl", new TextEncoder().encode(JSONL), now);
  for (const type of ["submitDataset", "datasetValidated", "enqueue", "startTraining"] as const) {
    t = transition(t, { type }, now);
  }
  return transition(t, { type: "trained", done: doneEvent(), outDir: "/unused" }, now);
}

export const RESULT: TaskResult = {
  repo_id: "miner/t-lora",
  commit_sha: "c0ffee",
  artifacts: [{ path: "adapter_model.safetensors", sha256: sha256("weights"), bytes: 7 }],
  metrics: { eval_loss: 1.5, quality: { passed: true, metric: "eval_loss", base: 2, adapter: 1.5 } },
};
