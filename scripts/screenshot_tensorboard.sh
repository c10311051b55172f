#!/usr/bin/env bash
# Renders the TensorBoard dashboard of a run to a PNG with headless Chromium (Debian's `chromium`).
#   scripts/screenshot_tensorboard.sh RUN_DIR OUT.png [PAGE]
# PAGE is the part of the URL after '#': timeseries (default), scalars, images or hparams.
set -euo pipefail
run_dir=$1
out=$2
page=${3:-timeseries}
port=${PORT:-6123}
bin=$(dirname "$0")/../.venv/bin

"$bin/tensorboard" --logdir "$run_dir" --port "$port" --host 127.0.0.1 >/dev/null 2>&1 &
server=$!
trap 'kill $server' EXIT
"$(dirname "$0")/headless_screenshot.sh" "http://127.0.0.1:$port/#$page" "$out" 1600 1100 15000
