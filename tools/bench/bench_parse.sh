#!/usr/bin/env bash
# Parse benchmark of the delimited-text reader (ovq_tsv_read_matrix, include/ovq/tsv.h) on a
# pan-cancer-sized expression matrix: Xena layout, 20,531 genes as rows x ~11,000 samples as
# columns, values with 4 decimals (what `oncovq synth --format tsv` writes), about 1.6 GB of text.
#   1. the plain file at 1 rank (+ peers on the same text: read(2), memchr newline count, strtof
#      per field, ovq_parse_value per field, the reader's own parse without I/O and MPI)
#   2. the plain file at 2 ranks
#   3. the .gz file (gzip -6) at 1 and 2 ranks (rank 0 inflates, then the ranks parse)
# and `wc -l` on the plain file as the shell's bandwidth reference. Figures are MB/s of text
# (1 MB = 10^6 bytes; the decompressed size for .gz), total and per core.
#
#   bash tools/bench/bench_parse.sh [--scale X] [--genes G] [--reps R] [--no-gz] [--wait-idle S]
#
#   --scale X      synth scale (default 2.2: 11,000 samples over the 10 built-in cancer types)
#   --genes G      genes (default 20531, as in the TCGA pan-cancer RSEM matrix)
#   --reps R       timed reads per configuration, best and median reported (default 3; 1 for .gz)
#   --no-gz        skip the .gz part (making the .gz takes about a minute, once)
#   --wait-idle S  before each part wait up to S s (default 300) for other processes to leave the
#                  CPU; a warning is printed when they competed during a part
#
# Environment: OVQ_BENCH_BUILD (default /tmp/ovq-bench-parse/build, Release, built incrementally:
# the library, and oncovq when the data must be made), OVQ_BENCH_DATA (default /tmp/ovq-bench-parse;
# the generated files are kept there for reruns: delete the directory to reclaim ~2.2 GB),
# ONCOVQ (an oncovq binary to generate the data with, instead of building one).
# Never writes into the source tree. Exit status: 0 when every run completed, 1 when a build or
# a run failed, 2 on a usage error.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SCALE=2.2
GENES=20531
REPS=3
GZ=1
WAIT_IDLE=300
while [ $# -gt 0 ]; do
  case "$1" in
    --scale) SCALE="${2:?--scale needs a number}"; shift 2 ;;
    --genes) GENES="${2:?--genes needs a number}"; shift 2 ;;
    --reps) REPS="${2:?--reps needs a number}"; shift 2 ;;
    --no-gz) GZ=0; shift ;;
    --wait-idle) WAIT_IDLE="${2:?--wait-idle needs seconds}"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench_parse.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
for v in "$GENES" "$REPS" "$WAIT_IDLE"; do
  case "$v" in '' | *[!0-9]*) echo "bench_parse.sh: --genes, --reps, --wait-idle take whole numbers" >&2; exit 2 ;; esac
done

# shellcheck source=../env.sh
source "$ROOT/tools/env.sh"
NCPU="$(getconf _NPROCESSORS_ONLN)"
BUILD="${OVQ_BENCH_BUILD:-/tmp/ovq-bench-parse/build}"
DATA="${OVQ_BENCH_DATA:-/tmp/ovq-bench-parse}"
STEM="$DATA/pan_s${SCALE}_g${GENES}"
TSV="${STEM}_mrna.tsv"
WORK="$(mktemp -d /tmp/ovq-bench-parse-run.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
trap 'pkill -TERM -P $$ 2>/dev/null; exit 130' INT TERM

say() { printf '\n== %s\n' "$*"; }
die() { echo "bench_parse.sh: $*" >&2; exit 1; }

