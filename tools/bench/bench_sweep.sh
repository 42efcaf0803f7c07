#!/usr/bin/env bash
# Sweep throughput (see tools/bench/README.md): the same small task grid run with 2 ranks as one
# group of 2 and as two groups of 1; prints tasks per minute and the fraction of rank time idle,
# both from the sweep's own log line, and the ratio of the two layouts.
#   bash tools/bench/bench_sweep.sh [--epochs 30] [--scale 0.05] [--genes 1000] [--no-build]
set -euo pipefail
cd "$(dirname "$0")/../.."
EPOCHS=30 SCALE=0.05 GENES=1000 BUILD=1
while [ $# -gt 0 ]; do
  case "$1" in
    --epochs) EPOCHS=$2; shift 2 ;;
    --scale) SCALE=$2; shift 2 ;;
    --genes) GENES=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
W=/tmp/ovq-bench-sweep
rm -rf "$W" && mkdir -p "$W"
if [ "$BUILD" = 1 ]; then bash tools/build.sh >/dev/null; fi
source tools/env.sh
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg) (2-core machine shared with other developers)"
mpirun -np 2 build/oncovq synth --scale "$SCALE" --genes "$GENES" --mirnas 100 \
  --out "$W/pancan.h5" 2>/dev/null
# 10 cancers x (1 baseline + vqvae x 2 codebook sizes + ae) = 40 tasks.
GRID=(--cohort "$W/pancan.h5" --set sweep.models=vqvae,ae --set sweep.codebook_size=16,64
      --set sweep.epochs="$EPOCHS" --set "sweep.hidden=256,64" --set sweep.latent=16
      --set cluster.methods=kmeans,gmm,hclust --set cluster.k_max=6 --set eval.tsne=false
      --set run.report=no)
declare -A RATE
for g in 2 1; do
  mpirun -np 2 build/oncovq sweep "${GRID[@]}" --group-size "$g" --out "$W/g$g" 2>"$W/g$g.log"
  line=$(grep "tasks/min" "$W/g$g.log")
  groups=$((2 / g))
  echo "2 ranks as $groups group(s) of $g: ${line#*sweep: }"
  RATE[$g]=$(sed -E 's/.*\(([0-9.]+) tasks\/min\).*/\1/' <<<"$line")
done
awk -v a="${RATE[1]}" -v b="${RATE[2]}" \
  'BEGIN { printf "two groups of 1 / one group of 2: %.2fx the tasks per minute\n", a / b }'
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
