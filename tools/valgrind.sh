#!/usr/bin/env bash
# A small end-to-end run under valgrind memcheck (issue 9): synth -> oncovq run (three models,
# five feature sets, k-means, GMM, spectral, SNF, hierarchical, evaluation with t-SNE) at 1 rank.
# Exits non-zero on any memcheck error (invalid access, uninitialised value, definite leak of
# our own memory); Open MPI's own leaks in MPI_Init/Finalize are suppressed.
#   bash tools/valgrind.sh [DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DIR="${1:-/tmp/ovq-valgrind}"
rm -rf "$DIR" && mkdir -p "$DIR" && cd "$DIR"
source "$ROOT/tools/env.sh"
OVQ="${OVQ:-$ROOT/build/oncovq}" # the binary; ctest passes its own
mpirun -np 1 "$OVQ" synth --cancers BRCA --scale 0.05 --genes 200 --mirnas 20 --out c.h5 2>/dev/null
SUPP=(--suppressions="$ROOT/tools/valgrind-openmpi.supp")
[ -f /usr/share/openmpi/openmpi-valgrind.supp ] &&
  SUPP+=(--suppressions=/usr/share/openmpi/openmpi-valgrind.supp)
set +e
mpirun -np 1 valgrind --error-exitcode=9 --num-callers=40 --leak-check=full --show-leak-kinds=definite \
  --errors-for-leak-kinds=definite "${SUPP[@]}" "$OVQ" run --cohort c.h5 \
  --set model.hidden=32,16 --set model.latent=8 --set model.codebook_size=8 --set train.epochs=2 \
  --set train.batch=16 --set cluster.methods=kmeans,gmm,spectral,snf,hclust --set cluster.k_max=3 \
  --set cluster.pca_components=4 --set run.report=no --out r >out.log 2>valgrind.log
rc=$?
set -e
grep -E "ERROR SUMMARY|definitely lost|indirectly lost" valgrind.log | sed 's/^==[0-9]*== //'
echo "valgrind exit $rc (full log: $DIR/valgrind.log)"
exit $rc
