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
echo "== oncovq train (VQ-VAE on the BRCA samples)"
mpirun -np "$NP" build/oncovq train --config configs/quickstart.ini --cohort "$OUT/cohort.h5" \
  --out "$OUT/brca_vqvae.h5"
echo "== oncovq cluster (k-means and GMM on the VQ-VAE latents, k chosen by silhouette)"
mpirun -np "$NP" build/oncovq cluster --config configs/quickstart.ini --input "$OUT/brca_vqvae.h5" \
  --out "$OUT/brca_clusters.h5"
echo "== done: cohort in $OUT/cohort.h5, VQ-VAE weights and latent features in $OUT/brca_vqvae.h5,"
echo "   clusters in $OUT/brca_clusters.h5"
