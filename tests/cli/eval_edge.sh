#!/usr/bin/env bash
# oncovq eval on degenerate input: a cohort where every sample is censored, no sample has a
# published label, one gene is constant and one sample is far from the others (k-means gives it a
# cluster of its own), with a GMT naming unknown genes. The evaluation must succeed with notes in
# the log, the same tables and results file at 1 and 2 ranks, NA (never NaN) in the tables; a bad
# interaction file is refused naming file:line, leaving no output.
# Usage: eval_edge.sh OVQ H5SAME SCRATCH_DIR
OVQ=$1 H5SAME=$2 DIR=$3
source "$(dirname "$0")/lib.sh"
rm -rf "$DIR" && mkdir -p "$DIR"
cd "$DIR" || exit 1

# 31 samples in two groups plus sample 31, shifted by 5 on every non-constant feature (genes up,
# miRNAs down, so DE miRNAs and genes are anti-correlated); genes G01..G20 (G20 constant),
# miRNAs hsa-mir-1..6; deterministic noise from a formula.
awk -v genes=20 -v mirnas=6 -v n=31 'function v(i, j, base, s) {
    if (s > 0 && j == genes) return 5
    return base + s * ((i <= 15 ? 1.5 * (j % 3 == 0) : -1.0 * (j % 4 == 0)) + (i == n ? 5 : 0)) \
           + ((i * 37 + j * 11) % 17) / 17
  }
  BEGIN {
    printf "sample" >"mrna.tsv"; printf "sample" >"mirna.tsv"
    printf "sample\tcancer\tlabel\tos_time\tos_event\n" >"clin.tsv"
    for (i = 1; i <= n; i++) {
      id = sprintf("TCGA-AA-%04d-01", i)
      printf "\t%s", id >"mrna.tsv"; printf "\t%s", id >"mirna.tsv"
      printf "%s\tBRCA\t\t%d\t0\n", id, 100 + 7 * i >"clin.tsv"
    }
    printf "\n" >"mrna.tsv"; printf "\n" >"mirna.tsv"
    for (j = 1; j <= genes; j++) {
      printf "G%02d|%d", j, 1000 + j >"mrna.tsv"
      for (i = 1; i <= n; i++) printf "\t%.4f", v(i, j, 6, 1) >"mrna.tsv"
      printf "\n" >"mrna.tsv"
    }
    for (j = 1; j <= mirnas; j++) {
      printf "hsa-mir-%d", j >"mirna.tsv"
      for (i = 1; i <= n; i++) printf "\t%.4f", v(i, j, 12, -1) >"mirna.tsv"
      printf "\n" >"mirna.tsv"
    }
  }'
printf 'setA\td\tG01\tG02\tG03\tNOTAGENE\tALSONOT\nsetB\td\tG04\tG05\tG06\tG07\tG08\tG09\n' >s.gmt
printf '[eval]\nnetwork_r = 0.3\nde_lfc = 0.5\n' >eval.ini

expect_ok 1 import --mrna mrna.tsv --mirna mirna.tsv --clinical clin.tsv --out c.h5
expect_ok 1 cluster --input c.h5 --features raw --k 3 --out k.h5
expect_fail 1 "unknown key 'no_such_key' in section [eval]" eval --input k.h5 \
  --set eval.no_such_key=1 --out x.h5
ARGS=(--input k.h5 --cohort c.h5 --gmt s.gmt --config eval.ini --set prep.zero_fraction=0.2)
expect_ok 1 eval "${ARGS[@]}" --out e1.h5
expect_ok 2 eval "${ARGS[@]}" --out e2.h5
grep -q "eval.network_r=0.3" err && ok "--config over the clusters file's config" \
  || bad "--config eval.ini not applied"
for needle in "no sample has a published label" "no events" "has one sample" \
  "constant over the samples" "name no tested gene"; do
  grep -q "$needle" err && ok "note in the log: $needle" || bad "no note '$needle' in the log"
done
for t in agreement flow survival pairs cox km de enrichment network; do
  [ -f e2_$t.tsv ] && cmp -s e1_$t.tsv e2_$t.tsv && ok "table $t identical at 1 and 2 ranks" \
    || bad "table $t missing or different between 1 and 2 ranks"
done
"$H5SAME" e1.h5 e2.h5 >/dev/null && ok "EVAL.h5 identical at 1 and 2 ranks" \
  || bad "EVAL.h5 differs between 1 and 2 ranks"
awk -F'\t' 'NR > 1 && $4 == 1 { found = 1 } END { exit !found }' e2_de.tsv \
  && ok "a cluster of one sample" || bad "no cluster of one sample in the DE table"
grep -q "no events" e2_survival.tsv && ok "all censored: noted in the survival table" \
  || bad "no note on censoring in the survival table"
[ "$(wc -l <e2_agreement.tsv)" = 1 ] && ok "no labels: agreement table empty" \
  || bad "agreement rows without labels"
[ "$(wc -l <e2_network.tsv)" -gt 1 ] && ok "network edges found" || bad "no network edges"
grep -qi "nan" e2_*.tsv && bad "NaN in an eval table" || ok "no NaN in the eval tables"
grep -q "NA" e2_survival.tsv e2_km.tsv e2_cox.tsv e2_de.tsv && ok "NA where undefined" || true

# Interaction lists: a short line and an empty name are refused with file:line, no output.
printf 'mirna\tgene\nhsa-mir-1\tG01\nhsa-mir-2\n' >bad.tsv
expect_fail 2 "bad.tsv:3" eval "${ARGS[@]}" --set eval.interactions=bad.tsv --out x.h5
printf 'mirna\tgene\nhsa-mir-1\tG01\n\tG02\n' >empty.tsv
expect_fail 2 "empty.tsv:3: empty miRNA or gene name" eval "${ARGS[@]}" \
  --set eval.interactions=empty.tsv --out x.h5
[ -e x.h5 ] || [ -e x_de.tsv ] && bad "output after an error" || ok "no output after errors"
printf 'mirna\tgene\nhsa-mir-1\tG01\nhsa-mir-2\tG02\nhsa-mir-9\tNOPE\n' >inter.tsv
expect_ok 2 eval "${ARGS[@]}" --set eval.interactions=inter.tsv --out i2.h5
grep -q "1 name a miRNA or gene not among the kept features" err \
  && ok "unknown interaction names counted" || bad "unknown interaction names not reported"
expect_fail 2 "--gmt needs --cohort" eval --input k.h5 --gmt s.gmt --out x.h5
finish
