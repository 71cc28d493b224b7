#!/usr/bin/env bash
# A real two-node Ray cluster (one logical GPU per node unless RAY_TEST_GPUS says more) for the Ray
# tests, `deno task local --ray` and the benchmark: Ray 2.60 from
# .venv-ray (tests/requirements-ray.txt), token auth, logical GPUs, inside a network namespace of its own
# with only `lo` up, so nothing it starts listens beyond loopback (outside one, Ray hands its GCS the
# host's address). Node "a" is the head at 127.0.0.1 (GCS 6379, dashboard and Jobs API 8265); node "b"
# joins from 127.0.0.2 (the whole of 127/8 is loopback), so each node has its own `node:<ip>` resource,
# as machines in a real cluster do, and needs its own agent port and worker-port range beside "a".
#
#   scripts/ray_cluster.sh start            create the namespace, start both nodes (idempotent)
#   scripts/ray_cluster.sh stop             stop every node and remove the namespace
#   scripts/ray_cluster.sh exec CMD...      run CMD inside the namespace, with RAY_TEST_* set
#   scripts/ray_cluster.sh run CMD...       start, exec CMD, stop (always); exit with CMD's status
#   scripts/ray_cluster.sh kill-raylet b    SIGKILL node b's raylet (a node dying under a job)
#   scripts/ray_cluster.sh start-node b     start node b again
#
# RAY_TEST_NETNS (default satori-ray) names the namespace; the token is made once per cluster start
# and kept in $RAY_TEST_DIR/token (0600), never printed.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
ns=${RAY_TEST_NETNS:-satori-ray}
dir=${RAY_TEST_DIR:-$root/.ray-test}
ray=$root/.venv-ray/bin/ray
gpus=${RAY_TEST_GPUS:-1}
cpus=${RAY_TEST_CPUS:-2}

in_ns() { ip netns exec "$ns" "$@"; }
token() { cat "$dir/token"; }

node_args() { # node
  case "$1" in
    a) echo "--head --node-ip-address=127.0.0.1 --port=6379 --dashboard-host=127.0.0.1 --dashboard-port=8265 \
--min-worker-port=10002 --max-worker-port=14999 --dashboard-agent-listen-port=52365" ;;
    b) echo "--address=127.0.0.1:6379 --node-ip-address=127.0.0.2 \
--min-worker-port=15000 --max-worker-port=19999 --dashboard-agent-listen-port=52366" ;;
    *) echo "ray_cluster: unknown node '$1' (a or b)" >&2; exit 2 ;;
  esac
}

start_node() { # node
  # shellcheck disable=SC2046
  in_ns env RAY_AUTH_MODE=token RAY_AUTH_TOKEN="$(token)" "$ray" start $(node_args "$1") \
    --num-cpus="$cpus" --num-gpus="$gpus" --disable-usage-stats --temp-dir="$dir/tmp" \
    >>"$dir/start.log" 2>&1 || { echo "ray_cluster: node $1 did not start; see $dir/start.log" >&2; exit 1; }
}

wait_nodes() { # count
  local deadline=$((SECONDS + 60))
  while [ $SECONDS -lt $deadline ]; do
    n=$(in_ns curl -sf -H "Authorization: Bearer $(token)" http://127.0.0.1:8265/api/v0/nodes 2>/dev/null |
      grep -o '"state": "ALIVE"' | wc -l || true)
    [ "$n" -ge "$1" ] && return 0
    sleep 1
  done
  echo "ray_cluster: $1 nodes not alive after 60 s; see $dir/start.log" >&2
  exit 1
}

raylet_pid() { # node: its raylet, among this namespace's processes only
  local ip=127.0.0.1
  [ "$1" = b ] && ip=127.0.0.2
  for pid in $(ip netns pids "$ns"); do
    if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -Eq "raylet/raylet .*--node_ip_address=$ip( |$)"; then
      echo "$pid"
      return
    fi
  done
}

start() {
  [ -x "$ray" ] || { echo "ray_cluster: $ray missing; run scripts/setup.sh --test" >&2; exit 1; }
  ip netns list | grep -qw "$ns" || ip netns add "$ns"
  in_ns ip link set lo up
  # Already up, and ours: it answers with our token.
  if [ -f "$dir/token" ] &&
    in_ns curl -sf -o /dev/null -H "Authorization: Bearer $(token)" http://127.0.0.1:8265/api/version 2>/dev/null; then
    return 0
  fi
  # What is left of a cluster that lost its head goes first.
  ip netns pids "$ns" | xargs -r kill -KILL 2>/dev/null || true
  rm -rf "$dir" && mkdir -p "$dir/tmp" && chmod 700 "$dir"
  (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$dir/token")
  start_node a
  start_node b
  wait_nodes 2
}

# Only this namespace's processes: `ray stop` would kill every Ray process on the machine, other
# clusters' included.
stop() {
  if ip netns list | grep -qw "$ns"; then
    ip netns pids "$ns" | xargs -r kill -TERM 2>/dev/null || true
    for _ in $(seq 1 50); do
      [ -z "$(ip netns pids "$ns")" ] && break
      sleep 0.2
    done
    ip netns pids "$ns" | xargs -r kill -KILL 2>/dev/null || true
    ip netns del "$ns"
  fi
}

run_in() {
  in_ns env RAY_TEST_ADDRESS=http://127.0.0.1:8265 RAY_TEST_TOKEN_FILE="$dir/token" RAY_TEST_NETNS="$ns" \
    RAY_TEST_CLUSTER="$root/scripts/ray_cluster.sh" "$@"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  exec) shift && run_in "$@" ;;
  run)
    shift
    trap stop EXIT
    start
    run_in "$@"
    ;;
  kill-raylet)
    pid=$(raylet_pid "${2:?node}")
    [ -n "$pid" ] || { echo "ray_cluster: no raylet for node $2" >&2; exit 1; }
    kill -9 "$pid"
    ;;
  start-node) start_node "${2:?node}" ;;
  *) sed -n '2,17p' "$0" >&2 && exit 2 ;;
esac
