#!/usr/bin/env bash
# Faults (issue 9), each part a ctest of its own (PART = kill | space | nan | ckpt; all if absent):
#  kill   a rank killed with SIGKILL during `oncovq train` (rank 1) and during `oncovq run` (rank 0,
#         the checkpoint writer): the job ends non-zero with mpiexec's message, well within the
#         time limit; the last checkpoint is intact, and --resume (train) or the same command
#         (run) finishes identical to an uninterrupted run. (The whole sweep killed with SIGKILL
#         and resumed is tests/cli/sweep.sh.)
#  space  a full output device (a 2 MiB tmpfs, filled to different levels) under synth, train
#         (checkpoint and results), run: a message naming the file and "no space left on the
#         device", exit 1, no hang, nothing under the final name, no temporary file left, the
#         previous checkpoint kept and loadable; a read-only output directory (the tmpfs
#         remounted read-only; and, as user nobody, a directory without write permission):
#         a clear error before any training, nothing written. Needs root for mount (else those
#         cases are skipped, said in the log).
#  nan    NaN / Inf in the expression: NaN (and NA) are missing values and imputed; Inf, -Inf and
#         1e400 are errors naming the sample and feature (HDF5 cohort, edited with h5py) or the
#         file, line and sample column (TSV import); training that diverges stops naming the
#         epoch and the term, keeps the last good checkpoint (finite, loadable).
#  ckpt   a damaged checkpoint (bytes flipped in its data, in its signature, truncated, emptied,
#         replaced by text, its checksum attribute changed) is refused by --resume on every rank
#         with a clear message, never loaded, never overwritten; `oncovq run` refuses it too.
# Usage: faults.sh OVQ H5SAME SCRATCH_DIR [PART]
OVQ=$1 H5SAME=$2 DIR=$3 PART=${4:-all}
source "$(dirname "$0")/lib.sh"
umount "$DIR/mnt" 2>/dev/null # left mounted by a run that was killed
rm -rf "$DIR" && mkdir -p "$DIR"
cd "$DIR" || exit 1
PY=/usr/bin/python3
have_h5py() { [ -x "$PY" ] && "$PY" -c "import h5py, numpy" 2>/dev/null; }
SMALL=(--set model.hidden=64,32 --set model.latent=8 --set model.codebook_size=8
       --set train.batch=32)
expect_ok 2 synth --cancers BRCA --scale 0.1 --genes 300 --mirnas 30 --out c.h5
[ $RC -eq 0 ] || { finish; exit 1; }

# pid of rank R among the processes whose command line starts with "$OVQ ARGS" (the ranks, not
# mpiexec or timeout, whose command lines start with their own names).
rank_pid() {
  local r=$1 pattern=$2 p
  for p in $(pgrep -f "^$OVQ $pattern"); do
    if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$r"; then
      echo "$p"
      return 0
    fi
  done
  return 1
}

# kill_rank_during RANK EPOCH OUTNAME ARGS...: starts `oncovq ARGS` at 2 ranks in the background,
# waits (at most 60 s) for "epoch EPOCH/" in its log, SIGKILLs rank RANK (found by OUTNAME on its
# command line) and waits for the job. Sets RC (124 = the job hung), SECS (seconds from the kill
# to the end; at most 30 is required) and KILLED (the pid, empty if the rank was not found).
# A job that finished before its rank could be found (a scheduling hiccup on a loaded machine:
# the window is a few seconds) is started again from scratch, at most three times in all.
kill_rank_during() {
  local r=$1 epoch=$2 name=$3 try
  shift 3
  for try in 1 2 3; do
    rm -rf "$DIR/$name" "$DIR/$name.ckpt"
    timeout 120 "$MPIEXEC" -n 2 "$OVQ" "$@" >out 2>err </dev/null &
    local job=$! p="" t0 t_end=$((SECONDS + 60))
    while [ $SECONDS -lt $t_end ]; do
      grep -q "epoch $epoch/" err 2>/dev/null && break
      kill -0 $job 2>/dev/null || break
      sleep 0.05
    done
    p=$(rank_pid "$r" "$1 .*$name")
    t0=$(date +%s.%N)
    if [ -n "$p" ]; then kill -9 "$p"; fi
    wait $job
    RC=$?
    SECS=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    KILLED=$p
    [ -z "$p" ] && [ $RC -eq 0 ] || break
    echo "note: attempt $try: the job finished before rank $r was found; starting it again"
  done
}

