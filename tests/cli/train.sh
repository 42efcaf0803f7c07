#!/usr/bin/env bash
# End to end: `oncovq train` for each model type writes a results file with latents for every
# sample; reproducible mode gives byte-identical weights and latents at 1 and 2 ranks; SIGUSR1 to
# mpirun interrupts with exit 3 and --resume ends identical to an uninterrupted run; bad settings
# give clear errors. Usage: train.sh OVQ H5SAME SCRATCH_DIR
OVQ=$1 H5SAME=$2 DIR=$3
source "$(dirname "$0")/lib.sh"
rm -rf "$DIR" && mkdir -p "$DIR"
SMALL=(--set model.hidden=64,32 --set model.res_width=16 --set model.latent=16
       --set model.codebook_size=16 --set train.batch=64)

expect_ok 2 synth --cancers BRCA --scale 0.2 --genes 300 --mirnas 40 --out "$DIR/c.h5"
N=220
for model in vqvae ae vae; do
  expect_ok 2 train --cohort "$DIR/c.h5" --model $model --epochs 3 "${SMALL[@]}" --out "$DIR/$model.h5"
  grep -q "epoch 3/3" "$DIR/err" && ok "$model: per-epoch progress logged" || bad "$model: no epoch log"
  if h5ls -r "$DIR/$model.h5" | grep -q "^/models/$model/latent *Dataset {$N, 16}"; then
    ok "$model: latent [$N][16] written"
  else
    bad "$model: no /models/$model/latent {$N, 16}: $(h5ls -r "$DIR/$model.h5" | grep latent)"
  fi
done
h5ls -r "$DIR/vqvae.h5" | grep -q "^/models/vqvae/codes *Dataset {$N, 1}" && ok "vqvae: codes written" \
  || bad "vqvae: no codes"
h5ls -r "$DIR/vqvae.h5" | grep -q "^/samples/true_subtype" && ok "samples copied" || bad "no samples"

# Reproducible mode: identical weights and latents at 1 and 2 ranks.
for np in 1 2; do
  expect_ok $np train --cohort "$DIR/c.h5" --epochs 2 "${SMALL[@]}" --set train.reproducible=true \
    --out "$DIR/repro$np.h5"
done
if "$H5SAME" "$DIR/repro1.h5" "$DIR/repro2.h5" /models/vqvae/params /models/vqvae/latent \
     /models/vqvae/z_q /models/vqvae/codes /models/vqvae/history/loss >"$DIR/out"; then
  ok "reproducible: 1 and 2 ranks byte-identical ($(tail -1 "$DIR/out"))"
else
  bad "reproducible: 1 and 2 ranks differ: $(head -2 "$DIR/out")"
fi

# Interrupt with SIGUSR1 (what SLURM sends before the time limit), then resume.
LONG=(--cohort "$DIR/c.h5" --epochs 600 "${SMALL[@]}" --set log.level=warn)
expect_ok 2 train "${LONG[@]}" --out "$DIR/full.h5"
resumed=0
for delay in 1 0.5 0.2; do
  rm -f "$DIR/cut.h5" "$DIR/cut.h5.ckpt"
  # mpiexec itself (not under timeout, which would die of the signal) forwards SIGUSR1 to the ranks.
  "$MPIEXEC" -n 2 "$OVQ" train "${LONG[@]}" --out "$DIR/cut.h5" >"$DIR/out" 2>"$DIR/err" </dev/null &
  pid=$!
  sleep $delay
  kill -USR1 $pid 2>/dev/null
  wait $pid
  rc=$?
  if [ $rc -eq 3 ]; then
    grep -q "signal received" "$DIR/err" && ok "SIGUSR1 after ${delay} s: exit 3, checkpoint written" \
      || bad "exit 3 without the signal message"
    [ -e "$DIR/cut.h5" ] && bad "an interrupted run left a results file"
    expect_ok 2 train "${LONG[@]}" --out "$DIR/cut.h5" --resume
    if "$H5SAME" "$DIR/full.h5" "$DIR/cut.h5" /models/vqvae/params /models/vqvae/latent \
         /models/vqvae/history/loss >"$DIR/out"; then
      ok "resumed run identical to the uninterrupted one"
    else
      bad "resumed run differs: $(head -2 "$DIR/out")"
    fi
    resumed=1
    break
  fi
  echo "     (run finished before the signal at ${delay} s, exit $rc; trying sooner)"
done
[ $resumed -eq 1 ] || bad "could not interrupt a run"

# embed: the trained model applied to the same cohort gives the training latents again; a
# cohort without the model's features is refused.
expect_ok 2 embed --results "$DIR/vqvae.h5" --cohort "$DIR/c.h5" --out "$DIR/emb.h5"
if "$H5SAME" "$DIR/vqvae.h5" "$DIR/emb.h5" /models/vqvae/latent /models/vqvae/codes >"$DIR/out"; then
  ok "embed reproduces the training latents"
else
  bad "embed differs from training latents: $(head -2 "$DIR/out")"
fi
expect_ok 2 synth --cancers BRCA --scale 0.05 --genes 200 --mirnas 40 --out "$DIR/other.h5"
expect_fail 2 "features of the model are not in the cohort" embed --results "$DIR/vqvae.h5" \
  --cohort "$DIR/other.h5" --out "$DIR/x.h5"
expect_fail 2 "not an OncoVQ results file" embed --results "$DIR/c.h5" --cohort "$DIR/c.h5" \
  --out "$DIR/x.h5"

expect_fail 2 "data.cohort is not set" train --out "$DIR/x.h5"
expect_fail 2 "cannot open" train --cohort "$DIR/none.h5" --out "$DIR/x.h5"
expect_fail 2 "model.type = 'foo' is not one of vqvae|ae|vae" train --cohort "$DIR/c.h5" \
  --model foo --out "$DIR/x.h5"
expect_fail 2 "model.hidden = 'abc'" train --cohort "$DIR/c.h5" --set model.hidden=abc --out "$DIR/x.h5"
expect_fail 2 "model.groups = 3 does not divide model.latent = 64" train --cohort "$DIR/c.h5" \
  --set model.groups=3 --out "$DIR/x.h5"
expect_fail 2 "cannot open checkpoint" train --cohort "$DIR/c.h5" --out "$DIR/new.h5" --resume
expect_fail 2 "--out is required" train --cohort "$DIR/c.h5"
expect_fail 2 "train.node_ranks = 3 does not divide the 2 ranks" train --cohort "$DIR/c.h5" \
  --set train.node_ranks=3 --out "$DIR/x.h5"
[ -e "$DIR/x.h5" ] && bad "a failed run left x.h5"
finish
