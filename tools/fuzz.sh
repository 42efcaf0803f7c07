#!/usr/bin/env bash
# Builds one libFuzzer target (tests/fuzz/fuzz_TARGET.c with the sources it exercises, under ASan
# + UBSan) and runs it from its seed corpus tests/fuzz/corpus_TARGET. Fails if the fuzzer finds a
# crash, a leak, a sanitizer report or a broken invariant; the input that triggered it is kept in
# WORK_DIR (crash-*, leak-*, timeout-*, oom-*); reproduce with `WORK_DIR/fuzz_TARGET FILE`.
#   tools/fuzz.sh TARGET [SECONDS [WORK_DIR]]   defaults: 20 s, build/fuzz_TARGET
#   tools/fuzz.sh [SECONDS [WORK_DIR]]          the old form: TARGET = tsv
# Targets (each file's header comment says what it checks):
#   tsv        delimited text: fields, numbers, string tables, matrices, the gzip line reader
#              (src/io/tsv_parse.c, src/io/tsv.c)
#   config     INI config text and `section.key=value` overrides; ovq_config_to_ini round-trips
#              (src/core/config.c)
#   gmt        GMT gene-set files and the over-representation test on them (src/stats/enrich.c)
#   import     Xena matrices, GDC sample sheets and per-sample files, clinical and labels tables,
#              joined by ovq_import (src/io/import.c; MPI, one process)
#   cohort_h5  small valid cohort and results files with bytes mutated (damaged files), read by
#              ovq_cohort_read, ovq_results_open and their readers (src/io/cohort.c, results.c,
#              h5util.c; MPI + HDF5)
#   h5_schema  HDF5 files with a wrong schema made by a structured generator (missing or extra
#              objects, wrong ranks, shapes, types, attributes, storage), read as above
# ctest runs each for 15-20 s (label `fuzz`); a longer run is the same command with more seconds,
# one target at a time (e.g. tools/fuzz.sh import 300 /tmp/fuzz_import). FUZZ_VERBOSE=1 makes the
# MPI targets print every status they check (what the inputs reach).
# Environment: FUZZ_ARGS = extra libFuzzer flags (e.g. "-jobs=1 -print_final_stats=1").
# The MPI targets run with leak detection off: Open MPI and HDF5 keep allocations until exit, and
# LeakSanitizer cannot stop the world of an MPI singleton (it fails at exit).
# HDF5 1.10.8 itself crashes on some damaged files (not OncoVQ's bugs; found by cohort_h5 with
# unrestricted byte mutations): an out-of-bounds read in H5O_attr_shared_decode (from H5Aexists,
# via H5O__msg_iterate_real; also seen by valgrind in a plain program that only calls H5Aexists),
# multi-GB allocations of sizes read from damaged fields (H5C_protect, H5FL_blk_malloc), and a heap
# over-read in H5Aexists when a string attribute's datatype size exceeds its stored value (found
# by the restricted cohort_h5 in a 5-minute run). So cohort_h5 mutates only dataset shapes, string
# dataset sizes, names and data (see fuzz_cohort_h5.c); h5_schema makes wrong schemas with valid
# HDF5.
# Exits 77 (ctest: skipped) when clang or its libFuzzer runtime is missing
# (Debian: clang-14 libclang-rt-14-dev; tools/setup.sh installs them).
# New inputs the fuzzer finds go to WORK_DIR/corpus, never into the source tree.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=tsv
if [ $# -gt 0 ]; then
  case "$1" in '' | *[!0-9]*) TARGET="$1" && shift ;; esac
fi
SECS="${1:-20}"
WORK="${2:-build/fuzz_$TARGET}"
case "$SECS" in '' | *[!0-9]*) echo "fuzz.sh: SECONDS must be a whole number" >&2; exit 2 ;; esac

# Per target: the sources linked with tests/fuzz/fuzz_TARGET.c, whether it runs MPI (MPI_Init in
# the target; no leak detection) and the longest input the fuzzer makes.
COMMON=(src/core/error.c src/core/partition.c)
TSV=(src/io/tsv_parse.c src/io/tsv.c)
H5=(src/io/cohort.c src/io/results.c src/io/h5util.c)
case "$TARGET" in
  tsv) SRCS=("${TSV[@]}" "${COMMON[@]}") MPI=0 MAXLEN=4096 ;;
  config) SRCS=(src/core/config.c "${COMMON[@]}") MPI=0 MAXLEN=8192 ;;
  gmt) SRCS=(src/stats/enrich.c src/stats/padjust.c "${TSV[@]}" "${COMMON[@]}") MPI=0 MAXLEN=4096 ;;
  import)
    SRCS=(src/io/import.c src/core/config.c src/core/strmap.c "${TSV[@]}" "${H5[@]}" "${COMMON[@]}")
    MPI=1 MAXLEN=8192 ;;
  cohort_h5) SRCS=("${H5[@]}" "${COMMON[@]}") MPI=1 MAXLEN=131072 ;;
  h5_schema) SRCS=("${H5[@]}" "${COMMON[@]}") MPI=1 MAXLEN=512 ;;
  *) echo "fuzz.sh: unknown target '$TARGET' (tsv config gmt import cohort_h5 h5_schema)" >&2; exit 2 ;;
