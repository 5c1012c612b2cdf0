#!/usr/bin/env bash
# The browser check of `edgedigits serve`: serve a generated video of a page, open / in headless Chromium
# (Debian's `chromium` package), and save a screenshot of what a person would see.
#
#   scripts/serve_screenshot.sh [OUT.png]        # default: serve-screenshot.png
#
# Needs models/ (make train export) and chromium (apt-get install chromium). Takes about 20 s.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-serve-screenshot.png}
PORT=${PORT:-8765}
BIN=${BIN:-.venv/bin}
work=$(mktemp -d)
cleanup() { [[ -n ${server:-} ]] && kill "$server" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# A 60-second video of the "2017" sample, so the page shows a live stream while the browser looks.
"$BIN/python" - "$work/page.avi" <<'PY'
import sys, cv2
page = cv2.imread("samples/2017.jpg")
writer = cv2.VideoWriter(sys.argv[1], cv2.VideoWriter_fourcc(*"MJPG"), 25, (page.shape[1], page.shape[0]))
for _ in range(25 * 60):
    writer.write(page)
writer.release()
PY
"$BIN/edgedigits" serve "$work/page.avi" --port "$PORT" 2>"$work/serve.log" &
server=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.2; done
sleep 2  # a few frames, and the page's first polls
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1000,800 \
    --virtual-time-budget=3000 --screenshot="$work/shot.png" "http://127.0.0.1:$PORT/" 2>"$work/chromium.log"
mv "$work/shot.png" "$OUT"
echo "wrote $OUT; /health: $(curl -s "http://127.0.0.1:$PORT/health")"
