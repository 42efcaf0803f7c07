#!/usr/bin/env bash
# Training benchmark of issue 3 ("Performance"). In one session on one machine:
#   1. OpenBLAS sgemm, 1 thread, at the model's GEMM shapes (the peak), the whole step's GEMMs,
#      and one optimiser pass over the parameters (memory bandwidth)      tools/bench/bench_sgemm.c
#   2. a rank's share of the step at 2 ranks (the features split: the model on F/2 features at the
#      full batch), one copy per core at once
#   3. the allreduce of the gradient slab at 2 ranks (what data-parallel training across nodes pays) (and a shared-memory reduce, for comparison)
#   4. the same VQ-VAE in PyTorch, 1 thread                         tools/bench/bench_train_torch.py
#   5, 6. `oncovq train` at 1 and 2 ranks, one BLAS thread each
# on the BRCA-sized synthetic cohort (N = 1100, F = 21800, batch 256); then a table of epoch time,
# samples/s, GFLOP/s against the measured peak, peak memory per rank, the epoch times the measured
# kernels add up to, and the targets of the issue.
#
#   bash tools/bench/bench_train.sh [--epochs E] [--keep] [--wait-idle S]
#
#   --epochs E     timed epochs per training run, after one warm-up epoch (default 3; the whole
#                  benchmark then takes about 5 minutes on a quiet 2-core machine)
#   --keep         keep the work directory (logs, results files) instead of deleting it
#   --wait-idle S  before each part, wait up to S seconds (default 300) for other processes to
#                  stop using the CPU; the table reports how busy the machine was
#
# Environment: OVQ_BENCH_BUILD (build directory, default /tmp/ovq-bench/build; configured as
# Release and built incrementally), OVQ_BENCH_COHORT (default /tmp/ovq-bench/brca.h5; made with
# `oncovq synth --cancers BRCA` if missing), PYTHON_TORCH (default /usr/bin/python3, Debian's
# python3-torch). Exit status: 0 when every run completed (whether or not the targets are met),
# 1 when a build or a run failed, 2 on a usage error.
#
# Timing: each training run's epochs 2..E+1 are timed and the median is used; oncovq's per-epoch
# seconds come from its results file (/models/vqvae/history/seconds, rank 0; every step ends in
# an allreduce, so the ranks are in step). An epoch covers the gather of the batch rows, forward,
# backward, allreduce and Adam; not the end-of-epoch checkpoint or the final embedding. (The
# samples/s in oncovq's log is cumulative since the start of training, epoch 1 included.) Peak
# memory is each process's maximum resident set (ru_maxrss) over its whole run.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BENCH="$ROOT/tools/bench"
EPOCHS=3
KEEP=0
WAIT_IDLE=300
while [ $# -gt 0 ]; do
  case "$1" in
    --epochs) EPOCHS="${2:?--epochs needs a number}"; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --wait-idle) WAIT_IDLE="${2:?--wait-idle needs seconds}"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench_train.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case "$EPOCHS" in
  '' | *[!0-9]* | 0) echo "bench_train.sh: --epochs must be a positive integer" >&2; exit 2 ;;
esac
case "$WAIT_IDLE" in
  '' | *[!0-9]*) echo "bench_train.sh: --wait-idle must be a number of seconds" >&2; exit 2 ;;
esac

# shellcheck source=../env.sh
source "$ROOT/tools/env.sh"
# The same thread count everywhere: one BLAS / OpenMP thread per process, whatever the caller set.
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

# All online CPUs (GNU nproc would honour the OMP_NUM_THREADS=1 just set).
NCPU="$(getconf _NPROCESSORS_ONLN)"
BUILD="${OVQ_BENCH_BUILD:-/tmp/ovq-bench/build}"
COHORT="${OVQ_BENCH_COHORT:-/tmp/ovq-bench/brca.h5}"
PY="${PYTHON_TORCH:-/usr/bin/python3}"
WORK="$(mktemp -d /tmp/ovq-bench-run.XXXXXX)"
cleanup() { if [ "$KEEP" = 1 ]; then echo "work directory kept: $WORK"; else rm -rf "$WORK"; fi; }
trap cleanup EXIT
# Interrupted: stop the run in progress (this script's own children), then clean up.
trap 'pkill -TERM -P $$ 2>/dev/null; exit 130' INT TERM

