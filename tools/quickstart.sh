#!/usr/bin/env bash
# The main job from a fresh clone: install what is missing, build, then run on the built-in
# synthetic cohort with 2 MPI ranks. Outputs go to quickstart/ (override with OUT=DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
bash tools/build.sh
source tools/env.sh
OUT="${OUT:-quickstart}"
mkdir -p "$OUT"
NP="${NP:-2}"
echo "== oncovq synth (mpirun -np $NP)"
mpirun -np "$NP" build/oncovq synth --config configs/quickstart.ini --out "$OUT/cohort.h5"
echo "== oncovq info"
mpirun -np "$NP" build/oncovq info "$OUT/cohort.h5"
echo "== oncovq run (VQ-VAE, AE, VAE on the BRCA samples; every feature set x method x k)"
mpirun -np "$NP" build/oncovq run --config configs/quickstart.ini --cohort "$OUT/cohort.h5" \
  --out "$OUT/brca"
echo "== summary (best k per feature set and method by silhouette; all rows in $OUT/brca/summary.tsv)"
awk -F'\t' 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
  { key = $c["features"] "\t" $c["method"]
    if (!(key in best) || $c["silhouette"] + 0 > s[key]) { best[key] = $0; s[key] = $c["silhouette"] + 0 }
    if (!(key in order)) { order[key] = ++n; keys[n] = key } }
  END { printf "%-10s %-8s %3s %8s %8s %8s %10s %10s\n", "features", "method", "k", "nmi", "ari",
               "purity", "silhouette", "logrank_p"
        for (j = 1; j <= n; j++) { split(best[keys[j]], f, "\t")
          printf "%-10s %-8s %3s %8.4f %8.4f %8.4f %10s %10s\n", f[c["features"]], f[c["method"]],
                 f[c["k"]], f[c["nmi"]], f[c["ari"]], f[c["purity"]], num(f[c["silhouette"]]),
                 num(f[c["logrank_p"]]) } }
  function num(v) { return v == "" ? "" : sprintf("%.4g", v) }' "$OUT/brca/summary.tsv"
echo "== done: cohort in $OUT/cohort.h5; summary, results and evaluation tables in $OUT/brca/"
echo "   (summary.tsv, results.h5, eval/*.tsv)"
if [ -f "$OUT/brca/report/index.html" ]; then
  echo "   figures: $OUT/brca/report/index.html (PNG and SVG files next to it)"
else
  echo "   no figures (see the report message above; tools/report.sh $OUT/brca makes them)"
fi
