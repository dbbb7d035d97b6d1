#!/usr/bin/env bash
# bench/profile.sh [SIGHTGLASS] [OUT]: where the proxy's time goes on its four hot paths, as
# flame graphs. The proxy runs in reverse mode to a local nginx TLS origin while a client loads
# it; `perf record -g` samples it for a few seconds of each load:
#   keepalive   wrk -t1 -c32 to 100 B        ka16k   wrk -t1 -c32 to 16 KiB
#   h2          h2load -t1 -c4 -m16 to 100 B bulk    curl downloads of 256 MiB
# OUT (default /tmp/sightglass-profile-<time>) gets, per load, NAME.svg (bench/flamegraph.py),
# NAME.txt (the shares by library and the top functions) and the client's numbers. Frames are
# only whole when SIGHTGLASS keeps frame pointers: without one, a Release build with
# -fno-omit-frame-pointer is made in build/prof. Needs linux-perf, nginx-light, wrk,
# nghttp2-client and curl; run as root (or with perf_event_paranoid <= 1). Loopback only.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/lib.sh"
bin=${1:-}
out=${2:-${TMPDIR:-/tmp}/sightglass-profile-$(date +%Y%m%d-%H%M%S)}
if [ -z "$bin" ]; then
  configure_and_build build/prof -DCMAKE_BUILD_TYPE=Release -DSIGHTGLASS_BUILD_TESTS=OFF \
    -DCMAKE_CXX_FLAGS="-fno-omit-frame-pointer" -DCMAKE_C_FLAGS="-fno-omit-frame-pointer" \
    >/dev/null
  bin=$root/build/prof/bin/sightglass
fi
mkdir -p "$out"
scratch_dir sgprof
start_tls_origin
start_reverse_proxy "$bin" "$work/logs/proxy.log"
proxy=$proxy_pid
url=https://127.0.0.1:$proxy_port

# load NAME: runs the client of NAME once; its output goes to stdout.
load() {
  case $1 in
    keepalive) wrk -t1 -c32 -d"${2}s" "$url/small.txt" ;;
    ka16k) wrk -t1 -c32 -d"${2}s" "$url/16k.bin" ;;
    h2) h2load -t1 -c4 -m16 -D "$2" "$url/small.txt" | grep -E 'finished in|requests:' ;;
    bulk)
      local end=$((SECONDS + $2))
      while [ "$SECONDS" -lt "$end" ]; do
        curl -sk --http1.1 -o /dev/null -w '%{speed_download} B/s\n' "$url/big.bin"
      done ;;
  esac
}

for name in ${LOADS:-keepalive ka16k h2 bulk}; do
  load "$name" 1 >/dev/null  # Warm: connections, sessions, leaves.
  perf record -F 2000 -g -p "$proxy" -o "$work/$name.data" -- sleep 4 >/dev/null 2>&1 &
  recorder=$!
  load "$name" 4 >"$out/$name.client.txt"
  wait "$recorder"
  perf script -i "$work/$name.data" -F ip,sym,dso 2>/dev/null |
    /usr/bin/python3 "$root/bench/flamegraph.py" "sightglass, $name" >"$out/$name.svg"
  {
    perf report -i "$work/$name.data" --no-children --sort dso -g none --stdio 2>/dev/null |
      grep -v '^#' | grep -v '^$' | head -8 || true
    echo
    perf report -i "$work/$name.data" --no-children --sort dso,sym -g none --stdio 2>/dev/null |
      grep -v '^#' | grep -v '^$' | head -30 || true
  } >"$out/$name.txt"
  echo "$name: $out/$name.svg; $(grep -m1 -E 'Requests/sec|finished in|B/s' "$out/$name.client.txt")"
done
