#!/usr/bin/env bash
# Creates what the miner and its tests need, once: the trainer's venv (.venv) from the pinned
# trainer/requirements.txt and, with --test, the validator-side venv (.venv-bt) for the real
# bittensor SDK, whose pins clash with the trainer's. A stamp of each requirements file's hash
# makes re-runs instant and re-installs when the pins change.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}

ensure_venv() { # dir requirements
  local dir=$1 req=$2 stamp="$1/.requirements.sha256" want
  [ -f "$req" ] || return 0
  want=$(sha256sum "$req" | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
  echo "setup: installing $req into $dir (first run takes a few minutes)" >&2
  [ -x "$dir/bin/python" ] || "$python" -m venv "$dir"
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
  echo "$want" >"$stamp"
}

ensure_venv .venv trainer/requirements.txt
if [ "${1:-}" = "--test" ]; then
  ensure_venv .venv-bt tests/requirements-bt.txt
fi

# chopsticks (the local Subtensor runtime for `local` and the chain tests) is a tool run from Deno's npm
# cache; fetch it once here (~280 MB) rather than inside a test's start-up timeout.
chopsticks_stamp=.venv/.chopsticks-1.5.1
if [ ! -f "$chopsticks_stamp" ]; then
  echo "setup: fetching chopsticks 1.5.1 into Deno's npm cache" >&2
  deno run -A --no-config --no-lock npm:@acala-network/chopsticks@1.5.1 --help >/dev/null
  touch "$chopsticks_stamp"
fi
