/**
 * A miner process cut down to the store and the TaskCenterActor, for the SIGKILL test
 * (task_center_crash_test.ts). `submit`: store an uploading task, hand its result over, print "queued",
 * then keep retrying until killed. `drain`: start, let recovery deliver the outbox, print "done".
 * Usage: deno run -A tests/task_center_crash_entry.ts <submit|drain> <store> <data_dir> <task_center_url> <task_id>
 */
import { startTaskCenterActor } from "../actors/task_center/task_center_actor.ts";
import { deliverResult } from "../actors/protocol.ts";
import { Store } from "../core/store.ts";
import { RESULT, testSigner, uploadingTask } from "./task_center_fixtures.ts";

const [mode, storePath, dataDir, url, taskId] = Deno.args;
const store = await Store.open(storePath);
const actor = startTaskCenterActor({
  store,
  signer: await testSigner("//Alice"),
  taskCenter: {
    url,
    request_timeout_s: 2,
    poll_interval_s: 0.05,
    validation_timeout_s: 60,
    retry_max_delay_s: 0.2,
  },
  dataDir,
  hubUrl: "http://hub.invalid",
});

if (mode === "submit") {
  await store.createTask(uploadingTask(taskId, Date.now()));
  const reply = await deliverResult(actor, taskId, RESULT);
  if (!reply.ok) throw new Error(reply.message);
  console.log("queued");
  await new Promise(() => {}); // until SIGKILL
} else {
  for (;;) {
    const task = await store.getTask(taskId);
    if (task?.state === "done") break;
    await new Promise((r) => setTimeout(r, 20)); // polling another process's work: no event to await
  }
  console.log("done");
  await actor.stop();
  store.close();
}
