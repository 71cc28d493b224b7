#!/usr/bin/env bash
# Creates what the miner and its tests need, once: the trainer's venv (.venv) from the pinned
# trainer/requirements.txt and, with --test, the validator-side venvs for the real bittensor SDK, whose
# pins clash with the trainer's: .venv-bt (10.x, the synapse protocol) and .venv-bt11 (11.x, btauth/1).
# --ray (implied by --test) creates .venv-ray, the Ray cluster's (`deno task local --ray`, test:ray).
# A stamp of each requirements file's hash makes re-runs instant and re-installs when the pins change.
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
  ensure_venv .venv-bt11 tests/requirements-bt11.txt
fi
if [ "${1:-}" = "--test" ] || [ "${1:-}" = "--ray" ]; then
  ensure_venv .venv-ray tests/requirements-ray.txt
fi

# System packages the tests drive as real parts, pinned to Debian 12's versions where the archive still
# has them (a point release or a security update replaces old versions; then the current one is taken):
# Prometheus (scrapes the status server; promtool lints its exposition) and Chromium (opens the dashboard).
# One apt-get line for every system package the tests need: add yours to apt_packages.
if [ "${1:-}" = "--test" ]; then
  apt_packages=("prometheus=2.42.0+ds-5+deb12u1" "chromium=156.0.8078.108-1~deb12u1")
  missing=()
  for p in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "${p%%=*}" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
      echo "setup: the tests need Debian packages: sudo apt-get install ${missing[*]%%=*}" >&2
      exit 1
    fi
    echo "setup: installing ${missing[*]} (apt-get, a few minutes)" >&2
    apt-get update -qq
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq "${missing[@]}" >/dev/null ||
      { echo "setup: pinned versions gone from the archive; installing the current ones" >&2 &&
        apt-get install -y -qq "${missing[@]%%=*}" >/dev/null; }
  fi
fi

# chopsticks (the local Subtensor runtime for `local` and the chain tests) is a tool run from Deno's npm
# cache; fetch it once here (~280 MB) rather than inside a test's start-up timeout.
chopsticks_stamp=.venv/.chopsticks-1.5.1
if [ ! -f "$chopsticks_stamp" ]; then
  echo "setup: fetching chopsticks 1.5.1 into Deno's npm cache" >&2
  deno run -A --no-config --no-lock npm:@acala-network/chopsticks@1.5.1 --help >/dev/null
  touch "$chopsticks_stamp"
fi

# pm2, the process manager the subnet's instructions run miners with, for tests/pm2_test.ts: pinned, and
# installed into .tools/ (not globally) so the tests never touch the machine's own pm2.
if [ "${1:-}" = "--test" ]; then
  pm2_version=7.0.4
  if [ "$(cat .tools/.pm2-version 2>/dev/null)" != "$pm2_version" ] || [ ! -x .tools/node_modules/.bin/pm2 ]; then
    echo "setup: installing pm2 $pm2_version into .tools" >&2
    npm install --prefix .tools --no-audit --no-fund --loglevel=error "pm2@$pm2_version" >/dev/null
    echo "$pm2_version" >.tools/.pm2-version
  fi
fi
