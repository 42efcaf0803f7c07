#!/usr/bin/env bash
# oncovq cluster end to end: latents of a trained model and the preprocessed matrix, the same
# labels at 1 and 2 ranks, the per-k table, and bad requests (clear message, non-zero exit, no
# output). Usage: cluster.sh OVQ H5SAME SCRATCH_DIR
OVQ=$1 H5SAME=$2 DIR=$3
source "$(dirname "$0")/lib.sh"
rm -rf "$DIR" && mkdir -p "$DIR"
cd "$DIR" || exit 1

expect_ok 2 synth --cancers BRCA --scale 0.1 --genes 300 --mirnas 30 --out c.h5
expect_ok 2 train --cohort c.h5 --epochs 3 --set model.hidden=64,32 --set model.latent=8 \
  --set model.codebook_size=8 --set train.batch=32 --out m.h5
expect_ok 1 cluster --input m.h5 --out k1.h5
expect_ok 2 cluster --input m.h5 --out k2.h5
grep -q "highest mean silhouette" err && ok "k chosen by silhouette" || bad "no choice of k logged"
"$H5SAME" k1.h5 k2.h5 /clusters/kmeans/labels /clusters/kmeans/k3/labels >/dev/null \
  && ok "labels identical at 1 and 2 ranks" || bad "labels differ between 1 and 2 ranks"
# Without --out the clusters go back into the results file, whose model is kept.
cp m.h5 wb.h5
expect_ok 2 cluster --input wb.h5
"$H5SAME" wb.h5 k2.h5 /clusters/kmeans/labels /clusters/kmeans/k3/labels >/dev/null \
  && "$H5SAME" wb.h5 m.h5 /models/vqvae/params /models/vqvae/latent /samples/id >/dev/null \
  && ok "clusters written back into the results file, its model kept" \
  || bad "write-back lost data or differs from --out"
expect_fail 2 "is a cohort file: give --out" cluster --input c.h5 --features raw
expect_ok 2 cluster --input c.h5 --features pca --set cluster.pca_components=5 --k 3 --out p.h5
grep -q "5 principal components" err && ok "--features pca clusters 5 principal components" \
  || bad "--features pca"
# Spectral over a range of k shares one eigendecomposition: its labels at k = 4 are those of a
# run at k = 4 alone.
expect_ok 2 cluster --input m.h5 --methods spectral --set cluster.k_min=2 --set cluster.k_max=6 \
  --set log.level=debug --out sr.h5
[ "$(grep -c "spectral: eigenpairs for k <=" err)" = 2 ] \
  && ok "spectral k = 2..6: two eigendecompositions (k <= 2, then k <= 6), not five" \
  || bad "spectral k = 2..6: $(grep -c "spectral: eigenpairs" err) eigendecompositions"
expect_ok 2 cluster --input m.h5 --methods spectral --k 4 --out s4.h5
"$H5SAME" sr.h5 s4.h5 /clusters/spectral/k4/labels >/dev/null \
  && ok "spectral k = 2..6 (one embedding) gives the k = 4 labels of a k = 4 run" \
  || bad "spectral labels at k = 4 differ between a k range and k = 4 alone"
# Every method (and consensus clustering) gives the same labels at 1 and 2 ranks.
ALL=(--methods kmeans,gmm,spectral,snf,hclust,nmf,icluster --k 3 --set cluster.nmf_runs=5
     --set cluster.icluster_burnin=50 --set cluster.icluster_draws=50 --set cluster.consensus_reps=8)
expect_ok 1 cluster --input m.h5 "${ALL[@]}" --out a1.h5
expect_ok 2 cluster --input m.h5 "${ALL[@]}" --out a2.h5
for m in kmeans gmm spectral snf hclust nmf icluster; do
  "$H5SAME" a1.h5 a2.h5 /clusters/$m/labels /clusters/$m/choose_k/cdf_area >/dev/null \
    && ok "$m + consensus: same labels at 1 and 2 ranks" || bad "$m + consensus differs between 1 and 2 ranks"
done
# Evaluation of the clusters: the same tables at 1 and 2 ranks, no NaN in them.
expect_ok 1 eval --input a1.h5 --out e1.h5
expect_ok 2 eval --input a2.h5 --out e2.h5
for t in agreement flow survival pairs cox km; do
  [ -s e2_$t.tsv ] && ok "eval table $t written" || bad "eval table $t missing"
  cmp -s e1_$t.tsv e2_$t.tsv && ok "eval table $t identical at 1 and 2 ranks" || bad "eval table $t differs"