say() { printf '\n== %s\n' "$*"; }
die() { echo "bench_train.sh: $*" >&2; exit 1; }

# A benchmark on a shared machine measures the neighbours too, so each run starts when the CPU is
# quiet (or after WAIT_IDLE seconds) and the table reports how busy the machine was before and
# during each run. stat_now: "busy total" jiffies of all cores (/proc/stat).
stat_now() {
  local c
  read -ra c </proc/stat
  local busy=$((c[1] + c[2] + c[3] + c[6] + c[7] + c[8]))
  echo "$busy $((busy + c[4] + c[5]))"
}
# cores_busy "B0 T0" "B1 T1": the average number of cores in use between two stat_now samples.
cores_busy() {
  awk -v a="$1" -v b="$2" -v n="$NCPU" \
    'BEGIN { split(a, x, " "); split(b, y, " "); t = y[2] - x[2]
             printf "%.2f", (t > 0 ? n * (y[1] - x[1]) / t : 0) }'
}
# begin_run PHASE: waits for < 0.15 busy cores (at most WAIT_IDLE s), then starts the accounting.
begin_run() {
  local waited=0 s0
  s0="$(stat_now)"; sleep 1; BUSY_BEFORE="$(cores_busy "$s0" "$(stat_now)")"
  while awk -v b="$BUSY_BEFORE" 'BEGIN { exit !(b >= 0.15) }' && [ "$waited" -lt "$WAIT_IDLE" ]; do
    if [ "$waited" -eq 0 ]; then
      echo "the machine is busy ($BUSY_BEFORE cores in use by others); waiting up to $WAIT_IDLE s"
    fi
    sleep 4
    waited=$((waited + 5))
    s0="$(stat_now)"; sleep 1; BUSY_BEFORE="$(cores_busy "$s0" "$(stat_now)")"
  done
  if awk -v b="$BUSY_BEFORE" 'BEGIN { exit !(b >= 0.15) }'; then
    echo "WARNING: $BUSY_BEFORE cores in use by other processes at the start of the $1 run"
  fi
  RUN_PHASE="$1"
  RUN_STAT="$(stat_now)"
}
# end_run OURS: records the cores busy during the run next to the OURS cores the run itself uses.
end_run() {
  local during
  during="$(cores_busy "$RUN_STAT" "$(stat_now)")"
  echo "$RUN_PHASE $BUSY_BEFORE $during $1" >>"$WORK/quiet.txt"
  if awk -v d="$during" -v o="$1" 'BEGIN { exit !(d > o + 0.15) }'; then
    echo "WARNING: $during cores busy on average during the $RUN_PHASE run, which uses $1: other"
    echo "processes competed for the CPU; rerun on a quiet machine for trustworthy numbers"
  fi
}

say "machine"
echo "$(uname -srm); $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); $NCPU cores"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- build --------------------------------------------------------------------------------------
say "build (Release) in $BUILD"
if [ ! -f "$BUILD/CMakeCache.txt" ] \
  || ! grep -q '^CMAKE_BUILD_TYPE:STRING=Release$' "$BUILD/CMakeCache.txt"; then
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >"$WORK/cmake.log" 2>&1 \
    || { cat "$WORK/cmake.log"; die "cmake configure failed"; }
fi
cmake --build "$BUILD" -j "$NCPU" --target oncovq ovq >"$WORK/build.log" 2>&1 \
  || { tail -n 40 "$WORK/build.log"; die "build failed"; }
OVQ="$BUILD/oncovq"
"$OVQ" --version

OPENBLAS_FLAGS="$(pkg-config --cflags --libs openblas 2>/dev/null || echo -lopenblas)"
HDF5_FLAGS="$(pkg-config --cflags --libs hdf5-openmpi 2>/dev/null || echo -lhdf5)"
# Linked with the project's library, so the Adam pass it times is the real ovq_adam_step as
# built for training (its own flags and CPU-specific clones).
# shellcheck disable=SC2086
mpicc -O3 -I"$ROOT/include" "$BENCH/bench_sgemm.c" -o "$WORK/bench_sgemm" "$BUILD/libovq.a" \
  $HDF5_FLAGS $OPENBLAS_FLAGS -lm \
  || die "cannot compile tools/bench/bench_sgemm.c (needs libopenblas-dev, libhdf5-openmpi-dev)"

