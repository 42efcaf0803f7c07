#!/usr/bin/env bash
# Scale benchmark (issue 9): the pan-cancer-sized synthetic cohort (10 cancer types, N ~ 11,000
# samples x 20,000 genes + 1,800 miRNAs) through the pipeline stage by stage, one mpirun per
# stage, at each rank count of --ranks. Records each stage's wall time and every rank's peak
# resident memory (the "peak memory per rank" line oncovq logs at exit), then prints a table and,
# per stage, the peak memory at the largest rank count over that at the smallest.
#
#   bash tools/bench/bench_scale.sh [--ranks "2 4"] [--stages "prep train cluster spectral raw eval"]
#        [--epochs 2] [--scale 2.2] [--genes 20000] [--mirnas 1800] [--k 10] [--kmin 2] [--kmax 12]
#        [--dir /tmp/ovq-bench-scale] [--bin ONCOVQ] [--lock FILE] [--budget SECONDS]
#        [--runs "prep@2 train@2 prep@4 ..."] [--table]
#
# --runs lists stage@ranks items in the order to run them (default: every stage of --stages at
# each rank count of --ranks in turn). --budget: start no stage after SECONDS of the invocation.
# Stages (each reads what an earlier stage wrote, at the same rank count if there is one, else at
# another: outputs do not depend on the rank count):
#   prep      oncovq prep of the whole cohort (filters, KNN imputation, standardisation)
#   train     oncovq train: the default VQ-VAE (F -> 2048 -> 512 -> 64), --epochs epochs
#             (includes its own prep of the cohort; seconds per epoch from the results file)
#   cluster   k-means, GMM and hierarchical clustering of the VQ-VAE latents, k = --kmin..--kmax
#   spectral  spectral clustering of the latents at k = --k (N x N affinity and eigensolver)
#   raw       k-means of the preprocessed expression (N x F, row-distributed) at k = --k
#   eval      oncovq eval of the latent clusters with the cohort (DE, network, survival, t-SNE)
# Left out on purpose: SNF, consensus NMF and iClusterBayes on the raw expression (hours at this
# N; see tools/bench/README.md).
#
# Results accumulate in DIR/results.tsv (a stage rerun replaces its row), so the stages can be
# run in several invocations (e.g. one per lock acquisition on a shared machine) and --table
# prints everything measured so far. With --lock FILE the invocation holds `flock FILE` from
# before its first stage to its end (the wait for the lock is not timed). The 1-minute load
# average is recorded before and after each stage.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
RANKS="2 4"
STAGES="prep train cluster spectral raw eval"
EPOCHS=2
SCALE=2.2
GENES=20000
MIRNAS=1800
K=10
KMIN=2
KMAX=12
DIR=/tmp/ovq-bench-scale
BIN=""
LOCK=""
TABLE_ONLY=0
RUNS=""
BUDGET=""
while [ $# -gt 0 ]; do
  case "$1" in
    --ranks) RANKS="$2"; shift 2 ;;
    --stages) STAGES="$2"; shift 2 ;;
    --epochs) EPOCHS="$2"; shift 2 ;;
    --scale) SCALE="$2"; shift 2 ;;
    --genes) GENES="$2"; shift 2 ;;
    --mirnas) MIRNAS="$2"; shift 2 ;;
    --k) K="$2"; shift 2 ;;
    --kmin) KMIN="$2"; shift 2 ;;
    --kmax) KMAX="$2"; shift 2 ;;
    --dir) DIR="$2"; shift 2 ;;
    --bin) BIN="$2"; shift 2 ;;
    --lock) LOCK="$2"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    --budget) BUDGET="$2"; shift 2 ;;
    --table) TABLE_ONLY=1; shift ;;
    -h|--help) sed -n '2,31p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench_scale.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
if [ -z "$RUNS" ]; then
  for np in $RANKS; do for s in $STAGES; do RUNS="$RUNS $s@$np"; done; done
fi
mkdir -p "$DIR/logs"
RES="$DIR/results.tsv"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