# ---- a rank killed during training -----------------------------------------------------------
if [ "$PART" = all ] || [ "$PART" = kill ]; then
  LONG=(--cohort c.h5 --epochs 600 "${SMALL[@]}" --set train.checkpoint_every=1)
  expect_ok 2 train "${LONG[@]}" --out full.h5
  kill_rank_during 1 20 cut.h5 train "${LONG[@]}" --out "$DIR/cut.h5"
  if [ -z "$KILLED" ]; then
    bad "train: could not find rank 1 to kill (finished too soon? exit $RC)"
  elif [ $RC -eq 0 ] || [ $RC -eq 124 ] || awk -v s="$SECS" 'BEGIN { exit !(s > 30) }'; then
    bad "train with rank 1 killed: exit $RC after $SECS s (expected non-zero within 30 s)"
  elif ! grep -q "exited on signal 9" err; then
    bad "train with rank 1 killed: exit $RC without mpiexec's message"
  else
    ok "train, rank 1 SIGKILLed after 20 epochs: job ended in ${SECS} s, exit $RC: $(grep -o 'process rank 1 .*exited on signal 9.*' err | head -1)"
  fi
  [ ! -e cut.h5 ] && ok "no results file from the killed job" || bad "the killed job left cut.h5"
  ls cut.h5.part-* >/dev/null 2>&1 && bad "a temporary results file was left"
  [ -s cut.h5.ckpt ] && ok "checkpoint kept" || bad "no checkpoint after the kill"
  expect_ok 2 train "${LONG[@]}" --out "$DIR/cut.h5" --resume
  grep -q "resuming from .*cut.h5.ckpt at epoch" err && ok "resumed: $(grep -o 'resuming from .*' err)" \
    || bad "did not resume from the checkpoint"
  if "$H5SAME" full.h5 cut.h5 /models/vqvae/params /models/vqvae/latent /models/vqvae/z_q \
       /models/vqvae/codes /models/vqvae/history/loss >h5same.out; then
    ok "resumed train identical to the uninterrupted one ($(tail -1 h5same.out))"
  else
    bad "resumed train differs: $(head -2 h5same.out)"
  fi

  # oncovq run with rank 0 (which writes the checkpoints) killed; the same command resumes.
  RUN=(--cohort c.h5 "${SMALL[@]}" --set train.epochs=600 --set train.checkpoint_every=1
       --set run.models=vqvae --set run.features=vqvae --set cluster.methods=kmeans
       --set cluster.k_min=2 --set cluster.k_max=3 --set eval.tsne=false --set run.report=no)
  expect_ok 2 run "${RUN[@]}" --out rfull
  kill_rank_during 0 20 rcut run "${RUN[@]}" --out "$DIR/rcut"
  if [ -z "$KILLED" ]; then
    bad "run: could not find rank 0 to kill (exit $RC)"
  elif [ $RC -eq 0 ] || [ $RC -eq 124 ] || ! grep -q "exited on signal 9" err \
       || awk -v s="$SECS" 'BEGIN { exit !(s > 30) }'; then
    bad "run with rank 0 killed: exit $RC after $SECS s (expected non-zero with mpiexec's message within 30 s)"
  else
    ok "run, rank 0 SIGKILLed after 20 epochs: job ended in ${SECS} s, exit $RC"
  fi
  [ ! -e rcut/summary.tsv ] && [ ! -e rcut/stages/model_vqvae.h5 ] \
    && ok "no summary or model from the killed run" || bad "the killed run left results"
  [ -s rcut/stages/model_vqvae.h5.ckpt ] && ok "run's checkpoint kept" || bad "run: no checkpoint"
  # A checkpoint write cut short leaves only its temporary name, which nothing reads.
  stale=$(ls rcut/stages/*.part-* 2>/dev/null | tr '\n' ' ')
  [ -n "$stale" ] && echo "     (the killed writer left $stale: a temporary name, never read)"
  expect_ok 2 run "${RUN[@]}" --out rcut
  grep -q "resumed from its checkpoint" err && ok "run resumed from its checkpoint" \
    || bad "run did not resume"
  "$H5SAME" rfull/stages/model_vqvae.h5 rcut/stages/model_vqvae.h5 /models/vqvae/params \
    /models/vqvae/latent >h5same.out && ok "resumed run: weights and latents identical" \
    || bad "resumed run's model differs: $(head -2 h5same.out)"
  cut -f1-13,15- rfull/summary.tsv >a.tsv
  cut -f1-13,15- rcut/summary.tsv >b.tsv
  cmp -s a.tsv b.tsv && ok "resumed run's summary equals the uninterrupted one" \
    || bad "resumed run's summary differs"
fi

# ---- no space left on the device; read-only output ----------------------------------------------
if [ "$PART" = all ] || [ "$PART" = space ]; then
  MNT=$DIR/mnt
  mkdir -p "$MNT"
  if [ "$(id -u)" -eq 0 ] && mount -t tmpfs -o size=2m tmpfs "$MNT" 2>mount.err; then
    trap 'umount "$MNT" 2>/dev/null' EXIT
    trap 'exit 1' INT TERM
    # fill KIB: leaves KIB KiB free on the 2 MiB device.
    fill() {
      rm -rf "${MNT:?}"/*
      [ "$1" -lt 2048 ] && dd if=/dev/zero of="$MNT/filler" bs=1k count=$((2048 - $1)) 2>/dev/null
      return 0
    }
    # full_fail FREE NAME ARGS...: with FREE KiB left, oncovq ARGS must fail with "no space left
    # on the device" naming the output, leave nothing under the final name NAME and no
    # temporary file.
    full_fail() {
      local free=$1 name=$2
      shift 2
      fill "$free"
      expect_fail 2 "no space left on the device" "$@"
      grep -qF -- "$name" err || bad "the message does not name $name: $(grep error err | head -1)"
      [ ! -e "$name" ] || bad "a failed write left $name"
      local left
      left=$(find "$MNT" -name '*.part-*' | tr '\n' ' ')
      [ -z "$left" ] || bad "temporary files left: $left"
    }
    full_fail 1000 "$MNT/big.h5" synth --cancers BRCA --scale 0.1 --genes 3000 --mirnas 30 \
      --out "$MNT/big.h5"
    # levels FILE LEVELS ARGS...: at each fill level, oncovq ARGS (writing FILE) either fails
    # cleanly (exit 1, "FILE: ... no space left on the device", no file, no temporary file) or
    # writes a complete FILE: never a hang (a write failing inside HDF5's metadata flush used to
    # hang the job), a crash or a partial file.
    levels() {
      local file=$1 list=$2 free n_fail=0 n_ok=0 all=1 left
      shift 2
      for free in $list; do
        fill "$free"
        run 2 "$@"
        left=$(find "$MNT" -name '*.part-*' | tr '\n' ' ')
        if [ $RC -eq 0 ] && h5ls -r "$file" >/dev/null 2>&1 && [ -z "$left" ]; then
          n_ok=$((n_ok + 1))
        elif [ $RC -eq 1 ] && grep -qF "$file: " err && grep -q "no space left on the device" err \
             && [ ! -e "$file" ] && [ -z "$left" ]; then
          n_fail=$((n_fail + 1))
        else
          all=0
          bad "$1 with $free KiB free: exit $RC, files: $(ls "$MNT" | tr '\n' ' ')"
        fi
      done
      [ $all -eq 1 ] && [ $n_fail -gt 0 ] \
        && ok "$1 at $((n_ok + n_fail)) fill levels: $n_fail clean errors, $n_ok complete files"
    }
    levels "$MNT/big.h5" "1020 1180 1340 1380 1420 1500" synth --cancers BRCA \
      --scale 0.1 --genes 3000 --mirnas 30 --out "$MNT/big.h5"
    # Results on the full device, the checkpoint elsewhere.
    levels "$MNT/t.h5" "0 40 120 200 236 240 280 320 400" train --cohort c.h5 --epochs 3 \
      "${SMALL[@]}" --set train.checkpoint="$DIR/lv.ckpt" --out "$MNT/t.h5"
    full_fail 100 "$MNT/t.h5" train --cohort c.h5 --epochs 3 "${SMALL[@]}" \
      --set train.checkpoint="$DIR/lv.ckpt" --out "$MNT/t.h5"
    # The checkpoint: the first fits, the second does not; the first stays and loads.
    fill 1000
    expect_fail 2 "cannot write the checkpoint: no space left on the device" train --cohort c.h5 \
      --epochs 5 "${SMALL[@]}" --set train.checkpoint_every=1 --out "$MNT/k.h5"
    grep -q "previous checkpoint, if any, is kept" err || bad "no word on the kept checkpoint"
    [ -z "$(find "$MNT" -name '*.part-*')" ] || bad "a temporary checkpoint was left"
    if [ -s "$MNT/k.h5.ckpt" ]; then
      cp "$MNT/k.h5.ckpt" kept.ckpt
      expect_ok 2 train --cohort c.h5 --epochs 5 "${SMALL[@]}" --set train.checkpoint_every=1 \
        --set train.checkpoint="$DIR/kept.ckpt" --out kept.h5 --resume
      grep -q "resuming from .* at epoch 2" err && ok "the checkpoint of epoch 1 was kept and loads" \
        || bad "kept checkpoint: $(grep -i 'resum\|error' err | head -1)"
    else
      bad "the previous checkpoint is gone"
    fi
    # oncovq run: whichever stage meets the full device.
    RUNS=(--cohort c.h5 "${SMALL[@]}" --set train.epochs=3 --set run.models=vqvae
          --set run.features=raw,vqvae --set cluster.methods=kmeans --set cluster.k_min=2
          --set cluster.k_max=3 --set eval.tsne=false --set run.report=no)
    for free in 300 800 1000 1300 1600; do
      fill $free
      expect_fail 2 "no space left on the device" run "${RUNS[@]}" --out "$MNT/r"
      left=$(find "$MNT" -name '*.part-*' | tr '\n' ' ')
      [ -z "$left" ] || bad "run with $free KiB free left temporary files: $left"
      [ ! -e "$MNT/r/results.h5" ] || bad "run with $free KiB free wrote results.h5"
      # summary.tsv is written last, after results.h5 (src/pipeline/run.c): never without it.
      [ ! -e "$MNT/r/summary.tsv" ] || bad "run with $free KiB free wrote summary.tsv without results.h5"
    done
    # Read-only: a clear error before any work, nothing written.
    fill 2048
    # A rank of an aborted job may still be exiting with a (deleted) file open there, which makes
    # the remount busy for a moment (seen under ASan): wait for it, at most 30 s.
    for _ in $(seq 1 60); do mount -o remount,ro "$MNT" 2>remount.err && break; sleep 0.5; done
    findmnt -no OPTIONS "$MNT" | grep -qw ro \
      || bad "could not remount the test device read-only: $(cat remount.err)"
    expect_fail 2 "Read-only file system" synth --cancers BRCA --scale 0.05 --genes 200 \
      --mirnas 20 --out "$MNT/c.h5"
    expect_fail 2 "Read-only file system" train --cohort c.h5 --epochs 3 "${SMALL[@]}" \
      --out "$MNT/t.h5"
    grep -q "epoch 1/" err && bad "train trained before finding the read-only directory"
    expect_fail 2 "Read-only file system" train --cohort c.h5 --epochs 3 "${SMALL[@]}" \
      --set train.checkpoint="$MNT/x.ckpt" --out ro_ck.h5
    grep -q "epoch 1/" err && bad "train trained before finding the read-only checkpoint directory"
    [ ! -e ro_ck.h5 ] || bad "a run that cannot checkpoint wrote results"
    expect_fail 2 "Read-only file system" prep --cohort c.h5 --out "$MNT/p.h5"
    expect_fail 2 "Read-only file system" run "${RUNS[@]}" --out "$MNT/r"
    [ -z "$(ls -A "$MNT")" ] && ok "nothing written on the read-only device" \
      || bad "files on the read-only device: $(ls -A "$MNT")"
    mount -o remount,rw "$MNT"
    umount "$MNT" && trap - EXIT INT TERM
  else
    echo "     (skipped the full and read-only device cases: cannot mount a tmpfs: $(cat mount.err 2>/dev/null))"
  fi
  # Without write permission (user nobody; root is never refused).
  if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null && id nobody >/dev/null 2>&1; then
    mkdir -p locked && chmod 555 locked && chmod 755 "$DIR"
    AS_NOBODY=(setpriv --reuid="$(id -u nobody)" --regid="$(id -g nobody)" --clear-groups
               env HOME="$DIR")
    timeout 120 "${AS_NOBODY[@]}" "$MPIEXEC" -n 2 "$OVQ" train --cohort "$DIR/c.h5" --epochs 3 \
      "${SMALL[@]}" --out "$DIR/locked/t.h5" >out 2>err </dev/null
    RC=$?
    if [ $RC -ne 0 ] && [ $RC -ne 124 ] && grep -q "locked/t.h5.ckpt: cannot write checkpoint: Permission denied" err \
       && ! grep -q "epoch 1/" err && [ -z "$(ls -A locked)" ]; then
      ok "as nobody, train into a directory without write permission: exit $RC before training: $(grep error err | head -1)"
    else
      bad "as nobody, train into a locked directory: exit $RC"
    fi
    timeout 120 "${AS_NOBODY[@]}" "$MPIEXEC" -n 2 "$OVQ" synth --cancers BRCA --scale 0.05 \
      --genes 200 --mirnas 20 --out "$DIR/locked/c.h5" >out 2>err </dev/null
    RC=$?
    [ $RC -eq 1 ] && grep -q "locked/c.h5: cannot write output: Permission denied" err \
      && [ -z "$(ls -A locked)" ] && ok "as nobody, synth into a locked directory: exit 1, nothing written" \
      || bad "as nobody, synth into a locked directory: exit $RC"
  else
    echo "     (skipped the permission case: needs root, setpriv and user nobody)"
  fi
fi

# ---- Disk quota exceeded (EDQUOT) -----------------------------------------------------------------
# The device has room, the quota does not: statvfs says plenty, the writes fail with EDQUOT (what a
# user over their quota on a cluster file system sees). A btrfs image on a loop device with a
# qgroup limit on a subvolume (quota applies to root too); needs root, mkfs.btrfs (btrfs-progs)
# and a loop device, skipped with a note otherwise.
if [ "$PART" = all ] || [ "$PART" = quota ]; then
  Q=$DIR/quota
  mkdir -p "$Q"
  if [ "$(id -u)" -eq 0 ] && command -v mkfs.btrfs >/dev/null && command -v btrfs >/dev/null \
     && truncate -s 256M quota.img && mkfs.btrfs -q quota.img >mount.err 2>&1 \
     && mount -o loop quota.img "$Q" 2>>mount.err; then
    trap 'umount "$Q" 2>/dev/null' EXIT INT TERM
    btrfs quota enable "$Q" && btrfs subvolume create "$Q/sv" >/dev/null
    SV=$Q/sv
    # limit KIB: the subvolume emptied, then its quota set to KIB (accounting settles at commit).
    limit() {
      rm -rf "${SV:?}"/* && sync -f "$SV" && btrfs qgroup limit "${1}k" "$SV" && sync -f "$SV"
    }
    # over_quota NAME KIB ARGS...: with a KIB quota, oncovq ARGS (writing NAME) exits 1 (not a
    # crash or hang) with "Disk quota exceeded" naming NAME, nothing under NAME, no temporary file.
    over_quota() {
      local name=$1 kib=$2
      shift 2
      limit "$kib"
      expect_fail 2 "Disk quota exceeded" "$@"
      [ $RC -eq 1 ] || bad "over quota ($kib KiB): exit $RC, expected 1"
      grep -qF -- "$name" err || bad "the message does not name $name: $(grep error err | head -1)"
      [ ! -e "$name" ] || bad "over quota ($kib KiB): $name was written"
      local left
      left=$(find "$SV" -name '*.part-*' | tr '\n' ' ')
      [ -z "$left" ] || bad "over quota ($kib KiB): temporary files left: $left"
    }
    df_free=$(df -k --output=avail "$SV" | tail -1)
    echo "     (device: $df_free KiB free; the quota is what runs out)"
    over_quota "$SV/c.h5" 64 synth --cancers BRCA --scale 0.1 --genes 3000 --mirnas 30 \
      --out "$SV/c.h5"
    # Checkpoint (rank 0, HDF5 layout + pwrite) and results file (parallel HDF5) over quota.
    over_quota "$SV/t.h5" 256 train --cohort c.h5 --epochs 3 "${SMALL[@]}" \
      --set train.checkpoint_every=1 --out "$SV/t.h5"
    over_quota "$SV/t.h5" 64 train --cohort c.h5 --epochs 3 "${SMALL[@]}" \
      --set train.checkpoint="$DIR/q.ckpt" --out "$SV/t.h5"
    RUNQ=(--cohort c.h5 "${SMALL[@]}" --set train.epochs=3 --set run.models=vqvae
          --set run.features=raw,vqvae --set cluster.methods=kmeans --set cluster.k_min=2
          --set cluster.k_max=3 --set eval.tsne=false --set run.report=no)
    # Whichever stage meets the quota: a clean error (exit 1 naming EDQUOT, no results.h5 or
    # summary.tsv, no temporary file) or, if it fits, a complete run; never a crash or a hang.
    n_fail=0
    for kib in 300 700 1000 1200 1400 1800 2600; do
      limit $kib
      run 2 run "${RUNQ[@]}" --out "$SV/r"
      left=$(find "$SV" -name '*.part-*' | tr '\n' ' ')
      if [ $RC -eq 1 ] && grep -q "Disk quota exceeded" err && [ -z "$left" ] \
         && [ ! -e "$SV/r/results.h5" ] && [ ! -e "$SV/r/summary.tsv" ]; then
        n_fail=$((n_fail + 1))
      elif [ $RC -eq 0 ] && [ -s "$SV/r/results.h5" ] && [ -s "$SV/r/summary.tsv" ] && [ -z "$left" ]; then
        :
      else
        bad "run with a $kib KiB quota: exit $RC, temporary files '$left': $(grep -m1 error err)"
      fi
    done
    [ $n_fail -gt 0 ] && ok "run at 7 quota levels: $n_fail clean errors, the rest complete" \
      || bad "run: no quota level made it fail"
    # Under a generous quota the same commands succeed (the limit is what failed them).
    limit 20000
    expect_ok 2 train --cohort c.h5 --epochs 3 "${SMALL[@]}" --set train.checkpoint_every=1 \
      --out "$SV/t.h5"
    umount "$Q" && trap - EXIT INT TERM
  else
    echo "     (skipped the disk quota case: needs root, btrfs-progs and a loop device: $(cat mount.err 2>/dev/null))"
  fi
fi

# ---- NaN / Inf in the features; NaN from training ------------------------------------------------
if [ "$PART" = all ] || [ "$PART" = nan ]; then
  # TSV import: NaN and NA are missing; Inf, -inf and 1e400 are errors naming file, line, column.
  mkdir -p tsv
  expect_ok 2 synth --cancers BRCA --scale 0.1 --genes 300 --mirnas 30 --format tsv --out tsv/c.h5
  IMP=(--mirna tsv/c_mirna.tsv --clinical tsv/c_clinical.tsv)
  awk -F'\t' 'BEGIN { OFS = "\t" } NR == 2 { $5 = "NaN" } NR == 3 { $4 = "NA" } { print }' \
    tsv/c_mrna.tsv >tsv/nan.tsv
  expect_ok 2 import --mrna tsv/nan.tsv "${IMP[@]}" --out nan_tsv.h5
  expect_ok 2 train --cohort nan_tsv.h5 --epochs 2 "${SMALL[@]}" --out nan_tsv_t.h5
  base=$(grep -o "mRNA: 300 features, [0-9]* dropped (zero in too many samples), [0-9]* missing" err)
  ok "TSV with NaN and NA imported and trained (imputed): $base"
  sample=$(head -1 tsv/c_mrna.tsv | cut -f7)
  for v in Inf -inf 1e400; do
    awk -F'\t' -v v=$v 'BEGIN { OFS = "\t" } NR == 5 { $7 = v } { print }' tsv/c_mrna.tsv >tsv/bad.tsv
    expect_fail 2 "tsv/bad.tsv:5: column 7 ($sample): '$v' is infinite or too large for a float" \
      import --mrna tsv/bad.tsv "${IMP[@]}" --out bad_tsv.h5
    [ ! -e bad_tsv.h5 ] || bad "a refused import wrote bad_tsv.h5"
  done

  # HDF5 cohort edited with h5py: NaN imputed, Inf an error naming sample and feature.
  if have_h5py; then
    "$PY" - <<'EOF'
import h5py, numpy as np, shutil
edits = {"inf": ("mrna", (5, 0), np.inf), "ninf": ("mirna", (50, 1), -np.inf),
         "nan": ("mrna", (5, 0), np.nan), "nanfeat": ("mrna", (slice(None), 0), np.nan)}
for name, (omic, pos, value) in edits.items():
    shutil.copy("c.h5", f"{name}.h5")
    with h5py.File(f"{name}.h5", "r+") as f:
        x = f["/expression/" + omic][...]
        x[pos] = value
        f["/expression/" + omic][...] = x
with h5py.File("c.h5", "r") as f:
    ids = [s.decode() for s in f["/samples/id"][...]]
    open("ids.txt", "w").write(f"{ids[5]} {ids[50]}\n")
EOF
    read -r S5 S50 <ids.txt
    expect_ok 2 train --cohort c.h5 --epochs 2 "${SMALL[@]}" --out base.h5
    m0=$(grep -o "mRNA: [0-9]* features, [0-9]* dropped (zero in too many samples), [0-9]*" err | awk '{print $NF}')
    expect_ok 2 train --cohort nan.h5 --epochs 2 "${SMALL[@]}" --out nan_t.h5
    m1=$(grep -o "mRNA: [0-9]* features, [0-9]* dropped (zero in too many samples), [0-9]*" err | awk '{print $NF}')
    [ "$m1" -eq $((m0 + 1)) ] && ok "a NaN in the cohort is one more missing value, imputed ($m0 -> $m1)" \
      || bad "NaN: missing values $m0 -> $m1 (expected one more)"
    expect_ok 2 train --cohort nanfeat.h5 --epochs 2 "${SMALL[@]}" --out nanfeat_t.h5
    grep -q "1 features by their mean: rowmax" err && ok "a feature missing in every sample is filled with its mean (rowmax), as R's impute.knn" \
      || bad "an all-NaN feature: $(grep 'mRNA:' err)"
    for np in 1 2; do
      expect_fail $np "expression of sample '$S5' (row 5), mRNA feature 'SG00001|100001': +Inf" \
        train --cohort inf.h5 --epochs 2 "${SMALL[@]}" --out inf_t.h5
    done
    expect_fail 2 "expression of sample '$S50' (row 50), miRNA feature 'hsa-mir-s0002': -Inf" \
      train --cohort ninf.h5 --epochs 2 "${SMALL[@]}" --out inf_t.h5
    expect_fail 2 "mRNA feature 'SG00001|100001': +Inf" prep --cohort inf.h5 --out inf_p.h5
    expect_fail 2 "mRNA feature 'SG00001|100001': +Inf" embed --results base.h5 --cohort inf.h5 \
      --out inf_e.h5
    [ ! -e inf_t.h5 ] && [ ! -e inf_p.h5 ] && [ ! -e inf_e.h5 ] && ok "nothing written from a cohort with Inf" \
      || bad "output written from a cohort with Inf"
  else
    echo "     (skipped the HDF5 NaN/Inf cohorts: $PY has no h5py/numpy)"
  fi

  # NaN / overflow produced by training: stops with the epoch and the term; the last good
  # checkpoint is kept, finite, and loads. (The first scenario is one where the codebook term
  # overflows first, found with the paper's unweighted reconstruction term.)
  expect_fail 2 "training diverged: non-finite codebook loss at epoch 1, step 4" train \
    --cohort c.h5 --epochs 30 --set model.latent=8 --set model.codebook_size=8 \
    --set train.batch=32 --set train.lr=10 --set model.beta=1e6 \
    --set model.recon_balance=features --out div1.h5
  DIV=(--cohort c.h5 --epochs 30 "${SMALL[@]}" --set train.lr=2 --set train.checkpoint_every=1
       --out div.h5)
  expect_fail 2 "training diverged: non-finite" train "${DIV[@]}"
  msg=$(grep -o "training diverged: .*" err)
  ep=$(echo "$msg" | grep -o "end of epoch [0-9]*" | grep -o "[0-9]*$")
  [ ! -e div.h5 ] && ok "no results file from a diverged run" || bad "a diverged run wrote results"
  if [ -n "$ep" ] && [ "$ep" -ge 2 ] && [ -s div.h5.ckpt ]; then
    if have_h5py; then
      "$PY" -c "
import h5py, numpy as np, sys
f = h5py.File('div.h5.ckpt', 'r')
bad = [k for k in f if f[k].dtype.kind == 'f' and not np.isfinite(f[k][...]).all()]
print(int(f['position'][0]), ' '.join(bad))
sys.exit(1 if bad or int(f['position'][0]) != $ep - 1 else 0)" >ck.out \
        && ok "diverged at epoch $ep; the checkpoint of epoch $((ep - 1)) is kept and all finite" \
        || bad "the kept checkpoint: position/non-finite arrays: $(cat ck.out)"
    fi
    cp div.h5.ckpt div.ckpt.copy
    expect_fail 2 "training diverged: non-finite" train "${DIV[@]}" --resume
    grep -q "resuming from div.h5.ckpt at epoch $ep" err && ok "the kept checkpoint loads (and diverges the same way again)" \
      || bad "resume from the kept checkpoint: $(grep -i 'resum\|error' err | head -2)"
    cmp -s div.h5.ckpt div.ckpt.copy && ok "the diverged state was not written over it" \
      || bad "the kept checkpoint was overwritten"
  else
    bad "diverged run: '$msg', checkpoint $(ls div.h5.ckpt 2>&1)"
  fi
fi

# ---- damaged checkpoints --------------------------------------------------------------------------
if [ "$PART" = all ] || [ "$PART" = ckpt ]; then
  CK=(--cohort c.h5 --epochs 6 "${SMALL[@]}" --set train.checkpoint_every=1)
  expect_ok 2 train "${CK[@]}" --out g.h5
  cp g.h5.ckpt good.ckpt
  rm -f g.h5
  size=$(stat -c %s good.ckpt)
  # flip OFFSET: good.ckpt with 4 bytes inverted at OFFSET, as g.h5.ckpt
  flip() {
    cp good.ckpt g.h5.ckpt
    "${PY:-python3}" -c "
import sys
b = bytearray(open('g.h5.ckpt', 'rb').read())
for i in range($1, $1 + 4): b[i] ^= 0xff
open('g.h5.ckpt', 'wb').write(b)" 2>/dev/null \
      || printf '\xde\xad\xbe\xef' | dd of=g.h5.ckpt bs=1 seek="$1" conv=notrunc 2>/dev/null
  }
  # refused NEEDLE WHAT [RANKS]: --resume (at 2 ranks, or at each of RANKS) must refuse g.h5.ckpt
  # and leave it as it was.
  refused() {
    local needle=$1 what=$2 np
    cp g.h5.ckpt damaged.copy
    for np in ${3:-2}; do
      expect_fail $np "$needle" train "${CK[@]}" --out g.h5 --resume
      grep -q "^oncovq: epoch" err && bad "$what: trained from a damaged checkpoint"
    done
    cmp -s g.h5.ckpt damaged.copy && ok "$what: checkpoint refused and left as it was" \
      || bad "$what: the damaged checkpoint was changed"
    [ ! -e g.h5 ] || { bad "$what: results written"; rm -f g.h5; }
  }
  flip $((size / 2))
  refused "the checkpoint is damaged (checksum mismatch); not loading it" "bytes flipped mid-file" \
    "1 2"
  if have_h5py; then
    off=$("$PY" -c "import h5py; print(h5py.File('good.ckpt', 'r')['params'].id.get_offset())")
    flip $((off + 100))
    refused "checksum mismatch" "bytes flipped in the parameters"
    cp good.ckpt g.h5.ckpt
    "$PY" -c "
import h5py, numpy as np
f = h5py.File('g.h5.ckpt', 'r+')
f.attrs.modify('checksum', np.uint64(int(f.attrs['checksum']) ^ 1))"
    refused "checksum mismatch" "checksum attribute changed"
    cp good.ckpt g.h5.ckpt
    "$PY" -c "
import h5py
f = h5py.File('g.h5.ckpt', 'r+')
del f['adam_v']"
    refused "the checkpoint lacks adam_v" "a dataset deleted"
  fi
  flip 0
  refused "the checkpoint is not an HDF5 file (damaged?); not loading it" "signature overwritten"
  cp good.ckpt g.h5.ckpt && truncate -s $((size / 2)) g.h5.ckpt
  refused "the checkpoint is damaged (HDF5 cannot open it: truncated?)" "truncated to half"
  cp good.ckpt g.h5.ckpt && truncate -s $((size - 100)) g.h5.ckpt
  refused "the checkpoint is damaged" "last 100 bytes cut"
  : >g.h5.ckpt
  refused "the checkpoint is not an HDF5 file" "emptied"
  echo "this is not a checkpoint" >g.h5.ckpt
  refused "the checkpoint is not an HDF5 file" "replaced by text"
  cp good.ckpt g.h5.ckpt
  expect_fail 2 "written by a different model or run configuration" train "${CK[@]}" \
    --set model.latent=4 --out g.h5 --resume
  cmp -s g.h5.ckpt good.ckpt && ok "another configuration's checkpoint refused, left as it was" \
    || bad "another configuration's checkpoint was changed"
  expect_ok 2 train "${CK[@]}" --out g.h5 --resume
  grep -q "resuming from g.h5.ckpt at epoch 7" err && ok "the intact checkpoint still loads" \
    || bad "the intact checkpoint: $(grep -i 'resum\|error' err | head -1)"

  # oncovq run resumes by itself from a checkpoint it left: a damaged one stops it with the
  # message and stays as it was. The checkpoint comes from a run stopped by SIGUSR1 (exit 3).
  RUNC=(--cohort c.h5 "${SMALL[@]}" --set train.epochs=2000 --set train.checkpoint_every=1
        --set run.models=vqvae --set run.features=vqvae --set cluster.methods=kmeans
        --set cluster.k_min=2 --set cluster.k_max=3 --set eval.tsne=false --set run.report=no)
  "$MPIEXEC" -n 2 "$OVQ" run "${RUNC[@]}" --out rc >out 2>err </dev/null &
  job=$!
  for _ in $(seq 1 600); do grep -q "epoch 5/" err 2>/dev/null && break; sleep 0.05; done
  kill -USR1 $job
  wait $job
  RC=$?
  ck=rc/stages/model_vqvae.h5.ckpt
  if [ $RC -eq 3 ] && [ -s $ck ]; then
    csize=$(stat -c %s $ck)
    printf '\xde\xad\xbe\xef' | dd of=$ck bs=1 seek=$((csize / 2)) conv=notrunc 2>/dev/null
    cp $ck damaged.copy
    expect_fail 2 "model_vqvae.h5.ckpt: the checkpoint is damaged (checksum mismatch)" run \
      "${RUNC[@]}" --out rc
    cmp -s $ck damaged.copy && [ ! -e rc/summary.tsv ] \
      && ok "run: the damaged checkpoint is refused, left as it was, nothing else written" \
      || bad "run: the damaged checkpoint was changed or results written"
  else
    bad "run stopped by SIGUSR1: exit $RC, checkpoint $(ls $ck 2>&1)"
  fi
fi
finish