# ---- data ---------------------------------------------------------------------------------------
if [ ! -f "$COHORT" ]; then
  say "making the BRCA-sized cohort $COHORT"
  mkdir -p "$(dirname "$COHORT")"
  mpirun -np 2 "$OVQ" synth --cancers BRCA --out "$COHORT"
fi
N=1100  # BRCA at scale 1; checked against oncovq's log below
F=21800 # 20,000 genes + 1,800 miRNAs; oncovq keeps them all (prep.zero_fraction = 1)

# ---- 1-3. sgemm peak, a rank's share at 2 ranks, allreduce --------------------------------------
say "1/6 OpenBLAS sgemm at the model's shapes, 1 thread"
begin_run sgemm
"$WORK/bench_sgemm" "$N" "$F" 256 | tee "$WORK/sgemm.txt"
end_run 1

# A rank's share of the step at 2 ranks on one node: the features are split, so a rank runs the
# model on F/2 features at the full batch (its columns of the first layer, its rows of the last,
# the whole narrow middle) and Adam on its half of the parameters; one copy per core at the same
# time, so the two share the memory bandwidth as the ranks do.
say "2/6 a rank's share at 2 ranks: F/2 features at the full batch, one copy per core at once"
begin_run sgemm2
TASKSET=()
if command -v taskset >/dev/null; then TASKSET=(taskset -c 0); fi
"${TASKSET[@]}" "$WORK/bench_sgemm" --step-only "$N" $((F / 2)) 256 >"$WORK/sgemm_half0.txt" &
half_pid=$!
if command -v taskset >/dev/null; then TASKSET=(taskset -c 1); fi
"${TASKSET[@]}" "$WORK/bench_sgemm" --step-only "$N" $((F / 2)) 256 >"$WORK/sgemm_half1.txt"
wait "$half_pid"
end_run 2
grep -h -E '^(step|epoch) GEMMs|^optimiser' "$WORK/sgemm_half0.txt" "$WORK/sgemm_half1.txt"

# The gradient slab's allreduce at 2 ranks, and for comparison a reduce through an MPI-3 shared
# memory window (each rank sums its half of the slab straight from the other's memory).
say "3/6 allreduce of the gradient slab at 2 ranks"
cat >"$WORK/allreduce.c" <<'CEOF'
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  long n = atol(argv[1]), h = n / size, lo = rank * h, hi = rank == size - 1 ? n : lo + h;
  MPI_Comm node;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
  float *g = malloc(n * sizeof *g), *mine, **all = malloc(size * sizeof *all);
  MPI_Win win;
  MPI_Win_allocate_shared((MPI_Aint)n * sizeof(float), sizeof(float), MPI_INFO_NULL, node, &mine,
                          &win);
  for (int q = 0; q < size; q++) {
    MPI_Aint sz;
    int du;
    MPI_Win_shared_query(win, q, &sz, &du, &all[q]);
  }
  for (long i = 0; i < n; i++) g[i] = mine[i] = 1e-3f * (float)(i % 1000);
  double best_ar = 1e30, best_shm = 1e30;
  MPI_Win_lock_all(MPI_MODE_NOCHECK, win);
  for (int r = 0; r < 6; r++) {
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = MPI_Wtime();
    MPI_Allreduce(MPI_IN_PLACE, g, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    double t1 = MPI_Wtime();
    MPI_Win_sync(win);
    MPI_Barrier(node);
    MPI_Win_sync(win);
    double t2 = MPI_Wtime();
    for (int q = 0; q < size; q++)
      if (q != rank)
        for (long i = lo; i < hi; i++) mine[i] += all[q][i];
    MPI_Win_sync(win);
    MPI_Barrier(node);
    double t3 = MPI_Wtime();
    if (r > 0 && t1 - t0 < best_ar) best_ar = t1 - t0;
    if (r > 0 && t3 - t2 < best_shm) best_shm = t3 - t2;
  }
  MPI_Win_unlock_all(win);
  if (rank == 0) printf("allreduce_s=%.6f\nshm_reduce_s=%.6f\n", best_ar, best_shm);
  MPI_Win_free(&win);
  MPI_Finalize();
  return 0;
}
CEOF
AR_OK=0
if command -v mpicc >/dev/null \
  && mpicc -O2 "$WORK/allreduce.c" -o "$WORK/allreduce" 2>"$WORK/mpicc.log"; then
  begin_run allreduce
  # The slab as the trainer reduces it: parameters plus a few extra slots (loss terms, code counts).
  mpirun -np 2 --bind-to core "$WORK/allreduce" "$(sed -n 's/^n_params=//p' "$WORK/sgemm.txt")" \
    | tee "$WORK/allreduce.txt"
  end_run 2
  AR_OK=1
