# Shared by the scripts: paths, the two build configurations and an Xvfb for the GUI scripts.
# Source it; do not run it.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
JOBS=${JOBS:-$(nproc)}

# configure_and_build DIR [CMAKE ARGS...]: a Ninja build in DIR (relative to the root).
configure_and_build() {
  local dir=$1
  shift
  cmake -S "$ROOT" -B "$ROOT/$dir" -G Ninja -Wno-dev "$@" >/dev/null
  cmake --build "$ROOT/$dir" -j "$JOBS"
}

# The release build that scripts/run and scripts/bench use.
build_release() {
  configure_and_build build/release -DCMAKE_BUILD_TYPE=Release -DSIGHTGLASS_BUILD_TESTS=OFF
}

# start_xvfb WIDTHxHEIGHTxDEPTH: starts Xvfb on a display number that it picks itself and writes
# to a pipe once it accepts connections (-displayfd), so that scripts running at once never share
# a server and nothing has to wait for a socket. Exports DISPLAY and sets XVFB_PID (the caller
# kills it when done); returns 1 if Xvfb did not start within 20 s.
start_xvfb() {
  local screen=$1 fifo number=""
  fifo=$(mktemp -u "${TMPDIR:-/tmp}/xvfb-displayfd.XXXXXX")
  mkfifo "$fifo"
  Xvfb -displayfd 3 -screen 0 "$screen" -nolisten tcp 3>"$fifo" >/dev/null 2>&1 &
  XVFB_PID=$!
  read -r -t 20 number <"$fifo" || true
  rm -f "$fifo"
  if [[ ! "$number" =~ ^[0-9]+$ ]]; then
    echo "start_xvfb: Xvfb did not start" >&2
    kill "$XVFB_PID" 2>/dev/null || true
    wait "$XVFB_PID" 2>/dev/null || true
    XVFB_PID=""
    return 1
  fi
  export DISPLAY=":$number"
}

# scratch_dir PREFIX: a new directory in $work for a script's files and the processes it starts
# (the script adds their PIDs to $pids); on exit the processes are stopped and it is removed.
scratch_dir() {
  work=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
  pids=()
  trap remove_scratch EXIT
}
remove_scratch() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}

# free_port prints a TCP port on 127.0.0.1 that nothing listens on now.
free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_tls_origin: an nginx HTTPS origin in $work (after scratch_dir) on a free port, kept in
# $origin: TLS 1.2 and 1.3 with an ECDSA certificate made now, h2, session tickets on. It serves
# small.txt (100 B), 16k.bin (16 KiB) and big.bin (256 MiB, sparse); its PID goes to $pids.
start_tls_origin() {
  origin=$(free_port)
  mkdir -p "$work/www" "$work/logs"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$work/origin.key" -out "$work/origin.crt" 2>/dev/null
  head -c 100 /dev/zero | tr '\0' a >"$work/www/small.txt"
  head -c 16384 /dev/urandom >"$work/www/16k.bin"
  truncate -s 256M "$work/www/big.bin"
  chmod -R a+rX "$work"
  cat >"$work/nginx.conf" <<NGINX
daemon off; worker_processes 1; pid $work/nginx.pid; error_log $work/logs/error.log;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 10000000; sendfile on; types { text/plain txt; }
  client_body_temp_path $work/tmp; proxy_temp_path $work/tmp; fastcgi_temp_path $work/tmp;
  uwsgi_temp_path $work/tmp; scgi_temp_path $work/tmp;
  server { listen 127.0.0.1:$origin ssl http2; root $work/www;
    ssl_certificate $work/origin.crt; ssl_certificate_key $work/origin.key;
    ssl_protocols TLSv1.2 TLSv1.3; } }
NGINX
  nginx -p "$work" -c "$work/nginx.conf" &
  pids+=($!)
  answers "https://127.0.0.1:$origin/small.txt" || {
    echo "start_tls_origin: nginx did not answer on $origin" >&2
    return 1
  }
}

# start_reverse_proxy COMMAND LOG: runs COMMAND (a sightglass binary, possibly behind env; split
# into words) in reverse mode to the $origin of start_tls_origin, on a free port, its output in
# LOG; sets $proxy_port and $proxy_pid (also added to $pids) once it answers.
start_reverse_proxy() {
  proxy_port=$(free_port)
  mkdir -p "$work/conf"
  # shellcheck disable=SC2086  # COMMAND is words on purpose.
  $1 --mode "reverse:https://127.0.0.1:$origin" --listen-host 127.0.0.1 -p "$proxy_port" \
    --ssl-insecure -q --confdir "$work/conf" >"$2" 2>&1 &
  proxy_pid=$!
  pids+=("$proxy_pid")
  answers "https://127.0.0.1:$proxy_port/small.txt" || {
    echo "start_reverse_proxy: $1 did not answer on $proxy_port" >&2
    return 1
  }
}

# answers URL: waits (up to 5 s) until URL answers 2xx; false if it never does.
answers() {
  for _ in $(seq 50); do
    curl -skf "$1" -o /dev/null && return 0
    sleep 0.1
  done
  return 1
}