# Quiet-machine accounting (as in bench_train.sh): "busy total" jiffies of all cores.
stat_now() {
  local c
  read -r -a c < <(grep '^cpu ' /proc/stat)
  local busy=$((c[1] + c[2] + c[3] + c[6] + c[7] + c[8]))
  echo "$busy $((busy + c[4] + c[5]))"
}
cores_busy() {
  awk -v a="$1" -v b="$2" -v n="$NCPU" \
    'BEGIN { split(a, x, " "); split(b, y, " "); t = y[2] - x[2]
             printf "%.2f", (t > 0 ? n * (y[1] - x[1]) / t : 0) }'
}
begin_run() {
  local waited=0 s0
  s0="$(stat_now)"; sleep 1; BUSY_BEFORE="$(cores_busy "$s0" "$(stat_now)")"
  while awk -v b="$BUSY_BEFORE" 'BEGIN { exit !(b >= 0.15) }' && [ "$waited" -lt "$WAIT_IDLE" ]; do
    [ "$waited" -eq 0 ] && echo "the machine is busy ($BUSY_BEFORE cores in use); waiting up to $WAIT_IDLE s"
    sleep 4
    waited=$((waited + 5))
    s0="$(stat_now)"; sleep 1; BUSY_BEFORE="$(cores_busy "$s0" "$(stat_now)")"
  done
  RUN_PHASE="$1"
  RUN_STAT="$(stat_now)"
}
end_run() { # end_run OURS: cores this part itself keeps busy
  local during
  during="$(cores_busy "$RUN_STAT" "$(stat_now)")"
  echo "machine load: $BUSY_BEFORE cores busy before, $during during (this part uses $1)"
  if awk -v d="$during" -v o="$1" -v b="$BUSY_BEFORE" 'BEGIN { exit !(d > o + 0.15 || b >= 0.15) }'; then
    echo "WARNING: other processes competed for the CPU during the $RUN_PHASE part; rerun on a quiet machine"
    COMPETED="$COMPETED $RUN_PHASE"
  fi
}
COMPETED=""

say "machine"
echo "$(uname -srm); $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); $NCPU cores"

say "build (Release) in $BUILD"
if [ ! -f "$BUILD/CMakeCache.txt" ] \
  || ! grep -q '^CMAKE_BUILD_TYPE:STRING=Release$' "$BUILD/CMakeCache.txt"; then
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >"$WORK/cmake.log" 2>&1 \
    || { cat "$WORK/cmake.log"; die "cmake configure failed"; }
fi
cmake --build "$BUILD" -j "$NCPU" --target ovq >"$WORK/build.log" 2>&1 \
  || { tail -n 40 "$WORK/build.log"; die "build of the library failed"; }
HDF5_FLAGS="$(pkg-config --cflags --libs hdf5-openmpi 2>/dev/null || echo -lhdf5)"
# shellcheck disable=SC2086
mpicc -O2 -I"$ROOT/include" -I"$ROOT/src/io" "$ROOT/tools/bench/bench_parse.c" \
  -o "$WORK/bench_parse" "$BUILD/libovq.a" $HDF5_FLAGS -lz -lm \
  || die "cannot compile tools/bench/bench_parse.c"

if [ ! -f "$TSV" ]; then
  OVQ="${ONCOVQ:-}"
  if [ -z "$OVQ" ]; then
    cmake --build "$BUILD" -j "$NCPU" --target oncovq >>"$WORK/build.log" 2>&1 \
      || { tail -n 40 "$WORK/build.log"; die "build of oncovq failed (set ONCOVQ=path/to/oncovq)"; }
    OVQ="$BUILD/oncovq"
  fi
  say "making the matrix $TSV (oncovq synth --format tsv, scale $SCALE, $GENES genes)"
  mkdir -p "$DATA"
  mpirun -np 2 "$OVQ" synth --out "$STEM.h5" --scale "$SCALE" --genes "$GENES" --mirnas 0 \
    --format tsv >"$WORK/synth.log" 2>&1 || { cat "$WORK/synth.log"; die "synth failed"; }
  rm -f "$STEM.h5"
fi
if [ "$GZ" = 1 ] && [ ! -f "$TSV.gz" ]; then
  say "compressing it (gzip -6, once)"
  gzip -6 -c "$TSV" >"$TSV.gz.part" && mv "$TSV.gz.part" "$TSV.gz"
