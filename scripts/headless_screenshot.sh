#!/usr/bin/env bash
# A page served on this machine to a PNG with headless Chromium (Debian's `chromium`), as the README's
# screenshots were made: scripts/headless_screenshot.sh URL OUT.png [WIDTH] [HEIGHT] [WAIT_MS].
# It waits (up to a minute) for the server to answer first. The flags keep Chromium off the network (this
# machine's is closed) and out of any profile.
set -euo pipefail
server=$(printf '%s' "$1" | sed -E 's#^(https?://[^/]+).*#\1/#')
for _ in $(seq 120); do
  curl -sf "$server" >/dev/null && break
  sleep 0.5
done
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$(mktemp -d)" --hide-scrollbars --window-size="${3:-1600},${4:-1100}" \
  --virtual-time-budget="${5:-15000}" --screenshot="$2" "$1"
