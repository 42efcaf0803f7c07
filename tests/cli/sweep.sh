#!/usr/bin/env bash
# oncovq sweep end to end on a small two-cancer synthetic cohort: the task grid (baseline + model
# tasks per cancer), the merged summary with hyperparameter columns, pancancer.tsv, a failing task
# recorded while the sweep goes on, a repeat that skips finished tasks, the same results with
# 2 groups of 1 rank and 1 group of 2 ranks (reproducible training), SIGKILL of the whole sweep
# and a resume that ends with the uninterrupted summary, and bad grids.
# Usage: sweep.sh OVQ H5SAME SCRATCH_DIR
OVQ=$1 H5SAME=$2 DIR=$3
source "$(dirname "$0")/lib.sh"
rm -rf "$DIR" && mkdir -p "$DIR"
cd "$DIR" || exit 1

expect_ok 2 synth --cancers BRCA,GBM --scale 0.1 --genes 300 --mirnas 30 --out c.h5
S=(--cohort c.h5 --set model.latent=8 --set train.batch=32 --set cluster.methods=kmeans,hclust
   --set cluster.k_max=4 --set cluster.pca_components=8 --set eval.tsne=false --set run.report=no
   --set sweep.models=vqvae,ae --set sweep.codebook_size=4,8 --set sweep.latent=8
   --set sweep.epochs=5 --set "sweep.hidden=64,32" --set train.reproducible=true)
expect_ok 2 sweep "${S[@]}" --group-size 1 --out g1
# Per cancer: baseline + vqvae x 2 codebook sizes + ae = 4 tasks.
n=$(($(wc -l <g1/tasks.tsv) - 1))
[ "$n" -eq 8 ] && ok "8 tasks" || bad "$n tasks, expected 8"
[ "$(grep -c "	done	" g1/tasks.tsv)" -eq 8 ] && ok "all tasks done" || bad "not all tasks done"
head -1 g1/summary.tsv | grep -q "	task	model	codebook_size	latent	beta	lr	epochs	hidden	train_seed$" \
  && ok "hyperparameter columns" || bad "summary header: $(head -1 g1/summary.tsv)"
# Rows: per cancer 1 published + baseline 2 feature sets x 2 methods x 3 k + 3 model tasks x 2 x 3.
rows=$(($(wc -l <g1/summary.tsv) - 1))
[ "$rows" -eq 62 ] && ok "62 summary rows" || bad "summary has $rows rows, expected 62"
[ "$(awk -F'\t' '$2 == "published"' g1/summary.tsv | wc -l)" -eq 2 ] \
  && ok "published labels once per cancer" || bad "published rows not once per cancer"
[ "$(wc -l <g1/pancancer.tsv)" -eq 3 ] && awk -F'\t' 'NR > 1 && ($6 == "" || $11 == "" || $12 == "") { e = 1 } END { exit e }' g1/pancancer.tsv \
  && ok "pancancer.tsv: two cancers with best p, best NMI and the published p" \
  || bad "pancancer.tsv: $(cat g1/pancancer.tsv)"
"$H5SAME" g1/results.h5 g1/results.h5 /tasks/BRCA_baseline/summary/nmi \
  /tasks/GBM_ae_D8_lr1e-3_e5_h64-32_s1/models/ae/latent >/dev/null \
  && ok "results.h5 holds every task" || bad "results.h5 incomplete"
grep -q "ranks idle" err && ok "throughput and idle fraction logged" || bad "no idle fraction"

# A repeat skips every task and writes the same summary.
cp g1/summary.tsv first.tsv
expect_ok 2 sweep "${S[@]}" --group-size 1 --out g1
[ "$(grep -c "already done" err)" -eq 8 ] && ok "repeat: 8 tasks skipped" || bad "repeat reran tasks"
cmp -s first.tsv g1/summary.tsv && ok "repeat: same summary" || bad "repeat changed the summary"

# One group of 2 ranks: the same results (reproducible training), seconds aside.
expect_ok 2 sweep "${S[@]}" --group-size 2 --out g2
cut -f1-13,15- g1/summary.tsv | sort >a.tsv
cut -f1-13,15- g2/summary.tsv | sort >b.tsv
cmp -s a.tsv b.tsv && ok "2 groups of 1 and 1 group of 2 give the same summary" \
  || bad "summaries differ by group layout: $(diff a.tsv b.tsv | head -4)"

# SIGKILL of the whole sweep during its tasks, then a resume: the uninterrupted summary.
LONG=("${S[@]}" --set sweep.epochs=300 --set train.checkpoint_every=1)
expect_ok 2 sweep "${LONG[@]}" --group-size 1 --out full
"$MPIEXEC" -n 2 "$OVQ" sweep "${LONG[@]}" --group-size 1 --out kill >out 2>err </dev/null &
pid=$!
for _ in $(seq 1 300); do grep -q "epoch 50/" err 2>/dev/null && break; sleep 0.1; done
kill -KILL $pid; pkill -KILL -f "oncovq sweep.*--out kill"; wait $pid 2>/dev/null
[ ! -e kill/summary.tsv ] && ok "killed sweep left no summary" || bad "killed sweep wrote a summary"
expect_ok 2 sweep "${LONG[@]}" --group-size 1 --out kill
cut -f1-13,15- full/summary.tsv | sort >a.tsv
cut -f1-13,15- kill/summary.tsv | sort >b.tsv
cmp -s a.tsv b.tsv && ok "resumed after SIGKILL: the uninterrupted summary" \
  || bad "resumed summary differs: $(diff a.tsv b.tsv | head -4)"

# A task that fails is recorded and the others finish: k = 20 is more than GBM's 17 samples.
expect_ok 2 sweep "${S[@]}" --set sweep.models=vqvae --set sweep.codebook_size=4 \
  --set cluster.k_min=20 --set cluster.k_max=20 --out fail
[ "$(grep -c "failed after" err)" -eq 2 ] && grep -q "^GBM_baseline	k = 20" fail/failed.tsv \
  && grep -q "^BRCA	" fail/summary.tsv && ! grep -q "^GBM	" fail/summary.tsv \
  && grep -q "GBM_baseline	GBM	baseline.*failed" fail/tasks.tsv \
  && ok "GBM's 2 tasks failed and were recorded, BRCA's finished: $(sed -n 2p fail/failed.tsv | cut -c1-90)" \
  || bad "failed tasks not recorded as expected: $(cat fail/failed.tsv)"

# Bad grids: clear messages, exit non-zero on every rank, nothing written.
expect_fail 2 "no sample of cancer type 'XYZ'" sweep "${S[@]}" --set sweep.cancers=BRCA,XYZ --out bad1
expect_fail 2 "sweep.models: unknown model 'gan'" sweep "${S[@]}" --set sweep.models=gan --out bad2
expect_fail 2 "train.lr = 11 is out of range" sweep "${S[@]}" --set sweep.lr=11 --out bad3
expect_fail 2 "sweep.epochs: 'x' is not a positive number" sweep "${S[@]}" --set sweep.epochs=x --out bad4
[ ! -e bad1 ] && [ ! -e bad3 ] && ok "bad grids wrote nothing" || bad "bad grid left output"
finish
