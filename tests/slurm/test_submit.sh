#!/usr/bin/env bash
# Tests scripts/submit without Slurm (--dry-run only): the sbatch line it prints carries the
# jobscript, spec, output and extra sweep options; the suggested tasks and time limit follow the
# cost from `precsweep list` (a spec 64x the cost gets more tasks, a longer limit or both, never
# more tasks than points); overrides win; PRECSWEEP_SBATCH_ARGS carries the warning signal and
# log pattern to resubmitted jobs; bad input exits 2 with a message.
#   tests/slurm/test_submit.sh SOURCE_DIR PRECSWEEP_BINARY
# Deliberately leaves out: running sbatch (test_sweep_chain.sh does that on a real Slurm).
set -uo pipefail
src=$(cd "${1:?SOURCE_DIR}" && pwd)
bin=$(cd "$(dirname "${2:?PRECSWEEP_BINARY}")" && pwd)/$(basename "$2")
tmp=$(mktemp -d "${TMPDIR:-/tmp}/precsweep-submit.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fails=0
check() {  # check DESCRIPTION COMMAND...
  local what=$1; shift
  if "$@"; then echo "ok   $what"; else echo "FAIL $what"; fails=$((fails + 1)); fi
}
submit() { "$src/scripts/submit" --precsweep "$bin" "$@"; }
sbatch_line() { grep -E '(^| )sbatch ' <<<"$1"; }
option() {  # option NAME TEXT -> value of --NAME=VALUE in the sbatch line
  sbatch_line "$2" | grep -oE -- "--$1=[^ ]+" | head -n1 | cut -d= -f2-
}
seconds() {  # HH:MM:SS -> seconds
  IFS=: read -r h m s <<<"$1"; echo $((10#$h * 3600 + 10#$m * 60 + 10#$s))
}

cd "$tmp" || exit 1
small=$tmp/small.yaml
cat >"$small" <<'EOF'
name: small
dataset: synthetic
epochs: 2
seed: [1, 2]
model: {hidden: [[32]]}
train: {lr: 0.1, batch: 32}
precision: {format: [fp32, bf16]}
EOF
# 8x the points of `small`, each 8x the cost (mnist, wider): 64x in all.
big=$tmp/big.yaml
cat >"$big" <<'EOF'
name: big
dataset: mnist
epochs: 20
seed: {from: 1, to: 16, step: 1}
model: {hidden: [[1024, 1024]]}
train: {lr: 0.1, batch: 32}
precision: {format: [fp32, bf16]}
EOF

out=$(submit --dry-run "$small" res/small.h5 -- --data-dir /some/where --grace 30) || { echo "FAIL dry run exited $?"; exit 1; }
echo "$out"
line=$(sbatch_line "$out")
check "prints one sbatch line" test "$(wc -l <<<"$line")" -eq 1
check "runs jobscripts/sweep.sbatch with SPEC OUT and the extra options" \
  grep -qF "$src/jobscripts/sweep.sbatch $small res/small.h5 --data-dir /some/where --grace 30" <<<"$line"
check "job name from the spec name" test "$(option job-name "$out")" = precsweep-small
check "creates the log folder" grep -qx 'mkdir -p logs' <<<"$out"
check "warning signal set" grep -qE -- '--signal=B:USR1@[0-9]+' <<<"$line"
check "PRECSWEEP_SBATCH_ARGS carries the signal and the log pattern" \
  grep -qE 'PRECSWEEP_SBATCH_ARGS=.*--output=logs/%x-%j\.out.*--signal=B:USR1@' <<<"$line"
check "dry run submits nothing and creates nothing" test ! -e logs
small_tasks=$(option ntasks "$out") small_time=$(option time "$out")
check "small spec: 1 task (tasks <= points, tiny cost)" test "$small_tasks" = 1
check "time limit at least 15 min" test "$(seconds "$small_time")" -ge 900

out_big=$(submit --dry-run "$big" big.h5)
echo "$out_big"
big_tasks=$(option ntasks "$out_big") big_time=$(option time "$out_big")
check "64x the cost: more tasks or a longer limit" \
  test $((big_tasks * $(seconds "$big_time"))) -gt $((small_tasks * $(seconds "$small_time")))
check "tasks never exceed points (32)" test "$big_tasks" -le 32
out_cap=$(submit --dry-run --max-tasks 2 --max-time 01:00:00 "$big" big.h5)
check "--max-tasks caps the suggestion" test "$(option ntasks "$out_cap")" -le 2
check "--max-time caps the limit" test "$(seconds "$(option time "$out_cap")")" -le 3600

out_set=$(submit --dry-run --tasks 7 --cpus-per-task 3 --time 02:30:00 --partition p1 --account a1 \
          --signal-lead 120 --sbatch-arg=--mem=4G --logs mylogs "$small" o.h5)
check "overrides: tasks" test "$(option ntasks "$out_set")" = 7
check "overrides: cpus per task" test "$(option cpus-per-task "$out_set")" = 3
check "overrides: time" test "$(option time "$out_set")" = 02:30:00
check "overrides: partition, account" test "$(option partition "$out_set")/$(option account "$out_set")" = p1/a1
check "overrides: signal lead" grep -qF -- '--signal=B:USR1@120' <<<"$(sbatch_line "$out_set")"
check "extra sbatch option in the line and in PRECSWEEP_SBATCH_ARGS" \
  grep -qE 'PRECSWEEP_SBATCH_ARGS=.*--mem=4G.* sbatch .*--mem=4G' <<<"$(sbatch_line "$out_set")"
check "log folder option" grep -qE -- '--output=mylogs/%x-%j\.out' <<<"$(sbatch_line "$out_set")"

touch existing.h5
check "mentions resuming an existing output" grep -q 'exists: the chain resumes it' <<<"$(submit --dry-run "$small" existing.h5)"

err=$(submit --dry-run "$tmp/missing.yaml" o.h5 2>&1); rc=$?
check "missing spec: exit 2 with a message" test "$rc" = 2 -a -n "$err"
err=$(submit --dry-run --tasks zero "$small" o.h5 2>&1); rc=$?
check "bad --tasks: exit 2" test "$rc" = 2
err=$(submit --dry-run --bogus "$small" o.h5 2>&1); rc=$?
check "unknown option: exit 2" test "$rc" = 2
printf 'name: bad\nunknown_key: 1\n' >bad.yaml
err=$(submit --dry-run bad.yaml o.h5 2>&1); rc=$?
check "invalid spec: precsweep list's exit 2 and message passed on" test "$rc" = 2 -a -n "$err"
echo "$err"

[ "$fails" -eq 0 ] || { echo "$fails check(s) failed"; exit 1; }
echo "all checks passed"
