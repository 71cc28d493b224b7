/**
 * The validators' protocol package (protocol/satori_protocol) against our AxonActor on a real socket,
 * driven by the real bittensor 10.5 Dendrite (tests/py/protocol_roundtrip.py): a TrainingTask built from
 * the typed TaskRequest models is accepted, every reply deserialises into its class with all fields
 * set, and the body hash the SDK computed equals ours for every value type a task holds (str with
 * quotes and non-ASCII, int past 2^32, float in both notations, bool, None, list, nested dict).
 */
import assert from "node:assert/strict";
import { startAxonActor } from "../actors/axon/axon_actor.ts";
import { axonStats } from "../actors/protocol.ts";
import { bodyHash, EMPTY_BODY_HASH, parsePyJson, type PyValue } from "../actors/axon/body_hash.ts";
import type { TaskRequest } from "../core/task.ts";
import { runBtScript } from "./axon_sdk.ts";
import { FakeMiner, MINER_PHRASE, VALIDATOR_FACTS, VALIDATOR_PHRASE, walletFrom } from "./axon_fixtures.ts";

/** A miner that finishes every task at once, so TaskStatus has a progress and a result repo. */
class DoneMiner extends FakeMiner {
  override acceptTask(request: TaskRequest, validator: { hotkey: string; stakeTao: number }) {
    const res = super.acceptTask(request, validator);
    const task = this.tasks.get(request.id);
    if (task) {
      const result = {
        repo_id: `satori-local/${request.id}`,
        commit_sha: "c0ffee",
        artifacts: [],
        metrics: {},
      };
      this.tasks.set(request.id, { ...task, state: "done", result });
    }
    return res;
  }
}

const TEXT_TASK = {
  id: "sdk-text-1",
  type: "text",
  priority: 1.5,
  deadline_ms: 4_102_444_800_000,
  dataset: { kind: "hf", repo: "satori/toy", revision: "main", path: "data/train.jsonl" },
  training: {
    base_model: 'org/modèle-ß \u{1F600} it\'s "quoted"',
    trust_remote_code: true,
    hyperparameters: { learning_rate: 0.00001, max_steps: 7, target_modules: ["q_proj", "v_proj"], alpha: 8 },
    dataset: { format: "jsonl", columns: { prompt: "question", response: "answer" } },
  },
};

const IMAGE_TASK = {
  id: "sdk-image-1",
  type: "image",
  dataset: {
    kind: "url",
    url: "https://example.com/d.tar.gz",
    sha256: "a".repeat(64),
    max_bytes: 50_000_000_000,
  },
  training: {
    base_model: "black-forest-labs/FLUX.1-dev",
    hyperparameters: { epochs: 2.5, guidance_scale: 3.5, quantization: "nf4", resolution: 512 },
    quality: { prompts: ["a red square", "un carré\trouge"], min_difference: 1e-7 },
  },
};

type CallResult = {
  synapse: string;
  status: number;
  message: string;
  sent_body: string;
  sdk_body_hash: string;
  hash_fields: string[];
  // deno-lint-ignore no-explicit-any
  reply: Record<string, any>;
  reply_types: Record<string, string>;
  request_equal?: boolean;
};

function roundTrip(port: number, axonHotkey: string, task: unknown): Promise<CallResult[]> {
  return runBtScript<CallResult[]>("tests/py/protocol_roundtrip.py", {
    axon: { ip: "127.0.0.1", port, hotkey: axonHotkey },
    mnemonic: VALIDATOR_PHRASE,
    task,
  });
}

Deno.test("satori_protocol round-trips every synapse through AxonActor with the bittensor SDK", async (t) => {
  const [minerWallet, validator] = [await walletFrom(MINER_PHRASE), await walletFrom(VALIDATOR_PHRASE)];
  const miner = new DoneMiner();
  miner.queueMax = 10;
  miner.facts.set(validator.hotkey.ss58, VALIDATOR_FACTS);
  await using axon = startAxonActor(
    { ip: "127.0.0.1", port: 0, maxBodyBytes: 1 << 20, minStakeTao: 1_000 },
    {
      wallet: minerWallet,
      lookup: (h) => miner.lookup(h),
      acceptTask: (r, v) => miner.acceptTask(r, v),
      taskStatus: (id) => miner.taskStatus(id),
      capacity: () => miner.capacity(),
    },
  );
  const { port } = (await axonStats(axon)).address;

  for (const task of [TEXT_TASK, IMAGE_TASK]) {
    await t.step(`${task.type} task`, async (t) => {
      const [sent, status, capacity] = await roundTrip(port, minerWallet.hotkey.ss58, task);

      await t.step("every call answered 200 and the task was accepted as sent", () => {
        assert.deepEqual([sent.status, status.status, capacity.status], [200, 200, 200], sent.message);
        assert.deepEqual([sent.reply.accepted, sent.reply.task_id, sent.reply.reason], [true, task.id, null]);
        assert.equal(sent.request_equal, true, "the reply's task parses back into the request");
        const submitted = miner.submitted.at(-1)!.request;
        assert.deepEqual(submitted, JSON.parse(sent.sent_body).task, "the miner got the typed dump");
      });

      await t.step("replies deserialise into the classes with every field", () => {
        assert.deepEqual(sent.reply_types, {
          task: "dict",
          accepted: "bool",
          task_id: "str",
          queue_position: "int",
          reason: "NoneType",
          message: "NoneType",
        });
        assert.deepEqual(status.reply_types, {
          task_id: "str",
          state: "str",
          progress: "float",
          result_repo: "str",
          reason: "NoneType",
        });
        assert.deepEqual([status.reply.state, status.reply.progress], ["done", 1]);
        assert.equal(status.reply.result_repo, `satori-local/${task.id}`);
        assert.deepEqual(capacity.reply_types, {
          total_gpus: "int",
          free_gpus: "int",
          gpu_vram_mb: "list",
          queue_length: "int",
          queue_max: "int",
        });
        assert.deepEqual(capacity.reply.gpu_vram_mb, [81559, 81559]);
      });

      await t.step("the SDK's body hash equals ours over the body it sent", () => {
        for (const call of [sent, status, capacity]) {
          const body = parsePyJson(call.sent_body) as Record<string, PyValue>;
          assert.equal(bodyHash(call.hash_fields.map((f) => body[f])), call.sdk_body_hash, call.synapse);
        }
        assert.deepEqual(sent.hash_fields, ["task"]);
        assert.deepEqual(status.hash_fields, ["task_id"]);
        assert.equal(capacity.sdk_body_hash, EMPTY_BODY_HASH);
        // The typed dump sends floats as floats: the hash sees "8.0", not "8".
        assert.match(sent.sent_body, task.type === "text" ? /"alpha": 8\.0,/ : /"min_difference": 1e-07/);
      });
    });
  }
});
