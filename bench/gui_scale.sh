#!/usr/bin/env bash
# bench/gui_scale.sh [BUILD_DIR]: the inspector at scale (issue 12), measured with its own
# --stats under Xvfb (llvmpipe) at 1280x800, driven with xdotool:
#   open   a 1,000,000-flow session (bench/make_session), then scroll it: PageDown x300,
#          the mouse wheel x300, End, Home
#   filter the same session, typing a filter one key at a time, then changing it
#   live   the proxy in reverse mode before nginx while wrk sends about 2,000 requests/s for
#          10 s: frame times, and how long after each flow started it was on screen
# Each run prints the GUI's --stats lines (frames/s, frame percentiles, flows read, RSS).
# Needs xvfb, xdotool (scripts/install-deps), nginx-light and wrk (installed when missing).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
source "$ROOT/scripts/lib.sh"
BUILD="${1:-$ROOT/build/release}"
GUI="$BUILD/bin/sightglass-gui"
MAKE_SESSION="$BUILD/bin/make_session"
FLOWS="${FLOWS:-1000000}"
for tool in nginx wrk; do
  if ! command -v "$tool" >/dev/null; then
    apt-get install -y -qq nginx-light wrk >/dev/null
  fi
done

scratch_dir sggui
export SIGHTGLASS_CONFDIR="$work/conf"

start_xvfb 1280x800x24
pids+=("$XVFB_PID")

session="$work/million.sightglass"
echo "== writing a session of $FLOWS flows"
"$MAKE_SESSION" "$FLOWS" "$session"
cat "$session" >/dev/null  # In the page cache, as after a capture.

# gui ARGS...: starts the GUI in the background; its stderr goes to $work/gui.log.
gui() {
  "$GUI" "$@" 2>"$work/gui.log" &
  gui_pid=$!
  pids+=("$gui_pid")
  window=$(xdotool search --sync --onlyvisible --name Sightglass | head -1)
}
# finish: SIGTERM, wait, print the stats.
finish() {
  kill -TERM "$gui_pid"
  wait "$gui_pid" || echo "(exit code $?)"
  grep '^sightglass-gui:' "$work/gui.log" | sed 's/^/  /'
}

echo "== open and scroll"
gui -n -r "$session" --stats
sleep 5  # Read and shown (the stats say when).
xdotool mousemove --window "$window" 640 300
xdotool key --window "$window" --delay 15 --repeat 300 Page_Down
xdotool click --delay 15 --repeat 300 5
xdotool key --window "$window" End
sleep 0.3
xdotool key --window "$window" Home
sleep 0.5
finish

echo "== filter as it is typed"
gui -n -r "$session" --stats
sleep 5
xdotool key --window "$window" ctrl+f
xdotool type --window "$window" --delay 120 '~d example.org & ~c 404'
sleep 1.5
xdotool key --window "$window" --delay 120 BackSpace BackSpace BackSpace 5 0 0
sleep 1.5
xdotool key --window "$window" ctrl+a BackSpace
sleep 1.5
finish

echo "== live: about 2,000 flows/s for 10 s"
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$work/nginx"
cat >"$work/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events {}
http {
  access_log off;
  server {
    listen 127.0.0.1:$port;
    location / { default_type application/json; return 200 '{"ok":true}'; }
  }
}
EOF
nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" &
pids+=($!)
gui -p 0 --mode "reverse:http://127.0.0.1:$port" --stats -q
proxy=$(sed -n 's/^sightglass: listening on \([0-9.:]*\).*/\1/p' "$work/gui.log" | head -1)
cat >"$work/rate.lua" <<'EOF'
-- Each connection waits 2 ms between requests: with 6 connections, about 2,000 requests/s.
function delay() return 2 end
EOF
wrk -t1 -c6 -d10s -s "$work/rate.lua" "http://$proxy/api/items" | grep -E 'Requests/sec|requests in'
sleep 1
finish
