#!/usr/bin/env bash
# A page served on this machine to a PNG with headless Chromium (Debian's `chromium`), as the README's
# screenshots were made: scripts/headless_screenshot.sh URL OUT.png [WIDTH] [HEIGHT] [WAIT_MS].
# The flags keep Chromium off the network (this machine's is closed) and out of any profile.
set -euo pipefail
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$(mktemp -d)" --hide-scrollbars --window-size="${3:-1600},${4:-1100}" \
  --virtual-time-budget="${5:-15000}" --screenshot="$2" "$1"
