#!/usr/bin/env bash
# A stand-in for `python -m trainer run …` (the wire-protocol fake of the trainer): it speaks the
# JSON-lines events of core/training.ts and behaves as the task's base_model says:
#   fake:ok     started, two progress events, a checkpoint, done; exit 0
#   fake:hang   started, then waits; SIGTERM → error "cancelled", exit 1
#   fake:crash  a stderr line, exit 3
#   fake:adapter  as fake:ok, but writes a real adapter file and reports its hash (uploadable)
#   fake:slow   started, a checkpoint at step 1, a 20 s pause (SIGTERM → "cancelled"), then as
#               fake:adapter; with --resume it starts at step 1 and skips the pause (a kill point)
# Each run appends its arguments and CUDA_VISIBLE_DEVICES to <out>/invocations.
set -u
task="" out="" resume=0
while [ $# -gt 0 ]; do
  case "$1" in
    --task) task="$2"; shift ;;
    --out) out="$2"; shift ;;
    --resume) resume=1 ;;
  esac
  shift
done
mkdir -p "$out"
echo "resume=$resume cuda=${CUDA_VISIBLE_DEVICES-unset}" >> "$out/invocations"
model=$(sed -n 's/.*"base_model":"\([^"]*\)".*/\1/p' "$task")
id=$(sed -n 's/.*"task_id":"\([^"]*\)".*/\1/p' "$task")
now() { date +%s.%N; }
started() {
  echo "{\"type\":\"started\",\"time\":$(now),\"task_id\":\"$id\",\"kind\":\"text\",\"device\":\"cpu\",\"precision\":\"fp32\",\"total_steps\":2,\"start_step\":${1:-0},\"train_samples\":4,\"eval_samples\":1,\"trainable_params\":8}"
}
# The last progress event, a real adapter file and `done` with its hash.
adapter() {
  echo "{\"type\":\"progress\",\"time\":$(now),\"step\":2,\"total\":2,\"loss\":1.5,\"lr\":0.01,\"samples_per_s\":2,\"tokens_per_s\":null,\"eta_s\":0,\"gpu_mem_mb\":null}"
  printf 'fake adapter of %s' "$id" > "$out/adapter_model.safetensors"
  sha=$(sha256sum "$out/adapter_model.safetensors" | cut -d' ' -f1)
  bytes=$(wc -c < "$out/adapter_model.safetensors")
  q='{"passed":true,"metric":"eval_loss","base":2,"adapter":1,"threshold":1.98,"detail":"fake","samples":[]}'
  echo "{\"type\":\"done\",\"time\":$(now),\"artifacts\":[{\"path\":\"adapter_model.safetensors\",\"sha256\":\"$sha\",\"bytes\":$bytes}],\"metrics\":{},\"quality\":$q}"
}
case "$model" in
  fake:ok)
    started
    for s in 1 2; do
      echo "{\"type\":\"progress\",\"time\":$(now),\"step\":$s,\"total\":2,\"loss\":1.5,\"lr\":0.01,\"samples_per_s\":2,\"tokens_per_s\":null,\"eta_s\":1,\"gpu_mem_mb\":null}"
    done
    echo "{\"type\":\"checkpoint\",\"time\":$(now),\"step\":2,\"path\":\"checkpoints/step-000002\"}"
    q='{"passed":true,"metric":"eval_loss","base":2,"adapter":1,"threshold":1.98,"detail":"fake","samples":[]}'
    sha=0000000000000000000000000000000000000000000000000000000000000000
    echo "{\"type\":\"done\",\"time\":$(now),\"artifacts\":[{\"path\":\"adapter_model.safetensors\",\"sha256\":\"$sha\",\"bytes\":1}],\"metrics\":{},\"quality\":$q}"
    ;;
  fake:adapter)
    started
    adapter
    ;;
  fake:slow)
    trap 'echo "{\"type\":\"error\",\"time\":$(now),\"code\":\"cancelled\",\"message\":\"Training was cancelled\"}"; exit 1' TERM
    if [ "$resume" = 1 ]; then
      started 1
    else
      started 0
      echo "{\"type\":\"progress\",\"time\":$(now),\"step\":1,\"total\":2,\"loss\":1.7,\"lr\":0.01,\"samples_per_s\":2,\"tokens_per_s\":null,\"eta_s\":20,\"gpu_mem_mb\":null}"
      mkdir -p "$out/checkpoints/step-000001"
      echo "{\"type\":\"checkpoint\",\"time\":$(now),\"step\":1,\"path\":\"checkpoints/step-000001\"}"
      sleep 20 & wait $!
    fi
    adapter
    ;;
  fake:hang)
    trap 'echo "{\"type\":\"error\",\"time\":$(now),\"code\":\"cancelled\",\"message\":\"Training was cancelled\"}"; exit 1' TERM
    started
    while true; do sleep 30 & wait $!; done
    ;;
  fake:crash)
    echo "Traceback: RuntimeError: boom" >&2
    exit 3
    ;;
  *)
    echo "fake trainer: unknown base_model \"$model\"" >&2
    exit 64
    ;;
esac