fi
for f in "$TSV" "$TSV.gz"; do
  [ -f "$f" ] && stat -c '%n %s' "$f" | awk '{ printf "%s  %.1f MB\n", $1, $2 / 1e6 }'
done
cat "$TSV" >/dev/null # into the page cache: the benchmark measures parsing, not the disk

say "shell reference: wc -l"
begin_run wc
t0=$(date +%s.%N); wc -l <"$TSV" >/dev/null; t1=$(date +%s.%N)
awk -v a="$t0" -v b="$t1" -v n="$(stat -c %s "$TSV")" 'BEGIN { printf "wc -l: %.3f s, %.1f MB/s\n", b - a, n / 1e6 / (b - a) }' | tee "$WORK/wc.txt"
end_run 1

say "1. plain file, 1 rank (+ peers on rank 0)"
begin_run plain1
mpirun -np 1 "$WORK/bench_parse" "$TSV" --reps "$REPS" --peers | tee "$WORK/p1.txt"
end_run 1
say "2. plain file, 2 ranks"
begin_run plain2
mpirun -np 2 "$WORK/bench_parse" "$TSV" --reps "$REPS" | tee "$WORK/p2.txt"
end_run 2
if [ "$GZ" = 1 ]; then
  GZREPS=$(( REPS > 1 ? 2 : 1 ))
  say "3. .gz file, 1 and 2 ranks"
  begin_run gz1
  mpirun -np 1 "$WORK/bench_parse" "$TSV.gz" --reps "$GZREPS" --peers | tee "$WORK/g1.txt"
  end_run 1
  begin_run gz2
  mpirun -np 2 "$WORK/bench_parse" "$TSV.gz" --reps "$GZREPS" | tee "$WORK/g2.txt"
  end_run 2
fi

say "summary (MB/s of text; per core = total / ranks)"
field() { sed -n "s|.*$2=\([0-9.]*\).*|\1|p" "$1" | head -1; }
peer() { awk -v k="$2" '$1 == "peer" && $2 == k { print $5 }' "$1"; }
printf '%-34s %10s %12s\n' "run" "MB/s" "MB/s/core"
for f in p1 p2 g1 g2; do
  [ -f "$WORK/$f.txt" ] || continue
  case $f in p*) kind=plain ;; *) kind=gzip ;; esac
  printf '%-34s %10s %12s\n' "ovq_tsv_read_matrix, $kind, $(field "$WORK/$f.txt" ranks) rank(s)" \
    "$(field "$WORK/$f.txt" MB/s)" "$(field "$WORK/$f.txt" MB/s/core)"
done
for k in read memchr strtof value rows; do
  printf '%-34s %10s %12s\n' "peer $k (1 core)" "$(peer "$WORK/p1.txt" $k)" "$(peer "$WORK/p1.txt" $k)"
done
[ -f "$WORK/g1.txt" ] && printf '%-34s %10s %12s\n' "peer zlib inflate (1 core)" "$(peer "$WORK/g1.txt" read)" "$(peer "$WORK/g1.txt" read)"
printf '%-34s %10s %12s\n' "wc -l (1 core)" "$(awk '{ print $5 }' "$WORK/wc.txt")" "$(awk '{ print $5 }' "$WORK/wc.txt")"
p1=$(field "$WORK/p1.txt" MB/s/core); p2=$(field "$WORK/p2.txt" MB/s/core)
awk -v a="$p1" -v b="$p2" -v s="$(peer "$WORK/p1.txt" strtof)" 'BEGIN {
  printf "\ntarget >= 200 MB/s per core: 1 rank %.0f, 2 ranks %.0f -> %s\n", a, b, (a >= 200 && b >= 200) ? "met" : "MISSED"
  printf "2 ranks / 1 rank: %.2fx; 1 rank / plain strtof: %.2fx\n", 2 * b / a, a / s }'
if [ -n "$COMPETED" ]; then
  echo "WARNING: other processes competed during:$COMPETED (figures there are low)"
fi
