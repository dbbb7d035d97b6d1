#!/usr/bin/env bash
# bench/ab.sh [NAME=COMMAND]...: A/B of proxy builds or settings, interleaved in one run, so that
# the noise of this shared machine hits every variant alike. Each COMMAND is a sightglass
# binary, possibly behind env (e.g. 'two=env SIGHTGLASS_WORKERS=2 build/release/bin/sightglass');
# it runs in reverse mode to a local nginx TLS origin. For each round and each metric, every
# variant is started afresh and measured; a line says the rate and the proxy's CPU per unit.
# Default: the release build with one loop and with two.
#
#   ROUNDS (3)  DUR (3, seconds of wrk/h2load)  METRICS (ka_small ka_16k h2 hs_resume hs_full bulk)
#
# Metrics as in ../shared/bench: wrk -t1 -c32 keep-alive to 100 B and 16 KiB, h2load -c4 -m16,
# a new TLS connection per request with resumption offered or refused (the noresume shim of
# ../shared/bench/lib), curl downloads of 256 MiB (median of 3). Needs nginx-light, wrk,
# nghttp2-client, curl, openssl and cc (see ../shared/bench/README.md). Loopback only; cleans up.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=${ROUNDS:-3}
DUR=${DUR:-3}
METRICS=${METRICS:-ka_small ka_16k h2 hs_resume hs_full bulk}
if [ $# -eq 0 ]; then
  set -- "1loop=env SIGHTGLASS_WORKERS=1 $root/build/release/bin/sightglass" \
    "2loops=env SIGHTGLASS_WORKERS=2 $root/build/release/bin/sightglass"
fi

source "$root/scripts/lib.sh"
scratch_dir sgab
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

start_tls_origin
shim=""
if [ -f "$root/../shared/bench/lib/noresume.c" ]; then
  cc -O2 -shared -fPIC -o "$work/noresume.so" "$root/../shared/bench/lib/noresume.c" -ldl
  shim=$work/noresume.so
fi

# measure NAME COMMAND METRIC: one variant, one metric, a proxy of its own.
measure() {
  local name=$1 command=$2 metric=$3 port pid url pre=() hdr=() t0 t1 value unit
  start_reverse_proxy "$command" "$work/logs/$name.log"
  port=$proxy_port
  pid=$proxy_pid
  url=https://127.0.0.1:$port/small.txt
  case $metric in
    ka_small | ka_16k | hs_resume | hs_full)
      [ "$metric" = ka_16k ] && url=https://127.0.0.1:$port/16k.bin
      if [[ $metric == hs_* ]]; then
        [ -n "$shim" ] || { kill "$pid"; return; }
        hdr=(-H "Connection: close")
        pre=(env LD_PRELOAD="$shim")
        [ "$metric" = hs_resume ] && pre+=(NORESUME_MODE=count)
      fi
      "${pre[@]}" wrk -t1 -c32 -d1s "${hdr[@]}" "$url" >/dev/null
      t0=$(cpu_ticks "$pid")
      value=$("${pre[@]}" wrk -t1 -c32 -d"${DUR}s" "${hdr[@]}" "$url" | awk '/Requests\/sec/{print $2}')
      t1=$(cpu_ticks "$pid") ;;
    h2)
      h2load -t1 -c4 -m16 -D 1 "$url" >/dev/null
      t0=$(cpu_ticks "$pid")
      value=$(h2load -t1 -c4 -m16 -D "$DUR" "$url" | awk '/finished in/{print $4}')
      t1=$(cpu_ticks "$pid") ;;
    bulk)
      t0=$(cpu_ticks "$pid")
      value=$(for _ in 1 2 3; do
        curl -sk --http1.1 -o /dev/null -w '%{speed_download}\n' "https://127.0.0.1:$port/big.bin"
      done | sort -n | sed -n 2p | awk '{printf "%.0f", $1 / 1e6}')
      t1=$(cpu_ticks "$pid") ;;
  esac
  if [ "$metric" = bulk ]; then  # Three downloads of 256 MiB: 0.75 GiB.
    unit=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f s/GiB", (b - a) / 100 / 0.75}')
  else
    unit=$(awk -v a="$t0" -v b="$t1" -v r="$value" -v d="$DUR" \
      'BEGIN {printf "%.1f us/req", (b - a) / 100 / (r * d) * 1e6}')
  fi
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  printf '%-10s %-12s %12s %s\n' "$metric" "$name" "$value" "$unit"
}

printf '%-10s %-12s %12s %s\n' metric variant 'rate' 'proxy CPU'
for round in $(seq "$ROUNDS"); do
  for metric in $METRICS; do
    for spec in "$@"; do
      measure "${spec%%=*}" "${spec#*=}" "$metric"
    done
  done
done
