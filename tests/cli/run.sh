#!/usr/bin/env bash
# oncovq run end to end on a small synthetic cohort: the summary table (columns, one row per
# feature set x method x k x seed plus the published labels, no NaN), results.h5, stage caching
# (a repeat recomputes nothing; a changed clustering setting recomputes clustering but not
# training), the same summary at 1 and 2 ranks, a stop by SIGUSR1 during training (exit 3) that
# the same command resumes to the uninterrupted result, and bad settings.
# Usage: run.sh OVQ H5SAME SCRATCH_DIR
OVQ=$1 H5SAME=$2 DIR=$3
source "$(dirname "$0")/lib.sh"
rm -rf "$DIR" && mkdir -p "$DIR"
cd "$DIR" || exit 1

expect_ok 2 synth --cancers BRCA --scale 0.1 --genes 300 --mirnas 30 --out c.h5
SMALL=(--cohort c.h5 --set model.hidden=64,32 --set model.latent=8 --set model.codebook_size=8
       --set train.batch=32 --set train.epochs=4 --set cluster.methods=kmeans,gmm,hclust
       --set cluster.k_min=2 --set cluster.k_max=4 --set cluster.pca_components=8
       --set run.seeds=1,2 --set eval.tsne=false --set run.report=no)
expect_ok 2 run "${SMALL[@]}" --out r2
HEADER="cancer	features	method	k	seed	n_samples	n_labelled	nmi	ari	purity	silhouette	logrank_chi2	logrank_p	seconds"
head -1 r2/summary.tsv | grep -q "^$HEADER" && ok "summary columns in the issue's order" \
  || bad "summary header: $(head -1 r2/summary.tsv)"
# 5 feature sets x 3 methods x 3 k x 2 seeds + the published labels.
rows=$(($(wc -l <r2/summary.tsv) - 1))
[ "$rows" -eq 91 ] && ok "91 summary rows" || bad "summary has $rows rows, expected 91"
awk -F'\t' 'NR > 1 && $2 == "published" && $3 == "label" { f = 1 } END { exit !f }' r2/summary.tsv \
  && ok "published labels row" || bad "no published labels row"
for fs in raw pca ae vae vqvae; do
  awk -F'\t' -v fs=$fs 'NR > 1 && $2 == fs && $8 != "" && $13 != "" { f = 1 } END { exit !f }' \
    r2/summary.tsv && ok "$fs rows have nmi and log-rank p" || bad "$fs rows incomplete"
done
grep -qi "nan" r2/summary.tsv && bad "NaN in summary.tsv" || ok "no NaN in summary.tsv"
"$H5SAME" r2/results.h5 r2/results.h5 /models/vqvae/latent /features/pca \
  /clusters/vqvae/s2/kmeans/k3/labels /eval/vae/agreement/ari /summary/nmi >/dev/null \
  && ok "results.h5 holds models, features, clusters, eval and summary" || bad "results.h5 incomplete"
[ -s r2/eval/vqvae_agreement.tsv ] && [ -s r2/eval/raw_de.tsv ] && ok "evaluation tables written" \
  || bad "evaluation tables missing"

# A repeat recomputes nothing; a new clustering setting recomputes clustering, not training.
expect_ok 2 run "${SMALL[@]}" --out r2
n=$(grep -c "up to date" err)
[ "$n" -eq 18 ] && ! grep -q "trained" err && ok "repeat: all 18 stages up to date" \
  || bad "repeat: $n stages up to date"
cp r2/summary.tsv s_before.tsv
expect_ok 2 run "${SMALL[@]}" --set cluster.k_max=3 --out r2
grep -q "stage train vqvae: up to date" err && ! grep -q "trained" err && grep -q "stage cluster raw seed 1: .* -> " err \
  && ok "changed k range: training reused, clustering redone" || bad "changed setting not handled"
rows=$(($(wc -l <r2/summary.tsv) - 1))
[ "$rows" -eq 61 ] && ok "61 rows with k_max = 3" || bad "summary has $rows rows, expected 61"

# Reproducible training: the same summary (without the seconds column) at 1 and 2 ranks.
expect_ok 1 run "${SMALL[@]}" --set train.reproducible=true --out p1
expect_ok 2 run "${SMALL[@]}" --set train.reproducible=true --out p2
cut -f1-13,15- p1/summary.tsv >a.tsv
cut -f1-13,15- p2/summary.tsv >b.tsv
cmp -s a.tsv b.tsv && ok "summary identical at 1 and 2 ranks" || bad "summary differs between 1 and 2 ranks: $(diff a.tsv b.tsv | head -5)"

# Stop during training with SIGUSR1: exit 3, then the same command resumes to the same result.
LONG=("${SMALL[@]}" --set train.epochs=400 --set run.models=vqvae --set run.features=vqvae
      --set train.checkpoint_every=1)
expect_ok 2 run "${LONG[@]}" --out full
# mpiexec itself (not under timeout, which would die of the signal) forwards SIGUSR1 to the ranks.
"$MPIEXEC" -n 2 "$OVQ" run "${LONG[@]}" --out stop >out 2>err </dev/null &
pid=$!
for _ in $(seq 1 200); do grep -q "epoch" err 2>/dev/null && break; sleep 0.1; done
sleep 1
kill -USR1 $pid
wait $pid
RC=$?
[ $RC -eq 3 ] && ok "SIGUSR1 during training: exit 3" || bad "SIGUSR1: exit $RC (expected 3)"
[ -s stop/stages/model_vqvae.h5.ckpt ] && ok "checkpoint kept" || bad "no checkpoint after the stop"
[ ! -e stop/summary.tsv ] && ok "no summary from the interrupted run" || bad "interrupted run wrote a summary"
expect_ok 2 run "${LONG[@]}" --out stop
grep -q "resumed from its checkpoint" err && ok "resumed from the checkpoint" || bad "did not resume"
"$H5SAME" full/stages/model_vqvae.h5 stop/stages/model_vqvae.h5 /models/vqvae/params \
  /models/vqvae/latent >/dev/null && ok "resumed weights and latents bit-identical" \
  || bad "resumed model differs from the uninterrupted one"
cut -f1-13,15- full/summary.tsv >a.tsv
cut -f1-13,15- stop/summary.tsv >b.tsv
cmp -s a.tsv b.tsv && ok "resumed summary equals the uninterrupted one" || bad "resumed summary differs"

# Bad settings: clear messages, non-zero exit on every rank, nothing written.
expect_fail 2 "run.features names 'bogus'" run "${SMALL[@]}" --set run.features=raw,bogus --out bad1
expect_fail 2 "run.models: unknown model 'gan'" run "${SMALL[@]}" --set run.models=gan --out bad2
expect_fail 2 "run.seeds: 'x' is not a seed" run "${SMALL[@]}" --set run.seeds=1,x --out bad3
expect_fail 2 "data.cohort is not set" run --out bad4
expect_fail 2 "nope.h5" run "${SMALL[@]}" --cohort nope.h5 --out bad5
finish
