#!/usr/bin/env bash
# Bad inputs to the CLI: each gives a clear message and a non-zero exit on every rank, without
# hanging, and leaves no partial output. Usage: cli_errors.sh OVQ H5SAME SCRATCH_DIR NP
OVQ=$1 H5SAME=$2 DIR=$3 NP=$4
source "$(dirname "$0")/lib.sh"
rm -rf "$DIR" && mkdir -p "$DIR"

expect_ok 2 synth --cancers BRCA,GBM --scale 0.05 --genes 200 --mirnas 20 --out "$DIR/good.h5"
expect_ok 1 --version
grep -q "^oncovq [0-9]" "$DIR/out" && ok "version printed" || bad "no version"
expect_ok 1 --help
grep -q "synth" "$DIR/out" && ok "help lists synth" || bad "help lacks synth"
expect_ok 2 synth --help
expect_ok 2 info --help

for np in $NP; do
  expect_fail $np "cannot open" info "$DIR/missing.h5"
  echo "sample	a	b" >"$DIR/text.h5"
  expect_fail $np "not an HDF5 file" info "$DIR/text.h5"
  : >"$DIR/empty.h5"
  expect_fail $np "not an HDF5 file" info "$DIR/empty.h5"
  rm -f "$DIR/noschema.h5"
  h5copy -i "$DIR/good.h5" -o "$DIR/noschema.h5" -s /expression -d /expression
  expect_fail $np "not an OncoVQ cohort file" info "$DIR/noschema.h5"
  head -c 20000 "$DIR/good.h5" >"$DIR/truncated.h5"
  expect_fail $np "truncated.h5" info "$DIR/truncated.h5"
  expect_fail $np "no sample of cancer type 'PRAD'" info --cancer PRAD "$DIR/good.h5"
  expect_fail $np "a cohort file is required" info
  expect_fail $np "unknown option '--bogus'" info --bogus "$DIR/good.h5"

  expect_fail $np "--out is required" synth --scale 0.1
  expect_fail $np "synth.scale = 'abc' is not a finite number" synth --scale abc --out "$DIR/x.h5"
  expect_fail $np "synth.scale = 0 is out of range" synth --scale 0 --out "$DIR/x.h5"
  expect_fail $np "unknown cancer type 'FOO'" synth --cancers BRCA,FOO --out "$DIR/x.h5"
  expect_fail $np "'BRCA' is listed twice" synth --cancers BRCA,BRCA --out "$DIR/x.h5"
  expect_fail $np "synth.genes = 5 is out of range" synth --genes 5 --out "$DIR/x.h5"
  expect_fail $np "unknown key 'nokey'" synth --set synth.nokey=1 --out "$DIR/x.h5"
  expect_fail $np "cannot open config file" synth --config "$DIR/none.ini" --out "$DIR/x.h5"
  printf '[synth]\nscale = 0.1\nbogus = 2\n' >"$DIR/bad.ini"
  expect_fail $np "bad.ini:3: unknown key 'bogus'" synth --config "$DIR/bad.ini" --out "$DIR/x.h5"
  expect_fail $np "unknown option '--bogus'" synth --bogus --out "$DIR/x.h5"
  expect_fail $np "--scale needs a value" synth --out "$DIR/x.h5" --scale
  expect_fail $np "cannot write output" synth --scale 0.05 --genes 200 --mirnas 0 \
    --cancers GBM --out "$DIR/no/such/dir/x.h5"
  expect_fail $np "not a command" frobnicate
done
[ -e "$DIR/x.h5" ] && bad "a failed synth left $DIR/x.h5"

# A failed run must not touch an existing output file of the same name.
cp "$DIR/good.h5" "$DIR/keep.h5"
expect_fail $NP "unknown cancer type" synth --cancers XX --out "$DIR/keep.h5"
"$H5SAME" "$DIR/good.h5" "$DIR/keep.h5" >/dev/null && ok "existing output untouched" \
  || bad "existing output changed by a failed run"
ls "$DIR" | grep -q part- && bad "temporary files left behind: $(ls "$DIR" | grep part-)"
finish
