#!/usr/bin/env bash
# Dense N x N clustering benchmark (issue 5; see tools/bench/README.md): spectral, SNF and
# consensus clustering at pan-cancer size, 1 and 2 ranks, time and peak RSS per rank, with the
# load average before and during every run.
#   bash tools/bench/bench_dense.sh [--n "11000"] [--ranks "1 2"] [--wait-idle 600] [--load-max 0.8]
#                                   [--no-build] [--yield] [RUN ...]
# --n takes one or more N (e.g. "2000 4000"). A RUN is the bench_dense arguments after the mode's
# N, joined by commas: "spectral", "snf,2000,200,1" (F1, F2, T), "consensus,64,20,kmeans",
# "eigh", "spectral,32" (d). Default runs:
#   spectral; eigh; consensus (k-means, 20 reps); snf with T = 0 and T = 1 (2,000 + 200 features).
# SNF with T = 20 at N = 11,000 would take about an hour at one rank, so the script measures T = 0
# and T = 1 (every fusion iteration does the same four N^3 pdgemm products) and prints
# T0 + 20 (T1 - T0) as the T = 20 time; peak memory does not depend on T (every N x N matrix
# is allocated before the first iteration).
# --yield sets OMPI_MCA_mpi_yield_when_idle=1 (as the tests do): a rank waiting for a message
# yields its core instead of spinning, which matters when other work shares the cores (the
# distributed tridiagonal reduction of eigh synchronises a few times per matrix column).
# Before each run it waits (polling every 30 s, at most --wait-idle s) until the 1-minute load
# average is below --load-max, then runs anyway and says so. The load average during a run
# counts the run's own ranks (about 1 or 2): more than that means others competed.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=11000 RANKS="1 2" WAIT=600 LOADMAX=0.8 BUILD=1 YIELD=0 RUNS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --n) N=$2; shift 2 ;;
    --ranks) RANKS=$2; shift 2 ;;
    --wait-idle) WAIT=$2; shift 2 ;;
    --load-max) LOADMAX=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --yield) YIELD=1; shift ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) RUNS+=("$1"); shift ;;
  esac
done
[ ${#RUNS[@]} -gt 0 ] || RUNS=(spectral eigh consensus,64,20,kmeans snf,2000,200,0 snf,2000,200,1)
W=/tmp/ovq-bench-dense
mkdir -p "$W"
if [ "$BUILD" = 1 ]; then bash tools/build.sh >/dev/null; fi
mpicc -O2 -Iinclude -Ibuild/generated tools/bench/bench_dense.c -o "$W/bench_dense" build/libovq.a \
      $(pkg-config --cflags --libs scalapack-openmpi hdf5-openmpi) -lopenblas -lgsl -lz -lm
source tools/env.sh                       # one OpenBLAS / OpenMP thread per rank
export OMPI_MCA_hwloc_base_binding_policy=none
if [ "$YIELD" = 1 ]; then export OMPI_MCA_mpi_yield_when_idle=1; fi

load1() { cut -d' ' -f1 /proc/loadavg; }
below() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }
wait_quiet() {
  local waited=0
  while ! below "$(load1)" "$LOADMAX" && [ "$waited" -lt "$WAIT" ]; do
    sleep 30
    waited=$((waited + 30))
  done
  if below "$(load1)" "$LOADMAX"; then QUIET=yes; else QUIET="no (waited ${WAIT} s)"; fi
}

OUT="$W/results.txt"
echo "# $(date -Is) $(git rev-parse --short HEAD) N=$N ranks=$RANKS runs=${RUNS[*]} yield=$YIELD" >>"$OUT"
for n in $N; do
for run in "${RUNS[@]}"; do
  IFS=, read -r mode rest <<<"$run"
  for np in $RANKS; do
    wait_quiet
    before=$(load1)
    : >"$W/load.log"
    (while sleep 30; do load1 >>"$W/load.log"; done) &
    sampler=$!
    mpirun -np "$np" "$W/bench_dense" "$mode" "$n" ${rest//,/ } >"$W/run.out" || true
    grep -v '^RESULT' "$W/run.out" || true
    line=$(grep '^RESULT' "$W/run.out" || echo "RESULT $mode $n $np FAILED |")
    kill "$sampler" 2>/dev/null || true
    wait "$sampler" 2>/dev/null || true
    echo "$(load1)" >>"$W/load.log"
    during=$(awk '{ s += $1; if ($1 > m) m = $1 } END { printf "%.2f/%.2f", s / NR, m }' "$W/load.log")
    echo "$line args=${rest:-default} load_before=$before load_during_mean/max=$during quiet=${QUIET// /_}" |
      tee -a "$OUT"
  done
done
done

# Summary of this invocation's RESULT lines (the last block of the results file).
awk '
  /^#/ { delete t; delete seen; delete nn; k = 0; next }
  /^RESULT/ {
    key = $2 " N=" $3 " " $(NF - 3) " np=" $4; nn[$3] = 1; t[key] = $5; if (!(key in seen)) { seen[key] = 1; order[++k] = key }
    bar = 0; peak = ""; base = ""
    for (i = 6; i <= NF; i++) {
      if ($i == "|") { bar = 1; continue }
      if ($i ~ /=/) break
      if (bar) base = base " " $i; else peak = peak " " $i
    }
    pk[key] = peak; bs[key] = base; ld[key] = $(NF - 1)
  }
  END {
    printf "\n%-46s %10s  %-22s %-22s %s\n", "run", "seconds", "peak RSS MB/rank", "before call MB", "load during mean/max"
    for (i = 1; i <= k; i++) { key = order[i]; l = ld[key]; sub(/.*=/, "", l)
      printf "%-46s %10.2f  %-22s %-22s %s\n", key, t[key], pk[key], bs[key], l }
    for (n in nn) for (np = 1; np <= 2; np++) {
      a = "snf N=" n " args=2000,200,0 np=" np; b = "snf N=" n " args=2000,200,1 np=" np
      if ((a in t) && (b in t))
        printf "SNF N = %d, T = 20 at %d rank(s), from T = 0 and T = 1: %.1f s + 20 x %.1f s = %.0f s\n",
               n, np, t[a], t[b] - t[a], t[a] + 20 * (t[b] - t[a])
    }
  }' "$OUT"