table() {
  [ -s "$RES" ] || { echo "no results yet in $RES"; return 0; }
  "$PY" - "$RES" <<'EOF'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
order = ["synth", "prep", "train", "cluster", "spectral", "raw", "eval"]
rows.sort(key=lambda r: (order.index(r[1]) if r[1] in order else 99, int(r[0])))
print(f"{'stage':<9} {'ranks':>5} {'wall s':>8}  {'peak MiB per rank':<26} {'max MiB':>8}  "
      f"{'load before/after':<17} detail")
print("-" * 110)
peak = {}
for r in rows:
    ranks, stage, secs, peaks, lb, la, detail = (r + [""] * 7)[:7]
    mx = max(int(p) for p in peaks.split(",")) if peaks else 0
    peak.setdefault(stage, {})[int(ranks)] = mx
    print(f"{stage:<9} {ranks:>5} {float(secs):>8.1f}  {peaks:<26} {mx:>8}  {lb + ' / ' + la:<17} "
          f"{detail}")
print()
print("peak memory (max over ranks), largest rank count / smallest:")
for stage in sorted(peak, key=lambda s: order.index(s) if s in order else 99):
    p = peak[stage]
    if len(p) < 2:
        continue
    lo, hi = min(p), max(p)
    print(f"  {stage:<9} {hi} ranks / {lo} ranks: {p[hi]} / {p[lo]} MiB = {p[hi] / p[lo]:.2f}")
EOF
}

if [ $TABLE_ONLY -eq 1 ]; then table; exit 0; fi

# shellcheck source=/dev/null
source "$ROOT/tools/env.sh"
if [ -z "$BIN" ]; then
  BIN="$DIR/build/oncovq"
  (cd "$ROOT" && BUILD_DIR="$DIR/build" BUILD_TYPE=Release bash tools/build.sh >/dev/null)
fi
COHORT="$DIR/pancan.h5"

# With --lock, the whole invocation holds the lock (taken once here: between stages another
# job would otherwise take it); nothing below is timed before it is held.
if [ -n "$LOCK" ]; then
  exec 9>"$LOCK"
  echo "waiting for $LOCK ($(date -u +%T))" >&2
  flock 9
  echo "lock held ($(date -u +%T))" >&2
fi

load1() { cut -d' ' -f1 /proc/loadavg; }

# record NP STAGE LOG DETAIL: appends the stage's row (replacing an earlier one).
record() {
  local np=$1 stage=$2 log=$3 secs=$4 lb=$5 la=$6 detail=$7
  local peaks
  peaks=$(grep -o 'peak memory per rank: [0-9, ]* MiB' "$log" | tail -1 | sed 's/peak memory per rank: //; s/ MiB//; s/ //g')
  touch "$RES"
  awk -F'\t' -v n="$np" -v s="$stage" '!($1 == n && $2 == s)' "$RES" >"$RES.tmp"
  printf '%s\t%s\t%.1f\t%s\t%s\t%s\t%s\n' "$np" "$stage" "$secs" "$peaks" "$lb" "$la" "$detail" >>"$RES.tmp"
  mv "$RES.tmp" "$RES"
}

# stage NP NAME ARGS...: one timed mpirun of oncovq ARGS at NP ranks, log in DIR/logs.
stage_run() {
  local np=$1 name=$2
  shift 2
  local log="$DIR/logs/$name-$np.log"
  local t0 t1 lb la rc
  timed() {
    lb=$(load1)
    t0=$(date +%s.%N)
    mpirun -n "$np" "$BIN" "$@" >"$log" 2>&1
    rc=$?
    t1=$(date +%s.%N)
    la=$(load1)
    return $rc
  }
  echo "== $name at $np ranks: oncovq $*" >&2
  if ! timed "$@"; then
    echo "bench_scale.sh: $name at $np ranks failed (exit $rc); log $log:" >&2
    tail -20 "$log" >&2
    exit 1
  fi
  SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
  LB=$lb
  LA=$la
  LOG=$log
  grep -o 'peak memory per rank: .*' "$log" | tail -1 | sed 's/^/   /' >&2
}

