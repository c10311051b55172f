#!/usr/bin/env bash
# Renders a page of the MLflow UI to a PNG with headless Chromium (Debian's `chromium`), for the README.
# HEIGHT: the window's height (1000); the README's was made with HEIGHT=1350.
#   scripts/screenshot_mlflow.sh ROOT OUT.png [PAGE]
# ROOT: the directory litmlp ran in (its logs/mlflow/mlflow.db is read); PAGE: the part of the URL after
# '#/' (default: experiments/1/runs, the first experiment's runs). The UI comes from `make mlflow-ui`'s
# environment (.venv-mlflow), or MLFLOW_BIN.
set -euo pipefail
root=$(cd "$1" && pwd)
out=$2
page=${3:-experiments/1/runs}
port=${PORT:-5123}
mlflow=${MLFLOW_BIN:-$(dirname "$0")/../.venv-mlflow/bin/mlflow}

"$mlflow" server --host 127.0.0.1 --port "$port" --workers 1 \
  --backend-store-uri "sqlite:///$root/logs/mlflow/mlflow.db" >/dev/null 2>&1 &
server=$!
trap 'kill $server' EXIT
"$(dirname "$0")/headless_screenshot.sh" "http://127.0.0.1:$port/#/$page" "$out" 1600 "${HEIGHT:-1000}" 40000