esac
SEEDS="tests/fuzz/corpus_$TARGET"
DICT=()
[ -f "tests/fuzz/$TARGET.dict" ] && DICT=(-dict="tests/fuzz/$TARGET.dict")

CLANG="$(command -v clang-14 || command -v clang || true)"
if [ -z "$CLANG" ]; then
  echo "fuzz.sh: SKIPPED: clang not found (Debian: apt-get install clang-14 libclang-rt-14-dev)"
  exit 77
fi
mkdir -p "$WORK/corpus" "$WORK/generated/ovq"
WORK="$(cd "$WORK" && pwd)"

# Every target is compiled and linked with the MPI and HDF5 flags: even the local parsers share
# files with MPI code (tsv.c's matrix reader, error.c's status agreement and HDF5 error stacks).
read -r -a MPI_CFLAGS <<<"$(mpicc -showme:compile)"
read -r -a MPI_LIBS <<<"$(mpicc -showme:link)"
read -r -a H5_FLAGS <<<"$(pkg-config --cflags --libs hdf5-openmpi)"
# src/io/cohort.c and results.c include the CMake-generated ovq/version.h.
printf '#ifndef OVQ_VERSION_H\n#define OVQ_VERSION_H\n#define OVQ_VERSION "fuzz"\n#define OVQ_GIT_DESCRIBE "fuzz"\n#endif\n' \
  >"$WORK/generated/ovq/version.h"

if ! echo 'int LLVMFuzzerTestOneInput(const char *d, long n) { return 0; }' |
  "$CLANG" -fsanitize=fuzzer -x c - -o "$WORK/probe" 2>/dev/null; then
  echo "fuzz.sh: SKIPPED: $CLANG cannot link libFuzzer (Debian: apt-get install libclang-rt-14-dev)"
  exit 77
fi
rm -f "$WORK/probe"

"$CLANG" -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -fno-omit-frame-pointer -Iinclude -Isrc/io -I"$WORK/generated" "${MPI_CFLAGS[@]}" \
  "tests/fuzz/fuzz_$TARGET.c" "${SRCS[@]}" \
  "${MPI_LIBS[@]}" "${H5_FLAGS[@]}" -lz -lm -o "$WORK/fuzz_$TARGET"

# MPI targets: a singleton MPI process (no mpiexec), Open MPI's own signal handlers off so the
# sanitizers report; scratch files of the targets go to WORK.
if [ "$MPI" = 1 ]; then
  # shellcheck source=tools/env.sh
  source tools/env.sh
  export OMPI_MCA_opal_signal="" OMPI_MCA_mpi_yield_when_idle=1 OMPI_MCA_hwloc_base_binding_policy=none
  ASAN="detect_leaks=0:abort_on_error=1"
else
  ASAN="detect_leaks=1:abort_on_error=1"
fi
rm -rf "$WORK/scratch" && mkdir -p "$WORK/scratch"

echo "fuzz.sh: running fuzz_$TARGET for ${SECS} s (corpus $WORK/corpus + $SEEDS)"
set +e
# One job; a slow input (> 10 s) or > 2 GB of memory counts as a failure.
# shellcheck disable=SC2086
FUZZ_SCRATCH="$WORK/scratch" FUZZ_SEEDS="$PWD/$SEEDS" ASAN_OPTIONS="$ASAN" UBSAN_OPTIONS="print_stacktrace=1" \
  "$WORK/fuzz_$TARGET" "$WORK/corpus" "$SEEDS" "${DICT[@]}" \
  -max_total_time="$SECS" -max_len="$MAXLEN" -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$WORK/" -print_final_stats=1 ${FUZZ_ARGS:-} >"$WORK/fuzz.log" 2>&1
rc=$?
set -e
grep -E '^(#[0-9]+[[:space:]]+DONE|stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb)' \
  "$WORK/fuzz.log" || true
if [ $rc -ne 0 ]; then
  tail -n 60 "$WORK/fuzz.log"
  echo "fuzz.sh: FAILED (exit $rc); the input is in $WORK (crash-*, leak-*, timeout-*, oom-*)" >&2
  exit 1
fi
echo "fuzz.sh: fuzz_$TARGET: no crash in ${SECS} s"
