#!/usr/bin/env bash
# The SLURM job scripts (jobs/*.sbatch) against a real single-node SLURM that this test starts
# (tools/slurm.sh, in a folder of its own, on free ports) and always stops again: run.sbatch,
# array.sbatch (one cancer type per task) and sweep.sbatch run to completion on a tiny synthetic
# cohort and write sane outputs; a run.sbatch job (mpirun) and a sweep.sbatch job (srun) that get
# SIGUSR1 during training (as SLURM sends before the time limit) checkpoint, requeue themselves
# and end with the same results as the same jobs uninterrupted (mpirun). Needs root and the Debian packages
# slurmctld slurmd slurm-client munge: without them it fails and says so.
# Usage: jobs.sh OVQ H5SAME SCRATCH_DIR
set -uo pipefail
OVQ=$(realpath "$1") H5SAME=$(realpath "$2") DIR=$3
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
MPIEXEC="${MPIEXEC:-mpiexec}"
FAILS=0
PASSES=0
T0=$SECONDS

ok() {
  PASSES=$((PASSES + 1))
  echo "ok   $* [$((SECONDS - T0)) s]"
}
# bad MESSAGE [LOG]: a failure, with the end of the job's log.
bad() {
  FAILS=$((FAILS + 1))
  echo "FAIL $1 [$((SECONDS - T0)) s]"
  if [ -n "${2:-}" ] && [ -r "$2" ]; then
    echo "---- $2 (last 25 lines)"
    tail -25 "$2"
    echo "----"
  fi
}
finish() {
  [ -s "$DIR/stuck" ] && sed 's/^/     /' "$DIR/stuck"
  echo "$PASSES passed, $FAILS failed ($((SECONDS - T0)) s)"
  [ $FAILS -eq 0 ]
}

rm -rf "$DIR" && mkdir -p "$DIR" && cd "$DIR" || exit 1

# ---- SLURM up (and always down at the end) ------------------------------------------------
# A test killed outright (SIGKILL at a ctest timeout) cannot stop its SLURM: stop those whose
# test is gone.
for d in /tmp/ovq-slurm-test.*; do
  [ -f "$d/owner" ] || continue
  kill -0 "$(cat "$d/owner")" 2>/dev/null && continue
  echo "     stopping the SLURM of an earlier test that was killed ($d)"
  SLURM_DIR=$d bash "$ROOT/tools/slurm.sh" stop 2>&1 | sed 's/^/     /'
  rm -rf "$d"
done
# Its own folder (a short path: the munge socket's must stay short) and free ports, so that it
# cannot meet a SLURM started by hand or by another build's test.
SLURM_DIR=$(mktemp -d /tmp/ovq-slurm-test.XXXXXX) || exit 1
echo $$ >"$SLURM_DIR/owner"
export SLURM_DIR
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
OVQ_SLURM_PORT=""
for _ in $(seq 50); do
  p=$((20000 + (RANDOM % 20000) * 2))
  if port_free $p && port_free $((p + 1)); then
    OVQ_SLURM_PORT=$p
    break
  fi
done
[ -n "$OVQ_SLURM_PORT" ] || {
  bad "no free pair of TCP ports found for slurmctld / slurmd"
  finish
  exit 1
}
export OVQ_SLURM_PORT OVQ_SLURM_FIRST_JOB_ID=$((1000 + RANDOM))
cleanup() {
  trap - EXIT INT TERM
  local k
  # The background sbatch --wait clients of this test (timeout passes TERM on to sbatch).
  for k in $(jobs -p); do
    pkill -TERM -P "$k" 2>/dev/null
    kill "$k" 2>/dev/null
  done
  bash "$ROOT/tools/slurm.sh" stop 2>&1 | sed 's/^/     /'
  if [ $FAILS -eq 0 ]; then rm -rf "$SLURM_DIR"; else echo "     SLURM's folder (logs): $SLURM_DIR"; fi
}
trap cleanup EXIT
trap 'FAILS=$((FAILS + 1)); echo "FAIL interrupted"; exit 130' INT TERM

if out=$(bash "$ROOT/tools/slurm.sh" start 2>"$DIR/slurm_start.err"); then
  eval "$out"
  ok "tools/slurm.sh start: node idle, $out (port $OVQ_SLURM_PORT)"
else
  bad "tools/slurm.sh start failed: SLURM is needed for this test (root and the Debian packages slurmctld slurmd slurm-client munge; bash tools/setup.sh installs them)" \
    "$DIR/slurm_start.err"
  finish
  exit 1
