#!/usr/bin/env bash
# Clustering benchmark (see tools/bench/README.md): time per iteration of OncoVQ's Gaussian
# mixture (full and diagonal covariances) and k-means at 1 and 2 ranks against scikit-learn at
# one thread on the same data, with the ratios the issue asks for.
#   bash tools/bench/bench_cluster.sh [--n 1000000] [--d 64] [--k 16] [--gmm-iters 3]
#                                     [--kmeans-iters 10] [--no-build]
set -euo pipefail
cd "$(dirname "$0")/../.."
N=1000000 D=64 K=16 GI=3 KI=10 BUILD=1
while [ $# -gt 0 ]; do
  case "$1" in
    --n) N=$2; shift 2 ;;
    --d) D=$2; shift 2 ;;
    --k) K=$2; shift 2 ;;
    --gmm-iters) GI=$2; shift 2 ;;
    --kmeans-iters) KI=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
W=/tmp/ovq-bench-cluster
mkdir -p "$W"
if [ "$BUILD" = 1 ]; then bash tools/build.sh >/dev/null; fi
mpicc -O3 -Iinclude -Ibuild/generated tools/bench/bench_gmm.c -o "$W/bench_gmm" build/libovq.a \
      $(pkg-config --cflags --libs hdf5-openmpi openblas) -lm
source tools/env.sh                          # one OpenBLAS / OpenMP thread per process
export OMPI_MCA_hwloc_base_binding_policy=none
DATA="$W/x_${N}x${D}_k${K}.f32"
[ -f "$DATA" ] || mpirun -np 1 "$W/bench_gmm" --n "$N" --d "$D" --k "$K" --dump "$DATA"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg) (2-core machine shared with other developers)"

OUT="$W/results.txt"
: >"$OUT"
for np in 1 2; do
  for cov in full diag; do
    mpirun -np $np "$W/bench_gmm" --method gmm --cov $cov --n "$N" --d "$D" --k "$K" \
           --iters "$GI" | tee -a "$OUT"
  done
  mpirun -np $np "$W/bench_gmm" --method kmeans --n "$N" --d "$D" --k "$K" --iters "$KI" |
    tee -a "$OUT"
done

# scikit-learn, one thread, the same data and initial parameters, fixed iterations (tol = 0)
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 /usr/bin/python3 - "$DATA" "$N" "$D" "$K" "$GI" "$KI" \
    <<'EOF' | tee -a "$OUT"
import sys, time, warnings
import numpy as np
import sklearn
from sklearn.cluster import KMeans
from sklearn.mixture import GaussianMixture
path, n, d, k, gi, ki = sys.argv[1], *map(int, sys.argv[2:])
x = np.fromfile(path, dtype=np.float32).reshape(n, d).astype(np.float64)
first = x[:k].copy()
warnings.simplefilter("ignore")
for cov in ("full", "diag"):
    prec = np.tile(np.eye(d), (k, 1, 1)) if cov == "full" else np.ones((k, d))
    gm = GaussianMixture(n_components=k, covariance_type=cov, tol=0.0, max_iter=gi,
                         weights_init=np.full(k, 1.0 / k), means_init=first, precisions_init=prec)
    t0 = time.perf_counter(); gm.fit(x); t = time.perf_counter() - t0
    print(f"RESULT sklearn-gmm {cov} 1 {n} {d} {k} {gm.n_iter_} {t:.4f} {t / gm.n_iter_:.4f} "
          f"{gm.lower_bound_:.10g}")
km = KMeans(n_clusters=k, init=first, n_init=1, max_iter=ki, tol=0.0, algorithm="lloyd")
t0 = time.perf_counter(); km.fit(x); t = time.perf_counter() - t0
print(f"RESULT sklearn-kmeans - 1 {n} {d} {k} {km.n_iter_} {t:.4f} {t / km.n_iter_:.4f} "
      f"{km.inertia_:.10g}")
print(f"# scikit-learn {sklearn.__version__}, numpy {np.__version__}")
EOF
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

# summary: seconds per iteration and the issue's ratios
awk '
  /^RESULT/ { key = $2 " " $3 " " $4; t[key] = $10; it[key] = $8 }
  END {
    printf "\n%-26s %10s %10s %10s %14s %14s\n", "method", "sklearn", "1 rank", "2 ranks",
           "sklearn/1rank", "1rank/2ranks"
    split("gmm full|gmm diag|kmeans -", m, "|")
    for (i = 1; i <= 3; i++) {
      split(m[i], a, " "); s = "sklearn-" a[1] " " a[2] " 1"
      one = m[i] " 1"; two = m[i] " 2"
      printf "%-26s %9.3fs %9.3fs %9.3fs %13.2fx %13.2fx\n", m[i] " (s/iteration)", t[s], t[one],
             t[two], t[s] / t[one], t[one] / t[two]
    }
    print "targets: >= 2x scikit-learn at one thread; 2 ranks >= 1.8x one rank"
  }' "$OUT"
