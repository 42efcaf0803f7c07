#!/usr/bin/env bash
# Builds the libFuzzer target of the delimited-text parser (tests/fuzz/fuzz_tsv.c with
# src/io/tsv_parse.c, src/io/tsv.c and their helpers, under ASan + UBSan) and runs it from the
# seed corpus tests/fuzz/corpus_tsv. Fails if the fuzzer finds a crash, a leak, a sanitizer
# report or a broken invariant; the input that triggered it is kept in WORK_DIR (crash-*).
#   tools/fuzz.sh [SECONDS [WORK_DIR]]     defaults: 20 s, build/fuzz_tsv
# Exits 77 (ctest: skipped) when clang or its libFuzzer runtime is missing
# (Debian: clang-14 libclang-rt-14-dev; tools/setup.sh installs them).
# New inputs the fuzzer finds go to WORK_DIR/corpus, never into the source tree.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS="${1:-20}"
WORK="${2:-build/fuzz_tsv}"
case "$SECS" in '' | *[!0-9]*) echo "fuzz.sh: SECONDS must be a whole number" >&2; exit 2 ;; esac

CLANG="$(command -v clang-14 || command -v clang || true)"
if [ -z "$CLANG" ]; then
  echo "fuzz.sh: SKIPPED: clang not found (Debian: apt-get install clang-14 libclang-rt-14-dev)"
  exit 77
fi
mkdir -p "$WORK/corpus"
WORK="$(cd "$WORK" && pwd)"

# The fuzzed code makes no MPI or HDF5 call, but tsv.c and error.c contain some (the matrix reader,
# status agreement, HDF5 error stacks): compile and link with their flags.
read -r -a MPI_CFLAGS <<<"$(mpicc -showme:compile)"
read -r -a MPI_LIBS <<<"$(mpicc -showme:link)"
read -r -a H5_FLAGS <<<"$(pkg-config --cflags --libs hdf5-openmpi)"

if ! echo 'int LLVMFuzzerTestOneInput(const char *d, long n) { return 0; }' |
  "$CLANG" -fsanitize=fuzzer -x c - -o "$WORK/probe" 2>/dev/null; then
  echo "fuzz.sh: SKIPPED: $CLANG cannot link libFuzzer (Debian: apt-get install libclang-rt-14-dev)"
  exit 77
fi
rm -f "$WORK/probe"

"$CLANG" -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -fno-omit-frame-pointer -Iinclude -Isrc/io "${MPI_CFLAGS[@]}" \
  tests/fuzz/fuzz_tsv.c src/io/tsv_parse.c src/io/tsv.c src/core/error.c src/core/partition.c \
  "${MPI_LIBS[@]}" "${H5_FLAGS[@]}" -lz -lm -o "$WORK/fuzz_tsv"

echo "fuzz.sh: running fuzz_tsv for ${SECS} s (corpus $WORK/corpus + tests/fuzz/corpus_tsv)"
set +e
# One job; inputs up to 4 kB; a slow input (> 10 s) or > 2 GB of memory counts as a failure.
ASAN_OPTIONS="detect_leaks=1:abort_on_error=1" \
  "$WORK/fuzz_tsv" "$WORK/corpus" tests/fuzz/corpus_tsv -dict=tests/fuzz/tsv.dict \
  -max_total_time="$SECS" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$WORK/" -print_final_stats=1 >"$WORK/fuzz.log" 2>&1
rc=$?
set -e
grep -E '^(#[0-9]+[[:space:]]+DONE|stat::number_of_executed_units|stat::peak_rss_mb)' "$WORK/fuzz.log" || true
if [ $rc -ne 0 ]; then
  tail -n 60 "$WORK/fuzz.log"
  echo "fuzz.sh: FAILED (exit $rc); the input is in $WORK (crash-*, leak-*, timeout-*, oom-*)" >&2
  exit 1
fi
echo "fuzz.sh: no crash in ${SECS} s"