else
  echo "mpicc failed (see below); skipping the allreduce probe"; cat "$WORK/mpicc.log"
fi

# ---- 4. PyTorch ---------------------------------------------------------------------------------
say "4/6 PyTorch, 1 thread ($PY)"
TORCH_OK=0
if ! "$PY" -c 'import torch, numpy' 2>/dev/null; then
  echo "PyTorch not importable by $PY: install Debian's python3-torch and python3-numpy"
  echo "(apt-get install python3-torch python3-numpy) or set PYTHON_TORCH to a python with torch."
  echo "Skipping the PyTorch run."
else
  COHORT_ARG=()
  if "$PY" -c 'import h5py' 2>/dev/null; then COHORT_ARG=(--cohort "$COHORT"); fi
  begin_run torch
  if "$PY" "$BENCH/bench_train_torch.py" --threads 1 --epochs "$EPOCHS" "${COHORT_ARG[@]}" \
      | tee "$WORK/torch.txt"; then
    TORCH_OK=1
    end_run 1
  else
    die "the PyTorch run failed"
  fi
fi

# ---- 5, 6. oncovq at 1 and 2 ranks --------------------------------------------------------------
# Each rank runs under a wrapper that records its peak resident set (ru_maxrss of the child, KiB).
cat >"$WORK/memwrap.sh" <<'EOF'
#!/bin/sh
out="$OVQ_MEM_DIR/maxrss.${OMPI_COMM_WORLD_RANK:-0}"
if [ -x /usr/bin/time ]; then exec /usr/bin/time -f '%M' -o "$out" "$@"; fi
exec python3 -c '
import os, sys
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
_, status, ru = os.wait4(pid, 0)
open(sys.argv[1], "w").write("%d\n" % ru.ru_maxrss)
sys.exit(status >> 8 if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))
' "$out" "$@"
EOF
chmod +x "$WORK/memwrap.sh"

run_ovq() { # run_ovq RANKS STEP
  local np="$1" dir="$WORK/ovq$1"
  mkdir -p "$dir"
  say "$2/6 oncovq train, $np rank(s), OPENBLAS_NUM_THREADS=1"
  begin_run "ovq$np"
  if ! OVQ_MEM_DIR="$dir" mpirun -np "$np" --bind-to core -x OVQ_MEM_DIR "$WORK/memwrap.sh" \
      "$OVQ" train --cohort "$COHORT" --epochs $((EPOCHS + 1)) --out "$dir/results.h5" \
      --set prep.zero_fraction=1 --set prep.impute=mean 2>&1 | tee "$dir/log.txt"; then
    die "oncovq train at $np rank(s) failed"
  fi
  end_run "$np"
  local n
  n="$(sed -n 's/.*data: \([0-9]*\) samples.*/\1/p' "$dir/log.txt" | head -n 1)"
  [ "$n" = "$N" ] || die "expected $N samples, the log says '$n'"
  # The same shape as the sgemm and PyTorch runs: preprocessing keeps every feature.
  n="$(sed -n 's/.*samples x \([0-9]*\) features.*/\1/p' "$dir/log.txt" | head -n 1)"
  [ "$n" = "$F" ] || die "expected $F features after preprocessing, the log says '$n'"
  # Per-epoch seconds of rank 0 from the results file, one per line.
  if command -v h5dump >/dev/null; then
    h5dump -y -w 0 -m '%.9g' -d /models/vqvae/history/seconds "$dir/results.h5" \
      | sed -n '/DATA {/,/}/p' | tr -d ' ,' | grep -E '^[0-9.eE+-]+$' >"$dir/epochs.txt" || true
  fi
  if [ ! -s "$dir/epochs.txt" ]; then
    die "cannot read the per-epoch seconds from $dir/results.h5 (needs h5dump from hdf5-tools)"
  fi
}
run_ovq 1 5
run_ovq 2 6

