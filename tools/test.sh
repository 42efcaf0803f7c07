#!/usr/bin/env bash
# The whole test suite from a fresh clone: install what is missing, build with warnings as
# errors, run ctest. SANITIZE=1 builds with ASan + UBSan into build-asan instead.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
if [ "${SANITIZE:-0}" = 1 ]; then
  export BUILD_DIR=build-asan
  bash tools/build.sh -DOVQ_WERROR=ON -DOVQ_SANITIZE=ON
  # Open MPI's own allocations are reported as leaks at exit; our leaks are checked elsewhere.
  export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1"
else
  export BUILD_DIR=build
  bash tools/build.sh -DOVQ_WERROR=ON
fi
cd "$BUILD_DIR"
ctest --output-on-failure -j "$(nproc)" "$@"
