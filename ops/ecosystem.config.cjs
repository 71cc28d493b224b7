// PM2 ecosystem for satori-miner, as the subnet's own instructions run miners:
//   pm2 start ops/ecosystem.config.cjs && pm2 save      (then: pm2 logs satori-miner, pm2 monit)
// The miner reads its config from MINER_CONFIG (else config.yml in the repo) and its token from HF_TOKEN,
// taken from the shell that runs `pm2 start`; `pm2 restart satori-miner --update-env` picks up new ones.
const path = require("node:path");

// main.ts STOP_DEADLINE_MS: the miner's graceful stop (trainers checkpoint, the queue flushes) ends
// within this; PM2 must wait longer before its SIGKILL, or a stop costs the training since the last
// checkpoint. tests/ops_test.ts keeps the two in step.
const STOP_DEADLINE_MS = 60_000;

module.exports = {
  apps: [
    {
      name: "satori-miner",
      cwd: path.join(__dirname, ".."),
      script: "deno",
      args: ["task", "start"],
      interpreter: "none",
      exec_mode: "fork",
      instances: 1,
      // PM2 stops with SIGINT, then SIGKILL after kill_timeout.
      kill_timeout: STOP_DEADLINE_MS + 30_000,
      // Signal `deno task` only: it forwards the signal to the miner, which stops its own trainers
      // (SIGTERM to each trainer's process group, checkpoint, exit). A signal sprayed over the whole
      // tree would reach the trainers before the miner knew it was stopping.
      treekill: false,
      autorestart: true,
      // After a crash: 1 s, doubling up to PM2's 15 s cap; a run shorter than min_uptime counts as
      // unstable, and PM2 gives up after max_restarts unstable runs (a miner that cannot start, such
      // as one refused by its preflight, is not restarted forever).
      exp_backoff_restart_delay: 1_000,
      min_uptime: 30_000,
      max_restarts: 10,
      time: true,
      env: { NO_COLOR: "1" },
    },
  ],
};
