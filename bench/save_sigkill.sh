#!/usr/bin/env bash
# bench/save_sigkill.sh [SIGHTGLASS] [SECONDS]: records keep-alive load (wrk -c32 against a
# plain-HTTP nginx, through sightglass in reverse mode with --save and -w), SIGKILLs the proxy
# after SECONDS (default 5) and counts what the session file kept: every flow that the JSON
# Lines log has and that finished more than a second before the kill must be in the session.
# Needs nginx-light and wrk (see ../shared/bench/README.md). Loopback only; cleans up.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$root/build/release/bin/sightglass}
secs=${2:-5}
source "$root/scripts/lib.sh"
scratch_dir sgkill
origin=$(free_port)
proxy=$(free_port)
mkdir -p "$work/www" "$work/logs"
head -c 100 /dev/zero | tr '\0' 'x' >"$work/www/small.txt"
cat >"$work/nginx.conf" <<NGINX
daemon off; worker_processes 1; pid $work/nginx.pid; error_log $work/logs/error.log;
events { worker_connections 1024; }
http { access_log off; keepalive_requests 1000000;
  server { listen 127.0.0.1:$origin; root $work/www; } }
NGINX
nginx -p "$work" -c "$work/nginx.conf" &
pids+=($!)
"$bin" --confdir "$work/conf" --mode "reverse:http://127.0.0.1:$origin" -p "$proxy" -q \
  --save "$work/s.sightglass" -w "$work/flows.jsonl" 2>"$work/proxy.log" &
sg=$!
pids+=($sg)
for _ in $(seq 50); do
  grep -q listening "$work/proxy.log" 2>/dev/null && break
  sleep 0.1
done
wrk -t1 -c32 -d$((secs + 2))s "http://127.0.0.1:$proxy/small.txt" >"$work/wrk.txt" 2>&1 &
pids+=($!)
sleep "$secs"
kill_us=$(date +%s%6N)
kill -9 "$sg"
wait "$sg" 2>/dev/null || true
sleep 3
"$bin" show "$work/s.sightglass" -w "$work/saved.jsonl"
/usr/bin/python3 - "$work/flows.jsonl" "$work/saved.jsonl" "$kill_us" "$secs" <<'PY'
import datetime, json, sys
logged = {}
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    try:
        e = json.loads(line)
    except ValueError:
        continue  # The line being written at the kill.
    logged[e["_id"]] = e
saved = {json.loads(l)["_id"] for l in open(sys.argv[2])}
kill_us = int(sys.argv[3])
def finished_us(e):
    t = datetime.datetime.fromisoformat(e["startedDateTime"].replace("Z", "+00:00"))
    return int(t.timestamp() * 1e6) + int(e["time"] * 1000)
old = [i for i, e in logged.items() if finished_us(e) <= kill_us - 1_000_000]
lost_old = [i for i in old if i not in saved]
lost = [i for i in logged if i not in saved]
secs = float(sys.argv[4])
print(f"flows logged by -w: {len(logged)} ({len(logged) / secs:,.0f} req/s while recording)")
print(f"flows in the session after SIGKILL: {len(saved)}")
print(f"lost: {len(lost)} in all; {len(lost_old)} of the {len(old)} that finished more than 1 s before the kill")
sys.exit(1 if lost_old else 0)
PY