if [ ! -s "$COHORT" ]; then
  np0=${RANKS%% *}
  stage_run "$np0" synth synth --scale "$SCALE" --genes "$GENES" --mirnas "$MIRNAS" --out "$COHORT"
  record "$np0" synth "$LOG" "$SECS" "$LB" "$LA" "N x (genes + miRNAs): $(grep -o '[0-9]* samples x ([0-9]* genes + [0-9]* miRNAs)' "$LOG" | head -1)"
fi

# input_of NAME: the file NAME of an earlier stage: this rank count's own if it exists, else
# any other rank count's (stage outputs do not depend on the rank count that wrote them).
input_of() {
  local f
  if [ -e "$W/$1" ]; then echo "$W/$1"; return; fi
  for f in "$DIR"/r*/"$1"; do [ -e "$f" ] && { echo "$f"; return; }; done
  echo "$W/$1"
}

T_START=$(date +%s)
for item in $RUNS; do
  s=${item%@*}
  np=${item#*@}
  if [ -n "$BUDGET" ] && [ $(($(date +%s) - T_START)) -ge "$BUDGET" ]; then
    echo "bench_scale.sh: --budget $BUDGET s used up; not run: $item and after" >&2
    break
  fi
  W="$DIR/r$np"
  mkdir -p "$W"
  case "$s" in
    prep)
      stage_run "$np" prep prep --cohort "$COHORT" --out "$W/prep.h5"
      d=$(grep -o '[0-9]* samples x [0-9]* features' "$LOG" | tail -1 || true)
      record "$np" prep "$LOG" "$SECS" "$LB" "$LA" "$d" ;;
    train)
      rm -f "$W/train.h5" "$W/train.h5.ckpt"
      stage_run "$np" train train --cohort "$COHORT" --out "$W/train.h5" --epochs "$EPOCHS" \
        --set train.checkpoint_every=0
      ep=$("$PY" -c "import h5py,sys; s=h5py.File(sys.argv[1],'r')['/models/vqvae/history/seconds'][:]; print(' '.join('%.1f' % v for v in s))" "$W/train.h5" 2>/dev/null || echo "?")
      record "$np" train "$LOG" "$SECS" "$LB" "$LA" "$EPOCHS epochs, s/epoch: $ep" ;;
    cluster)
      stage_run "$np" cluster cluster --input "$(input_of train.h5)" --out "$W/clusters.h5" \
        --methods kmeans,gmm,hclust --set cluster.k_min="$KMIN" --set cluster.k_max="$KMAX"
      d=$(for m in kmeans gmm hclust; do
            grep -o "^oncovq: $m k=[0-9]*:.*([0-9.]* s)" "$LOG" | sed 's/.*(\([0-9.]*\) s)/\1/' |
              awk -v m=$m '{t += $1} END {printf "%s %.1f s; ", m, t}'
          done)
      record "$np" cluster "$LOG" "$SECS" "$LB" "$LA" "k $KMIN..$KMAX: $d" ;;
    spectral)
      stage_run "$np" spectral cluster --input "$(input_of train.h5)" --out "$W/spectral.h5" \
        --methods spectral --k "$K" --set log.level=debug
      d=$(grep -o 'eigh n=.*' "$LOG" | tail -1 || true)
      record "$np" spectral "$LOG" "$SECS" "$LB" "$LA" "k $K; $d" ;;
    raw)
      stage_run "$np" raw cluster --input "$(input_of prep.h5)" --features raw --out "$W/raw.h5" \
        --methods kmeans --k "$K"
      d=$(grep -o 'kmeans k=[0-9]*:.*' "$LOG" | tail -1 | grep -o '([0-9.]* s)' || true)
      record "$np" raw "$LOG" "$SECS" "$LB" "$LA" "kmeans k $K $d" ;;
    eval)
      stage_run "$np" eval eval --input "$(input_of clusters.h5)" --out "$W/eval.h5" --cohort "$COHORT" \
        --latent "$(input_of train.h5)"
      record "$np" eval "$LOG" "$SECS" "$LB" "$LA" "methods kmeans,gmm,hclust" ;;
    *) echo "bench_scale.sh: unknown stage $s" >&2; exit 2 ;;
  esac
done
table
