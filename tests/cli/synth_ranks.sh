#!/usr/bin/env bash
# End to end: `oncovq synth` writes byte-identical datasets at 1, 2 and 4 ranks; `oncovq info`
# prints the same summary at 1 and 2 ranks; --format tsv writes Xena-style files of the right
# shape. Usage: synth_ranks.sh OVQ H5SAME SCRATCH_DIR
OVQ=$1 H5SAME=$2 DIR=$3
source "$(dirname "$0")/lib.sh"
rm -rf "$DIR" && mkdir -p "$DIR"
SMALL=(--scale 0.05 --genes 400 --mirnas 60 --seed 7)

for np in 1 2 4; do
  expect_ok $np synth "${SMALL[@]}" --out "$DIR/s$np.h5"
done
for np in 2 4; do
  if "$H5SAME" "$DIR/s1.h5" "$DIR/s$np.h5" >"$DIR/out" 2>&1; then
    ok "datasets of s1.h5 and s$np.h5 identical: $(tail -1 "$DIR/out")"
  else
    bad "s1.h5 and s$np.h5 differ: $(head -3 "$DIR/out")"
  fi
done

# A different seed must give a different cohort (the comparison can fail).
expect_ok 2 synth "${SMALL[@]}" --seed 8 --out "$DIR/seed8.h5"
if "$H5SAME" "$DIR/s1.h5" "$DIR/seed8.h5" >"$DIR/out" 2>&1; then
  bad "seeds 7 and 8 gave identical cohorts"
else
  ok "seeds 7 and 8 differ"
fi

# info at 1 and 2 ranks on the file written at 4.
run 1 info "$DIR/s4.h5"; cp "$DIR/out" "$DIR/info1"
run 2 info "$DIR/s4.h5"; cp "$DIR/out" "$DIR/info2"
if [ $RC -eq 0 ] && cmp -s "$DIR/info1" "$DIR/info2" && grep -q "^cancers    10" "$DIR/info1"; then
  ok "info identical at 1 and 2 ranks ($(wc -l <"$DIR/info1") lines)"
else
  bad "info differs between 1 and 2 ranks or lacks 10 cancers"
  diff "$DIR/info1" "$DIR/info2" | head
fi
expect_ok 2 info --cancer BRCA "$DIR/s4.h5"
if grep -q "^  BRCA" "$DIR/out" && ! grep -q "^  GBM" "$DIR/out"; then ok "info --cancer BRCA";
else bad "info --cancer BRCA shows other cancers"; fi

# Xena-style TSV output: header = "sample" + N sample ids, G (M) feature rows, N clinical rows.
expect_ok 2 synth "${SMALL[@]}" --format tsv --out "$DIR/x.h5"
N=$(grep "^samples" "$DIR/info1" | awk '{print $2}')
check_tsv() { # file rows cols
  local rows cols
  rows=$(wc -l <"$1")
  cols=$(head -1 "$1" | awk -F'\t' '{print NF}')
  if [ "$rows" -eq "$2" ] && [ "$cols" -eq "$3" ] && awk -F'\t' -v c="$3" 'NF != c {exit 1}' "$1"; then
    ok "$(basename "$1"): $rows lines x $cols columns"
  else
    bad "$(basename "$1"): $rows lines x $cols columns, expected $2 x $3"
  fi
}
check_tsv "$DIR/x_mrna.tsv" 401 $((N + 1))
check_tsv "$DIR/x_mirna.tsv" 61 $((N + 1))
check_tsv "$DIR/x_clinical.tsv" $((N + 1)) 7
if head -1 "$DIR/x_clinical.tsv" | grep -q "^sample	cancer	label	os_time	os_event"; then
  ok "clinical header"; else bad "clinical header: $(head -1 "$DIR/x_clinical.tsv")"; fi
# Sample ids: unique 15-character TCGA barcodes ending in -01 (primary tumour).
if tail -n +2 "$DIR/x_clinical.tsv" | cut -f1 | sort | uniq -d | grep -q .; then
  bad "duplicate sample ids"
elif tail -n +2 "$DIR/x_clinical.tsv" | cut -f1 | grep -qvE '^TCGA-[A-Z0-9]{2}-[A-Z0-9]{4}-01$'; then
  bad "sample ids are not TCGA-XX-YYYY-01 barcodes"
else ok "sample ids are unique TCGA barcodes"; fi
ls "$DIR" | grep -q part- && bad "temporary files left behind: $(ls "$DIR" | grep part-)"
finish