fi
if bash "$ROOT/tools/slurm.sh" start >/dev/null 2>"$DIR/slurm_start2.err" &&
  grep -q "already running" "$DIR/slurm_start2.err"; then
  ok "tools/slurm.sh start again: no-op"
else
  bad "a second tools/slurm.sh start did not find the running SLURM" "$DIR/slurm_start2.err"
fi
if bash "$ROOT/tools/slurm.sh" status >"$DIR/status" 2>&1; then
  ok "tools/slurm.sh status"
else
  bad "tools/slurm.sh status failed" "$DIR/status"
fi

# ---- a tiny cohort and tiny settings -------------------------------------------------------
if timeout 120 "$MPIEXEC" -n 2 "$OVQ" synth --config "$ROOT/configs/quickstart.ini" \
  --cancers BRCA,GBM --set synth.scale=0.05 --set synth.genes=300 --set synth.mirnas=40 \
  --out "$DIR/cohort.h5" >"$DIR/synth.log" 2>&1 </dev/null; then
  ok "synthetic cohort (BRCA + GBM at 5 %, 300 genes, 40 miRNAs)"
else
  bad "oncovq synth failed" "$DIR/synth.log"
  finish
  exit 1
fi
CONFIG="$ROOT/configs/quickstart.ini"
SMALL=(--cohort "$DIR/cohort.h5" --set log.level=warn --set model.hidden=64,32
  --set model.res_width=16 --set model.latent=16 --set model.codebook_size=16 --set train.batch=64
  --set run.models=vqvae --set run.features=raw,vqvae --set run.report=no
  --set cluster.methods=kmeans --set cluster.k=3)
# Training long enough (several seconds) to be interrupted in the middle.
LONG=("${SMALL[@]}" --set data.cancer=BRCA --set train.epochs=3000)
SHORT=("${SMALL[@]}" --set train.epochs=20)

export OVQ CONFIG # the job scripts' binary and config
# The jobs place their ranks themselves (the tests' environment turns mpirun's binding off).
unset OMPI_MCA_hwloc_base_binding_policy
# submit NAME ARGS...: sbatch --wait ARGS in the background; the job's log is NAME.log (array
# tasks: NAME-INDEX.log), sbatch's output NAME.sbatch (its exit status on the last line), its pid
# PID[NAME]. Returns once the job is submitted, so jobs queue in the order of the calls.
declare -A PID
submit() {
  local name=$1 log=$1.log
  shift
  [[ " $* " == *" --array="* ]] && log=$name-%a.log
  (
    timeout 300 sbatch --wait --chdir="$DIR" --output="$DIR/$log" "$@" \
      >"$DIR/$name.sbatch" 2>&1 </dev/null
    echo "exit $?" >>"$DIR/$name.sbatch"
  ) &
  PID[$name]=$!
  [ -n "$(job_id "$name")" ] || bad "$name: sbatch printed no job id" "$DIR/$name.sbatch"
}
# job_id NAME: the job id sbatch printed (waits up to 30 s for it).
job_id() {
  local id="" _
  for _ in $(seq 150); do
    id=$(sed -n 's/^Submitted batch job \([0-9]*\).*/\1/p' "$DIR/$1.sbatch" 2>/dev/null)
    [ -n "$id" ] && break
    sleep 0.2
  done
  echo "$id"
}
# A job that can never start (asks for more than the node has, ...) is cancelled at once, so
# that its sbatch --wait returns with an error instead of hanging until its timeout.
cancel_stuck() {
  local id reason
  while read -r id reason; do
    case "$reason" in
      PartitionConfig | PartitionNodeLimit | PartitionTimeLimit | BadConstraints | ReqNodeNotAvail* | Nodes_required* | NodeDown | InvalidAccount | InvalidQOS)
        echo "     job $id cannot start ($reason): cancelling it"
        echo "job $id cannot start: $reason" >>"$DIR/stuck"
        scancel "$id" ;;
    esac
  done < <(squeue -h -t PENDING -o '%i %r' 2>/dev/null)
}
# finished NAME: waits for the job's sbatch --wait; true if the job exited 0.
finished() {
  while kill -0 "${PID[$1]}" 2>/dev/null; do
    cancel_stuck
    sleep 0.5
  done
  wait "${PID[$1]}"
  grep -qx "exit 0" "$DIR/$1.sbatch"
}