done
grep -qi "nan" e2_*.tsv && bad "NaN in an eval table" || ok "no NaN in the eval tables"
grep -q "true_subtype" e2_agreement.tsv && ok "agreement with the true subtypes reported" \
  || bad "no true-subtype agreement"
# Differential expression and enrichment (a GMT with an unknown gene) at 1 and 2 ranks.
awk 'BEGIN { printf "setA\td"; for (i = 1; i <= 40; i++) printf "\tSG%05d", i; printf "\tNOTAGENE\n";
             printf "setB\td"; for (i = 100; i <= 160; i++) printf "\tSG%05d", i; printf "\n" }' >s.gmt
expect_ok 1 eval --input a1.h5 --methods kmeans,gmm --cohort c.h5 --gmt s.gmt --out d1.h5
expect_ok 2 eval --input a2.h5 --methods kmeans,gmm --cohort c.h5 --gmt s.gmt --out d2.h5
for t in de enrichment; do
  [ -s d2_$t.tsv ] && cmp -s d1_$t.tsv d2_$t.tsv && ok "eval $t table identical at 1 and 2 ranks" \
    || bad "eval $t table missing or different between 1 and 2 ranks"
done
grep -qi "nan" d2_de.tsv d2_enrichment.tsv && bad "NaN in the DE / enrichment tables" || ok "no NaN in DE / enrichment"
expect_ok 2 synth --cancers GBM --scale 0.1 --genes 300 --mirnas 30 --out other.h5
expect_fail 2 "its samples are not those of" eval --input a2.h5 --cohort other.h5 --out d3.h5
# Latent features: correlations, groups, heatmap matrix, PCA map; identical at 1 and 2 ranks.
expect_ok 1 eval --input a1.h5 --methods kmeans --latent m.h5 --out l1.h5
expect_ok 2 eval --input a2.h5 --methods kmeans --latent m.h5 --out l2.h5
for t in latent_corr latent_groups latent_heatmap maps pca_variance; do
  [ -s l2_$t.tsv ] && cmp -s l1_$t.tsv l2_$t.tsv && ok "eval $t identical at 1 and 2 ranks" \
    || bad "eval $t missing or different between 1 and 2 ranks"
done
[ "$(cut -f2 l2_latent_groups.tsv | tail -n +2 | sort -u | wc -l)" = 3 ] && ok "3 latent feature groups" \
  || bad "not 3 latent feature groups"
expect_fail 2 "--gmt needs --cohort" eval --input a2.h5 --gmt s.gmt --out d3.h5
expect_fail 2 "/clusters/bogus/labels is missing" eval --input a2.h5 --methods bogus --out e3.h5
[ -e e3.h5 ] || [ -e e3_agreement.tsv ] && bad "eval left output after an error" || ok "no eval output after an error"
expect_ok 2 prep --cohort c.h5 --out p.h5
expect_ok 2 cluster --input p.h5 --features raw --k 4 --out kr.h5
grep -q "(2 views)" err && ok "raw data: mRNA and miRNA views" || bad "raw data not split into views"
expect_ok 1 cluster --input c.h5 --features raw --k 4 --out kc.h5
"$H5SAME" kr.h5 kc.h5 /clusters/kmeans/labels >/dev/null \
  && ok "cohort file preprocessed on the fly = the prep file" || bad "cohort input differs from prep input"
expect_fail 1 "is a cohort file: it has no latent features" cluster --input c.h5 --out x.h5
expect_ok 2 cluster --input p.h5 --features raw --methods snf,icluster --k 3 \
  --set cluster.icluster_burnin=50 --set cluster.icluster_draws=50 --out kv.h5

expect_fail 2 "unknown method 'bogus'" cluster --input m.h5 --methods kmeans,bogus --out x.h5
expect_fail 2 "/prep/x is missing" cluster --input m.h5 --features raw --out x.h5
expect_fail 2 "/models/ae/latent is missing" cluster --input m.h5 --model ae --out x.h5
expect_fail 2 "k = 500: needs 2 <= k" cluster --input m.h5 --k 500 --out x.h5
expect_fail 1 "cluster.k = 1" cluster --input m.h5 --k 1 --out x.h5
[ -e x.h5 ] && bad "output written after an error" || ok "no output after errors"
finish
