#!/usr/bin/env bash
# oncovq import and prep end to end: synthetic Xena files -> cohort at 1 and 2 ranks (identical
# files), prep at 1 and 2 ranks (identical), then every bad input of the import issue: a clear
# message naming the file (and line / column / sample), a non-zero exit on all ranks without a
# hang, and no output file (an existing one is left untouched).
# Usage: import.sh OVQ H5SAME SCRATCH_DIR
OVQ=$1 H5SAME=$2 DIR=$3
source "$(dirname "$0")/lib.sh"
rm -rf "$DIR" && mkdir -p "$DIR"
cd "$DIR" || exit 1

expect_ok 2 synth --cancers BRCA,GBM --scale 0.1 --genes 400 --mirnas 40 --format tsv --out syn.h5
ARGS=(--mrna syn_mrna.tsv --mirna syn_mirna.tsv --clinical syn_clinical.tsv)
expect_ok 1 import "${ARGS[@]}" --out imp1.h5
expect_ok 2 import "${ARGS[@]}" --out imp2.h5
grep -q "already on a log scale" err && ok "log scale detected" || bad "no log-scale message"
"$H5SAME" imp1.h5 imp2.h5 >/dev/null && ok "import: same file at 1 and 2 ranks" \
  || bad "import differs between 1 and 2 ranks"
gzip -k syn_mrna.tsv
expect_ok 2 import --mrna syn_mrna.tsv.gz --mirna syn_mirna.tsv --clinical syn_clinical.tsv --out impgz.h5
"$H5SAME" imp1.h5 impgz.h5 /expression/mrna /samples/id >/dev/null && ok "gzip input: same data" \
  || bad "gzip input differs"
expect_ok 1 info imp2.h5
grep -q "BRCA" out && ok "info reads the imported cohort" || bad "info lacks BRCA"

expect_ok 1 prep --cohort imp2.h5 --cancer BRCA --set prep.select=mad --set prep.top_mrna=200 --out prep1.h5
expect_ok 2 prep --cohort imp2.h5 --cancer BRCA --set prep.select=mad --set prep.top_mrna=200 --out prep2.h5
"$H5SAME" prep1.h5 prep2.h5 /prep/x /prep/features /prep/mean /prep/scale >/dev/null \
  && ok "prep: same matrix at 1 and 2 ranks" || bad "prep differs between 1 and 2 ranks"

# ---- bad input ----
H="sample	TCGA-AA-0001-01	TCGA-AA-0002-01	TCGA-AA-0003-01"
printf 'sample\tcancer\tlabel\tos_time\tos_event\nTCGA-AA-0001-01\tBRCA\tLumA\t10\t1\nTCGA-AA-0002-01\tBRCA\tLumB\t20\t0\nTCGA-AA-0003-01\tBRCA\tBasal\t30\t0\n' >clin.tsv
printf '%s\nG1\t1\t2\t3\nG2\t4\t5\t6\n' "$H" >good.tsv
bad_import() { # NEEDLE FILE [more args]
  local needle=$1 file=$2
  shift 2
  rm -f new.h5
  expect_fail 2 "$needle" import --mrna "$file" --clinical clin.tsv --out new.h5 "$@"
  [ -e new.h5 ] && bad "partial output new.h5 after: $needle" || true
  ls .new.h5* 2>/dev/null | grep -q . && bad "temporary file left after: $needle" || true
}
bad_import "missing.tsv: cannot open" missing.tsv
: >empty.tsv
bad_import "empty.tsv: empty file" empty.tsv
printf '%s\n' "$H" >header_only.tsv
bad_import "header_only.tsv: a header line but no data rows" header_only.tsv
printf '%s\nG1\t1\t2\t3\nG2\t4\t5\n' "$H" >ragged.tsv
bad_import "ragged.tsv:3" ragged.tsv
printf '%s\nG1\t1\t2\t3\nG2\t4\tabc\t6\n' "$H" >text.tsv
bad_import "text.tsv:3" text.tsv
grep -q "column 3" err && ok "non-number: column named" || bad "non-number: no column in message"
printf '%s\nG1\t1\tInf\t3\n' "$H" >inf.tsv
bad_import "inf.tsv:2" inf.tsv
printf 'sample\tTCGA-AA-0001-01\tTCGA-AA-0001-01\nG1\t1\t2\n' >dupsample.tsv
bad_import "appears twice" dupsample.tsv
printf 'sample\tX1\tX2\nG1\t1\t2\n' >nocommon.tsv
bad_import "no samples in common" nocommon.tsv
printf '%s\nG1\t1\t2\t3\nG2\tNA\tNA\tNA\n' "$H" >allna.tsv
bad_import "feature 'G2'" allna.tsv
expect_ok 1 import --mrna allna.tsv --clinical clin.tsv --set import.empty_features=drop --out drop.h5
gzip -c syn_mrna.tsv | head -c 30000 >trunc.tsv.gz
bad_import "trunc.tsv.gz: truncated gzip" trunc.tsv.gz
printf 'sample\tcancer\nTCGA-AA-0001-01\tBRCA\nTCGA-AA-0001-01\tBRCA\n' >dupclin.tsv
rm -f new.h5
expect_fail 2 "dupclin.tsv:3" import --mrna good.tsv --clinical dupclin.tsv --out new.h5
printf 'sample\tcancer\tos_time\tos_event\nTCGA-AA-0001-01\tBRCA\t10\tmaybe\n' >badevent.tsv
expect_fail 2 "badevent.tsv:2: column 4" import --mrna good.tsv --clinical badevent.tsv --out new.h5
expect_fail 1 "no clinical table" import --mrna good.tsv --out new.h5
expect_fail 1 "import.layout = 'sideways' is not one of" import --mrna good.tsv --clinical clin.tsv --layout sideways --out new.h5
expect_fail 2 "nodir/x.h5" import --mrna good.tsv --clinical clin.tsv --out nodir/x.h5
cp imp1.h5 keep.h5
expect_fail 2 "ragged.tsv:3" import --mrna ragged.tsv --clinical clin.tsv --out keep.h5
"$H5SAME" imp1.h5 keep.h5 >/dev/null && ok "existing output untouched" || bad "existing output changed"

# Accepted: CRLF line endings, a UTF-8 BOM, a line of 2 MB (one sample column per value).
printf '\xef\xbb\xbf%s\r\nG1\t1\t2\t3\r\nG2\t4\t5\t6\r\n' "$H" >crlf.tsv
expect_ok 2 import --mrna crlf.tsv --clinical clin.tsv --out crlf.h5
expect_ok 1 import --mrna good.tsv --clinical clin.tsv --out good.h5
"$H5SAME" good.h5 crlf.h5 /expression/mrna /samples/id >/dev/null && ok "CRLF + BOM read as LF" \
  || bad "CRLF + BOM file differs"
awk 'BEGIN { n = 200000; printf "sample"; for (i = 0; i < n; i++) printf "\tS%d", i; printf "\n";
             printf "G1"; for (i = 0; i < n; i++) printf "\t%d.25", i % 7; printf "\n";
             printf "sample\tcancer\n"  > "longclin.tsv";
             for (i = 0; i < n; i += 1000) printf "S%d\tBRCA\n", i > "longclin.tsv" }' >long.tsv
expect_ok 2 import --mrna long.tsv --clinical longclin.tsv --set import.label_column=none --out long.h5
grep -q "imported 200 samples" err && ok "2 MB line read" || bad "long line: wrong sample count"
finish