# ---- submit everything; the node runs them in turn ------------------------------------------
# First the jobs to interrupt, so that they start early; then the same jobs uninterrupted.
SWEEP=("${SMALL[@]}" --set sweep.cancers=BRCA,GBM --set sweep.models=vqvae --set sweep.hidden=64,32
  --set sweep.latent=16 --set sweep.codebook_size=16)
OUT=cut submit cut "$ROOT/jobs/run.sbatch" "${LONG[@]}"
OUT=sweep_cut GROUP_SIZE=1 LAUNCHER=srun submit sweep_cut --nodes=1 --ntasks-per-node=2 \
  "$ROOT/jobs/sweep.sbatch" "${SWEEP[@]}" --set sweep.epochs=3000
OUT=full submit full "$ROOT/jobs/run.sbatch" "${LONG[@]}"
OUT=sweep GROUP_SIZE=1 submit sweep --nodes=1 --ntasks-per-node=2 "$ROOT/jobs/sweep.sbatch" \
  "${SWEEP[@]}" --set sweep.epochs=3000
CANCERS=BRCA,GBM OUT=array submit array --array=0-1 --ntasks=1 \
  "$ROOT/jobs/array.sbatch" "${SHORT[@]}"

# ---- stop and requeue ------------------------------------------------------------------------
# interrupt NAME...: SIGUSR1 to each job's batch shell only, as --signal=B:USR1@120 sends it
# before the time limit, as soon as the job trains (a training checkpoint exists under its
# OUT = NAME; or it has run for 5 s).
interrupt() {
  local -A id running
  local name left=("$@") still st _
  for name in "$@"; do
    id[$name]=$(job_id "$name")
    running[$name]=0
  done
  for _ in $(seq 3000); do
    still=()
    for name in "${left[@]}"; do
      st=$(squeue -h -j "${id[$name]}" -o %T 2>/dev/null)
      [ "$st" = RUNNING ] && running[$name]=$((running[$name] + 1))
      if [ "${running[$name]}" -gt 0 ] &&
        { [ -n "$(find "$name" -name '*.ckpt*' 2>/dev/null)" ] || [ "${running[$name]}" -ge 50 ]; }; then
        if scancel --batch --signal=USR1 "${id[$name]}"; then
          ok "$name (job ${id[$name]}): SIGUSR1 sent during training"
        else
          bad "$name (job ${id[$name]}): scancel --batch --signal=USR1 failed"
        fi
      elif grep -q "^exit" "$DIR/$name.sbatch"; then
        bad "$name (job ${id[$name]}): ended before it was seen training" "$DIR/$name.log"
      else
        still+=("$name")
      fi
    done
    left=("${still[@]}")
    [ ${#left[@]} -eq 0 ] && return
    cancel_stuck
    sleep 0.1
  done
  for name in "${left[@]}"; do
    bad "$name (job ${id[$name]}): not seen training within 5 minutes" "$DIR/$name.log"
  done
}
interrupt cut sweep_cut

# ---- results ---------------------------------------------------------------------------------
HEADER=$'cancer\tfeatures\tmethod\tk\tseed\tn_samples\tn_labelled\tnmi\tari\tpurity\tsilhouette\tlogrank_chi2\tlogrank_p\tseconds'
# summary_ok FILE CANCER LOG: header, at least one row, every row of that cancer type.
summary_ok() {
  local f=$1 cancer=$2 log=$3
  if [ ! -s "$f" ]; then
    bad "$f missing or empty" "$log"
  elif [ "$(head -1 "$f" | cut -f1-14)" != "$HEADER" ]; then
    bad "$f: header is '$(head -1 "$f")'" "$log"
  elif [ "$(tail -n +2 "$f" | wc -l)" -lt 1 ]; then
    bad "$f has no rows" "$log"
  elif [ -n "$cancer" ] && tail -n +2 "$f" | cut -f1 | grep -qvx "$cancer"; then
    bad "$f: rows of another cancer than $cancer: $(tail -n +2 "$f" | cut -f1 | sort -u | tr '\n' ' ')" "$log"
  else
    ok "$f: $(($(wc -l <"$f") - 1)) rows"
  fi
}
results_ok() { # FILE LOG
  if h5ls -r "$1" >/dev/null 2>&1 && [ "$(h5ls -r "$1" | grep -c Dataset)" -gt 0 ]; then
    ok "$1: $(h5ls -r "$1" | grep -c Dataset) datasets"
  else
    bad "$1 missing or not an HDF5 file with datasets" "$2"
  fi
}
# A summary without its seconds column (wall times differ between runs), rows sorted (a sweep's
# groups finish tasks in any order).
no_seconds() {
  awk -F'\t' 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "seconds") s = i }
    { line = ""; for (i = 1; i <= NF; i++) if (i != s) line = line (line == "" ? "" : "\t") $i
      print line }' "$1" | { IFS= read -r h; echo "$h"; sort; }
}
# requeued_ok NAME REFERENCE: the job was interrupted, requeued and resumed, and its outputs
# equal those of the uninterrupted job.
requeued_ok() {
  local name=$1 ref=$2 sets
  if grep -q "exited with status 3" "$name.log" && grep -q "requeued" "$name.log" &&
    grep -q "restart 1 on" "$name.log"; then
    ok "$name: checkpointed (status 3), requeued itself, restart 1 ran: $(grep -c 'restart [0-9]* on' "$name.log") runs"
  else
    bad "$name: no exit 3 + requeue + restart in its log" "$name.log"
  fi
  if [ -s "$name/summary.tsv" ] && [ -s "$ref/summary.tsv" ] &&
    cmp -s <(no_seconds "$name/summary.tsv") <(no_seconds "$ref/summary.tsv"); then
    ok "$name: summary.tsv equal to the uninterrupted job's (seconds column aside)"
  else
    bad "$name: summary.tsv differs from the uninterrupted job's"
    diff <(no_seconds "$name/summary.tsv") <(no_seconds "$ref/summary.tsv") | head -10
  fi
  # Every dataset but the wall times.
  mapfile -t sets < <(h5ls -r "$ref/results.h5" 2>/dev/null | awk '$2 == "Dataset" { print $1 }' |
    grep -v '/seconds$')
  if [ ${#sets[@]} -gt 0 ] && "$H5SAME" "$ref/results.h5" "$name/results.h5" "${sets[@]}" >h5same.out 2>&1; then
    ok "$name: results.h5 byte-identical to the uninterrupted job's ($(tail -1 h5same.out))"
  else
    bad "$name: results.h5 differs from the uninterrupted job's: $(head -3 h5same.out)"
  fi
}

if finished full; then
  ok "run.sbatch (mpirun): exit 0"
  summary_ok full/summary.tsv BRCA full.log
  results_ok full/results.h5 full.log
else
  bad "run.sbatch: $(tail -1 full.sbatch)" full.log
fi
if finished cut; then
  ok "interrupted run.sbatch: exit 0 in the end"
  requeued_ok cut full
else
  bad "interrupted run.sbatch: $(tail -1 cut.sbatch)" cut.log
fi

if finished sweep; then
  ok "sweep.sbatch (mpirun, 2 groups of 1 rank): exit 0"
  summary_ok sweep/summary.tsv "" sweep.log
  for c in BRCA GBM; do
    if cut -f1 sweep/summary.tsv | grep -qx $c; then ok "sweep: rows for $c"; else bad "sweep: no rows for $c"; fi
  done
  if [ "$(wc -l <sweep/pancancer.tsv 2>/dev/null || echo 0)" -eq 3 ]; then
    ok "sweep/pancancer.tsv: a row for each of the 2 cancer types"
  else
    bad "sweep/pancancer.tsv missing or without 2 rows" sweep.log
  fi
  results_ok sweep/results.h5 sweep.log
else
  bad "sweep.sbatch: $(tail -1 sweep.sbatch)" sweep.log
fi
if finished sweep_cut; then
  ok "interrupted sweep.sbatch (srun): exit 0 in the end"
  requeued_ok sweep_cut sweep
else
  bad "interrupted sweep.sbatch: $(tail -1 sweep_cut.sbatch)" sweep_cut.log
fi

if finished array; then
  ok "array.sbatch (mpirun, 2 tasks of 1 rank side by side): exit 0"
  if grep -q -- "--bind-to none" array-0.log; then
    ok "array tasks on a share of the node: mpirun --bind-to none"
  else
    bad "array task on a share of the node without --bind-to none" array-0.log
  fi
  i=0
  for t in BRCA GBM; do
    summary_ok "array/$t/summary.tsv" $t array-$i.log
    results_ok "array/$t/results.h5" array-$i.log
    i=$((i + 1))
  done
else
  bad "array.sbatch: $(tail -1 array.sbatch)" array-0.log
  [ -e array-1.log ] && tail -5 array-1.log
fi

finish
