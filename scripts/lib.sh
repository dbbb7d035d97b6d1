# Shared by the scripts: paths and the two build configurations. Source it; do not run it.
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
