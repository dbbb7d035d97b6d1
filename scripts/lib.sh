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
