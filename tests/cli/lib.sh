# Helpers for the CLI tests. Sourced with: OVQ (oncovq binary), H5SAME, DIR (scratch) set.
set -uo pipefail
MPIEXEC="${MPIEXEC:-mpiexec}"
FAILS=0
PASSES=0

# run NP ARGS...: runs oncovq at NP ranks with a time limit (a hang is a failure), capturing
# stdout in $DIR/out and stderr in $DIR/err; sets RC.
run() {
  local np=$1
  shift
  timeout 120 "$MPIEXEC" -n "$np" "$OVQ" "$@" >"$DIR/out" 2>"$DIR/err" </dev/null
  RC=$?
}

ok() {
  PASSES=$((PASSES + 1))
  echo "ok   $*"
}
bad() {
  FAILS=$((FAILS + 1))
  echo "FAIL $*"
  echo "---- stdout"; head -20 "$DIR/out"; echo "---- stderr"; head -20 "$DIR/err"; echo "----"
}

# expect_fail NP "needle" ARGS...: oncovq must exit non-zero (not by timeout) and say needle.
expect_fail() {
  local np=$1 needle=$2
  shift 2
  run "$np" "$@"
  if [ $RC -eq 0 ]; then
    bad "np=$np oncovq $* exited 0 (expected an error mentioning '$needle')"
  elif [ $RC -eq 124 ]; then
    bad "np=$np oncovq $* hung (killed after 120 s)"
  elif ! grep -qF -- "$needle" "$DIR/err"; then
    bad "np=$np oncovq $* exited $RC without saying '$needle'"
  else
    ok "np=$np oncovq $* -> exit $RC: $(grep -F -- "$needle" "$DIR/err" | head -1)"
  fi
}

# expect_ok NP ARGS...
expect_ok() {
  local np=$1
  shift
  run "$np" "$@"
  if [ $RC -ne 0 ]; then bad "np=$np oncovq $* exited $RC"; else ok "np=$np oncovq $*"; fi
}

finish() {
  echo "$PASSES passed, $FAILS failed"
  [ $FAILS -eq 0 ]
}