echo
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- the table ----------------------------------------------------------------------------------
say "results"
REPORT_PY="$PY"
command -v "$REPORT_PY" >/dev/null || REPORT_PY=python3
"$REPORT_PY" - "$WORK" "$TORCH_OK" "$N" "$AR_OK" <<'EOF'
import math, os, statistics, sys

work, torch_ok, N, ar_ok = sys.argv[1], sys.argv[2] == "1", int(sys.argv[3]), sys.argv[4] == "1"
B = 256
steps = -(-N // B)


def kv(path):
    d = {}
    if os.path.exists(path):
        for line in open(path):
            if "=" in line and not line.startswith(" "):
                k, v = line.strip().split("=", 1)
                d[k] = v
    return d


sg = kv(os.path.join(work, "sgemm.txt"))
halves = [kv(os.path.join(work, f"sgemm_half{r}.txt")) for r in (0, 1)]
ar = kv(os.path.join(work, "allreduce.txt")) if ar_ok else {}
peak = float(sg["peak_gflops"])
P = int(sg["n_params"])
nominal = 6.0 * P * N                           # the issue's FLOP count for one epoch
executed = float(sg["step_gemm_flop"]) / B * N  # GEMMs actually needed (no dx for layer 1)
bw = float(sg["stream_gbs"]) * 1e9
t_opt = 28.0 * P / bw                           # one optimiser pass at the measured bandwidth
limit = nominal / (peak * 1e9) + steps * t_opt  # the issue's physical limit, 1 core
sum1 = float(sg["epoch_gemm_s"]) + steps * float(sg["adam_pass_s"])
gemm2 = max(float(h["epoch_gemm_s"]) for h in halves)
adam2 = max(float(h["adam_pass_s"]) for h in halves)
t_ar = float(ar.get("allreduce_s", "nan"))
t_shm = float(ar.get("shm_reduce_s", "nan"))
sum2 = gemm2 + steps * adam2                        # 2 ranks as built: features split

rows = []  # (name, cores, median epoch s, timed epochs, peak RSS MiB per process)
if torch_ok:
    t = kv(os.path.join(work, "torch.txt"))
    rows.append(("PyTorch, 1 thread", 1, float(t["epoch_s"]),
                 [float(x) for x in t["epoch_times"].split(",")], [int(t["peak_rss_kb"]) / 1024]))
for np_ in (1, 2):
    d = os.path.join(work, f"ovq{np_}")
    ep = [float(x) for x in open(os.path.join(d, "epochs.txt")).read().split()]
    timed = ep[1:] if len(ep) > 1 else ep
    rss = []
    for r in range(np_):
        f = os.path.join(d, f"maxrss.{r}")
        rss.append(int(open(f).read().split()[-1]) / 1024 if os.path.exists(f) else math.nan)
    rows.append((f"OncoVQ, {np_} rank{'s' if np_ > 1 else ''}", np_, statistics.median(timed),
                 timed, rss))

print(f"sgemm peak, 1 thread (best of the model's shapes): {peak:.1f} GFLOP/s "
      f"(2048^3: {float(sg['square_gflops']):.1f})")
print(f"model: {P:,} parameters; epoch: {steps} steps of batch {B} ({N} samples); "
      f"6PN = {nominal * 1e-9:.0f} GFLOP nominal, {executed * 1e-9:.0f} GFLOP of GEMMs executed")
print(f"optimiser pass: {28 * P * 1e-9:.2f} GB at {bw * 1e-9:.1f} GB/s = {t_opt * 1e3:.0f} ms; "
      f"the Adam loop of adam.c: {float(sg['adam_pass_s']) * 1e3:.0f} ms")
print()
parts = [("1 core, the issue's physical limit: 6PN at peak + "
          f"{steps} optimiser passes at bandwidth", limit),
         (f"1 rank: the step's GEMMs at their measured rates + {steps} Adam loops", sum1)]
parts += [(f"2 ranks as built (features split): a rank's GEMMs on both cores + {steps} x its "
           f"Adam ({adam2 * 1e3:.0f} ms)", sum2)]
if ar_ok:
    print(f"gradient slab at 2 ranks: MPI_Allreduce {t_ar * 1e3:.0f} ms, shared-memory reduce "
          f"{t_shm * 1e3:.0f} ms (what data-parallel training would add per step)")
print("epoch time the measured kernels add up to (nothing else counted):")
for label, sec in parts:
    print(f"  {label:<88} {sec:5.2f} s = {N / sec:3.0f} samples/s")
print()
hdr = (f"{'run':<18} {'epoch s':>7} {'samples/s':>9} {'GFLOP/s':>7} {'%peak':>6} "
       f"{'exec GF/s':>9} {'%peak':>6}  {'peak RSS/process':<17} timed epochs (s)")
print(hdr)
print("-" * len(hdr))
res = {}
for name, cores, ep, timed, rss in rows:
    g_nom, g_exe = nominal / ep * 1e-9, executed / ep * 1e-9
    res[name] = N / ep
    mem = ", ".join(f"{x:.0f}" for x in rss) + " MiB"
    print(f"{name:<18} {ep:7.3f} {N / ep:9.1f} {g_nom:7.1f} {100 * g_nom / (peak * cores):5.1f}% "
          f"{g_exe:9.1f} {100 * g_exe / (peak * cores):5.1f}%  {mem:<17} "
          f"{' '.join(f'{x:.2f}' for x in timed)}")
print()
print("GFLOP/s: 6 x parameters x samples / epoch time (the issue's count); exec GF/s: the GEMM")
print("FLOPs actually needed (the first layer's input gradient is never computed). %peak is")
print("against the measured 1-thread peak times the cores used. Epoch time: median of the timed")
print("epochs (the first epoch is a warm-up and not timed).")
print()
one, two = res["OncoVQ, 1 rank"], res["OncoVQ, 2 ranks"]
g1 = 100 * nominal / (N / one) * 1e-9 / peak
e1 = 100 * executed / (N / one) * 1e-9 / peak
print("targets (issue 3):")
print(f"  >= 70% of sgemm peak over a training step, 1 rank: {g1:.1f}% (6PN), {e1:.1f}% (executed)"
      f"  -> {'met' if e1 >= 70 else 'met by the 6PN count only' if g1 >= 70 else 'MISSED'}")
if torch_ok:
    r = one / res["PyTorch, 1 thread"]
    verdict = "met" if r >= 1.5 else \
        f"MISSED: OncoVQ needs {100 * (1 - r / 1.5):.1f}% less time per epoch"
    print(f"  >= 1.5x PyTorch's throughput at one thread: {r:.2f}x  -> {verdict}")
else:
    print("  >= 1.5x PyTorch's throughput at one thread: not measured (no PyTorch)")
r2 = two / one
print(f"  2 ranks >= 1.8x one rank: {r2:.2f}x  -> "
      f"{'met' if r2 >= 1.8 else f'MISSED (needs {N / one / 1.8:.2f} s/epoch at 2 ranks)'}")
print("  peak memory per rank: " + "; ".join(
    f"{name}: {', '.join(f'{x:.0f}' for x in rss)} MiB" for name, _, _, _, rss in rows))
print()
print("machine load, in cores busy (before a run: want ~0; during: want ~ the run's own):")
quiet = os.path.join(work, "quiet.txt")
for k, before, during, ours in (l.split() for l in open(quiet)) if os.path.exists(quiet) else []:
    flag = "  <- others competed: numbers unreliable" if float(during) > float(ours) + 0.15 else ""
    print(f"  {k:<9} before {before}, during {during} (the run uses {ours}){flag}")
EOF
