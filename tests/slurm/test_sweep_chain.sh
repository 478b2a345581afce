#!/usr/bin/env bash
# End-to-end test of jobscripts/sweep.sbatch on a real Slurm (one node, this machine):
#   tests/slurm/test_sweep_chain.sh SOURCE_DIR PRECSWEEP_BINARY
# 1. runs tests/slurm/chain_spec.yaml (24 tiny points) with a plain `scripts/mpirun -np 2
#    precsweep sweep` (the reference);
# 2. starts munged, slurmctld and slurmd (tests/slurm/cluster.sh) in a temporary folder;
# 3. submits the real jobscript with 2 tasks, a 1-minute limit and --signal=B:USR1@20. How long
#    a job runs never depends on how fast this machine trains: with the sweep's test-only hold
#    file (docs/sweeping.md) each job trains its first 4 points and then holds its next ones in
#    the middle of training until it is warned. The first job gets Slurm's own warning (the real
#    --signal path); the second gets it from this test (`scancel --signal=USR1 --batch`) once
#    its points are held; the third is let go when its points are held (which also shows that
#    resubmitted jobs keep the submitter's environment) and completes the sweep. So the chain
#    has 3 jobs (more only if Slurm warns a job first, which the checks accept);
# 4. checks the job records: the chain log (one line per event, written by the jobscript), the
#    jobs seen by squeue/scontrol while they ran (tasks, limit, afterany dependency), jobcomp's
#    records (every job COMPLETED), the job logs (each point finished exactly once);
# 5. checks the results file: every point finished, metrics bit-identical to the reference
#    (tests/slurm/check_results.py, h5py), one run recorded per job, `precsweep status`;
# 6. submits twice more on the finished file: with the same spec the first job resumes it
#    (nothing left, completes); with another spec precsweep refuses and no job is resubmitted;
# 7. PRECSWEEP_STOP_SIGNAL=TERM (stop now): a warned job abandons its points in flight, exits 3
#    and resubmits; the next job completes the sweep, again equal to the reference.
# Needs root (the daemons run as root); exits 77 (ctest SKIP_RETURN_CODE) when not root or when
# Slurm/munge are not installed (scripts/setup installs them). Stops only the daemons it started,
# removes its folder (kept with PRECSWEEP_KEEP_TMP=1), and prints every log on failure.
# The launcher is mpirun; PRECSWEEP_SLURM_TEST_LAUNCHER=srun runs the same test through
# `srun --mpi=pmix` (works on this machine too; not the default, to keep one path in CI).
# Deliberately leaves out: multi-node placement, accounting (no slurmdbd).
set -uo pipefail

src=${1:?usage: test_sweep_chain.sh SOURCE_DIR PRECSWEEP_BINARY}
bin=${2:?usage: test_sweep_chain.sh SOURCE_DIR PRECSWEEP_BINARY}
src=$(cd "$src" && pwd)
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
job_name=precsweep-slurmtest
launcher=${PRECSWEEP_SLURM_TEST_LAUNCHER:-mpirun}
launch_bind=none   # this VM's cores are shared with whatever else runs
# Our own time budget, below ctest's TIMEOUT (400 s), so that cleanup always runs: ctest kills
# a test that times out without letting it stop its daemons and jobs.
budget=${PRECSWEEP_SLURM_TEST_BUDGET:-370}

skip() { echo "SKIPPED: $*"; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "needs root: starts munged, slurmctld and slurmd as root"
for cmd in munged slurmctld slurmd sbatch squeue scontrol sinfo scancel; do
  command -v "$cmd" >/dev/null 2>&1 || skip "$cmd not installed (scripts/setup installs slurm-wlm and munge)"
done
/usr/bin/python3 -c 'import h5py, numpy' 2>/dev/null || skip "python3-h5py not installed (scripts/setup)"

# shellcheck source=tests/slurm/cluster.sh
source "$src/tests/slurm/cluster.sh"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/precsweep-slurm.XXXXXX")
work=$tmp/work
mkdir -p "$work"
t0=$(date +%s)
budget_end=$((t0 + budget))
note() { echo "[slurm_sweep +$(( $(date +%s) - t0 ))s] $*"; }

dump_everything() {
  echo "================ daemon logs ================"
  slurm_cluster_dump_logs
  local f
  for f in "$work"/*.chain.log "$work"/*.out "$tmp"/squeue.log "$tmp"/scontrol.log "$tmp"/reference.log; do
    [ -f "$f" ] || continue
    echo "===== $f (last 60 lines) ====="
    tail -n 60 "$f"
  done
}
failed=0
fail() {
  echo "FAIL: $*"
  failed=1
  exit 1
}
cleanup() {
  local rc=$?
  if [ -n "$SLURM_CLUSTER_DIR" ] && [ ${#SLURM_CLUSTER_PIDS[@]} -gt 0 ]; then
    # Jobs first (their processes belong to slurmstepd, not to the daemons we stop).
    local ids
    ids=$(squeue -h -o %i 2>/dev/null)
    if [ -n "$ids" ]; then
      # shellcheck disable=SC2086
      scancel $ids 2>/dev/null
      for _ in $(seq 1 60); do [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break; sleep 0.5; done
    fi
  fi
  if [ "$failed" = 1 ] || [ "$rc" -ne 0 ]; then dump_everything; fi
  slurm_cluster_stop
  if [ "${PRECSWEEP_KEEP_TMP:-0}" = 1 ]; then echo "kept $tmp"; else rm -rf "$tmp"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'fail "interrupted"' INT TERM

# ---- 0. the spec ---------------------------------------------------------------------------------
cp "$src/tests/slurm/chain_spec.yaml" "$work/spec.yaml"
npoints=$("$bin" list "$work/spec.yaml" --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["points"])') \
  || fail "precsweep list failed on the test spec"
# Points finished in a results file, from `precsweep status` (works while a sweep writes it).
finished() {
  "$bin" status "$1" 2>/dev/null | tail -n 1 \
    | awk '{for (i = 1; i <= NF; i++) {split($i, kv, "="); n[kv[1]] = kv[2]}}
           END {print n["done"] + n["diverged"] + n["failed"]}'
}
# Lines in which a job's ranks say they hold a point (the sweep's test-only hold file).
held_lines() { grep -c "held after epoch" "$work/$job_name-$1.out" 2>/dev/null; }
# Job id of chain index $2 in chain log $1 (empty until it started).
job_at() { grep -E " index=$2 job=[0-9]+ event=start" "$1" 2>/dev/null | sed -E 's/.* job=([0-9]+) .*/\1/' | head -n 1; }
hold_after=4   # each run trains this many points, then holds its next ones while the file exists

# ---- 1. reference: a plain mpirun run -----------------------------------------------------------
note "reference: scripts/mpirun -np 2 precsweep sweep ($npoints points)"
(cd "$work" && "$src/scripts/mpirun" -np 2 "$bin" sweep spec.yaml --out reference.h5 --progress 0) \
  >"$tmp/reference.log" 2>&1 || fail "reference run failed"
note "reference done"

# ---- 2. cluster -------------------------------------------------------------------------------------
slurm_cluster_start "$tmp/cluster" || fail "the test cluster did not start"
sinfo

# ---- 3. the chain -------------------------------------------------------------------------------
# The warning signal is given on the command line and, for the resubmitted jobs, in
# PRECSWEEP_SBATCH_ARGS (what scripts/submit does). Slurm checks limits every 30 s and sends a
# warning up to one check early, so with --time=1 and @20 a job is warned 10-40 s in, well
# before its limit; the hold keeps the first job running until then.
hold=$work/hold
touch "$hold"
first=$(cd "$work" && PRECSWEEP_HOME=$src PRECSWEEP_BIN=$bin PRECSWEEP_BIND=$launch_bind \
        PRECSWEEP_LAUNCHER=$launcher \
        PRECSWEEP_MAX_RESUBMITS=20 PRECSWEEP_SBATCH_ARGS="--signal=B:USR1@20" \
        PRECSWEEP_TEST_HOLD_FILE=$hold PRECSWEEP_TEST_HOLD_AFTER=$hold_after \
        sbatch --parsable --job-name=$job_name --ntasks=2 --cpus-per-task=1 --time=1 \
        --signal=B:USR1@20 "$src/jobscripts/sweep.sbatch" spec.yaml out.h5) \
  || fail "sbatch refused the jobscript"
first=${first%%;*}
note "submitted job $first"
chain_log=$work/out.h5.chain.log

# Watch the queue: every change of squeue's view, and each job's record once it runs. Drive the
# chain by events: job 1 (index 1) is warned by this test once its points are held, and the
# hold is lifted once a later job holds its points.
last_view="" seen_running=" " signalled="" released=""
deadline=$((budget_end - 60))   # leaves time for the checks and steps 6 and 7
while :; do
  view=$(squeue -h -o '%i|%j|%T|%M|%l|%D|%C|%E' 2>/dev/null)
  if [ "$view" != "$last_view" ]; then
    printf '%s\n%s\n' "--- $(date +%T)" "$view" >>"$tmp/squeue.log"
    last_view=$view
  fi
  while IFS='|' read -r id _ state _; do
    if [ "$state" = RUNNING ] && [[ $seen_running != *" $id "* ]]; then
      scontrol show job -o "$id" >>"$tmp/scontrol.log"
      seen_running+="$id "
      note "job $id running"
    fi
  done <<<"$view"
  second=$(job_at "$chain_log" 1)
  if [ -z "$signalled" ] && [ -n "$second" ] && [ "$(held_lines "$second")" -ge 1 ]; then
    note "job $second holds its points ($(finished "$work/out.h5") of $npoints finished): scancel --signal=USR1 --batch $second"
    scancel --signal=USR1 --batch "$second" || note "scancel failed (job $second already warned by Slurm?)"
    signalled=$second
  fi
  third=$(job_at "$chain_log" 2)
  if [ -z "$released" ] && [ -n "$third" ] && [ "$(held_lines "$third")" -ge 1 ]; then
    note "job $third holds its points ($(finished "$work/out.h5") of $npoints finished): lifting the hold"
    rm -f "$hold"
    released=$third
  fi
  last_event=$(tail -n 1 "$chain_log" 2>/dev/null | grep -o 'event=[a-z]*')
  if [ -z "$view" ] && [[ $last_event =~ event=(complete|failed|stopped) ]]; then break; fi
  [ "$(date +%s)" -lt "$deadline" ] || fail "the chain did not finish within the test's budget ($budget s in all)"
  sleep 0.5
done
note "chain finished: $last_event"
echo "---- chain log ----"; cat "$chain_log"

# ---- 4. job records ------------------------------------------------------------------------------
# The jobs in start order, and what each did.
mapfile -t jobs < <(grep 'event=start' "$chain_log" | sed -E 's/.* job=([0-9]+) .*/\1/')
njobs=${#jobs[@]}
[ "$njobs" -ge 3 ] || fail "expected >= 3 jobs in the chain (signal-and-resubmit twice), got $njobs"
[ "${jobs[1]}" = "$signalled" ] || fail "this test never warned the chain's second job"
[ -n "$released" ] || fail "no third job held its points (did resubmitted jobs lose the environment?)"
for ((k = 0; k < 3; k++)); do
  [ "$(held_lines "${jobs[k]}")" -ge 1 ] \
    || fail "job ${jobs[k]} never held a point: it did not get PRECSWEEP_TEST_HOLD_FILE"
done
[ "${jobs[0]}" = "$first" ] || fail "the chain did not start with the submitted job $first"
for ((k = 0; k < njobs; k++)); do
  id=${jobs[k]}
  events=$(grep " job=$id " "$chain_log")
  grep -q "index=$k job=$id event=start" <<<"$events" || fail "job $id: not index $k of the chain"
  grep -q "chain=$first " <<<"$events" || fail "job $id: not in chain $first"
  if ((k < njobs - 1)); then
    next=${jobs[k + 1]}
    grep -q "event=signal signal=USR1" <<<"$events" || fail "job $id: no USR1 warning"
    grep -q "event=resubmitted rc=3 next=$next\$" <<<"$events" \
      || fail "job $id: expected 'stopped early (rc 3), resubmitted as $next'"
    # The dependency as Slurm's controller recorded it, if the poll caught the job pending.
    grep -qE "^$next\|.*\|afterany:$id" "$tmp/squeue.log" && note "job $next seen pending on afterany:$id"
  else
    grep -q "event=complete rc=0" <<<"$events" || fail "last job $id did not complete the sweep"
  fi
  # What Slurm's controller and jobcomp say about the job.
  grep -q "JobId=$id .*NumTasks=2 .*TimeLimit=00:01:00" "$tmp/scontrol.log" \
    || grep -qE "JobId=$id .*TimeLimit=00:01:00.*NumTasks=2" "$tmp/scontrol.log" \
    || fail "job $id: not seen running with 2 tasks and a 1-minute limit (scontrol)"
  grep -q "JobId=$id .*Name=$job_name JobState=COMPLETED" "$tmp/cluster/jobcomp.txt" \
    || fail "job $id: jobcomp has no COMPLETED record"
  [ -f "$work/$job_name-$id.out" ] || fail "job $id: no log $job_name-$id.out in the submission folder"
done
squeue_jobs=$(grep -cE '^[0-9]+\|' "$tmp/squeue.log" || true)
note "job records: $njobs jobs (${jobs[*]}): $((njobs - 1)) stopped early by a warning (Slurm's, then this test's) and resubmitted, the last completed; jobcomp: all COMPLETED"
[ "$(grep -c "Name=$job_name" "$tmp/cluster/jobcomp.txt")" -eq "$njobs" ] \
  || fail "jobcomp records a different number of jobs than the chain log"
[ "$squeue_jobs" -gt 0 ] || fail "squeue never showed the jobs"

# Each point finished exactly once over all jobs ("[rank R] point ID done|diverged|failed:").
cat "$work"/"$job_name"-*.out | grep -oE '^\[rank [0-9]+\] point [0-9]+ (done|diverged|failed):' \
  | awk '{print $4}' | sort -n | uniq -c >"$tmp/finished.txt"
nfinished=$(wc -l <"$tmp/finished.txt")
[ "$nfinished" -eq "$npoints" ] || fail "the job logs show $nfinished distinct points finished, expected $npoints"
if awk '$1 != 1 {bad = 1} END {exit !bad}' "$tmp/finished.txt"; then
  fail "some points finished more than once: $(awk '$1 != 1 {print $2 " x" $1}' "$tmp/finished.txt" | head)"
fi
note "job logs: each of the $npoints points finished exactly once"

# ---- 5. results --------------------------------------------------------------------------------
status=$("$bin" status "$work/out.h5") || fail "precsweep status failed on the chain's file"
echo "$status"
grep -qE "^points=$npoints .*failed=0 pending=0" <<<"$status" || fail "precsweep status: points left"
/usr/bin/python3 "$src/tests/slurm/check_results.py" "$work/out.h5" "$work/reference.h5" "$njobs" \
  || fail "results differ from the plain mpirun run"

# ---- 6. a chain started on an existing file --------------------------------------------------
# The first through scripts/submit (its real, non-dry-run path: creates its log folder, runs
# sbatch), the second with another spec by hand, after the first.
rm -f "$chain_log"
submitted=$(cd "$work" && PRECSWEEP_HOME=$src PRECSWEEP_BIND=$launch_bind PRECSWEEP_LAUNCHER=$launcher \
            "$src/scripts/submit" --precsweep "$bin" --tasks 2 --time 1 --logs logs-submit \
            --job-name $job_name spec.yaml out.h5) || fail "scripts/submit failed"
echo "$submitted"
again=$(grep -oE 'Submitted batch job [0-9]+' <<<"$submitted" | awk '{print $4}')
[ -n "$again" ] || fail "scripts/submit did not submit a job"
sed 's/^name: slurmtest/name: other/' "$work/spec.yaml" >"$work/other.yaml"
other=$(cd "$work" && PRECSWEEP_HOME=$src PRECSWEEP_BIN=$bin PRECSWEEP_BIND=$launch_bind \
        PRECSWEEP_LAUNCHER=$launcher sbatch --parsable --job-name=$job_name --ntasks=2 --time=1 \
        --dependency=afterany:"$again" "$src/jobscripts/sweep.sbatch" other.yaml out.h5)
other=${other%%;*}
deadline=$budget_end
while [ -n "$(squeue -h -o %i)" ]; do
  [ "$(date +%s)" -lt "$deadline" ] || fail "the resume jobs did not finish"
  sleep 0.5
done
echo "---- chain log (existing file) ----"; cat "$chain_log"
grep -q "job=$again event=complete rc=0" "$chain_log" \
  || fail "job $again on the existing file (same spec) did not resume and complete"
[ -f "$work/logs-submit/$job_name-$again.out" ] || fail "job $again: no log in the folder scripts/submit made"
grep -q -- "--resume" "$work/logs-submit/$job_name-$again.out" || fail "job $again did not pass --resume"
grep -qE "job=$other event=failed rc=2" "$chain_log" \
  || fail "job $other (different spec, existing file) was not refused with exit 2"
grep -q "job=$other event=resubmitted" "$chain_log" && fail "job $other resubmitted after a refusal"
"$bin" status "$work/out.h5" | grep -qE "^points=$npoints .*pending=0" || fail "out.h5 changed"
note "existing file: same spec resumed (job $again, via scripts/submit, nothing left), other spec refused (job $other)"

# ---- 7. PRECSWEEP_STOP_SIGNAL=TERM: the warning stops the sweep at once, and the chain goes on --
# A new file; the first job's ranks each hold a point mid-training when this test warns the job:
# both points are abandoned (nothing of them written), the sweep exits 3, the job resubmits,
# and the next job (let go once it holds its points) completes the sweep.
hold2=$work/hold2
touch "$hold2"
t7=$(cd "$work" && PRECSWEEP_HOME=$src PRECSWEEP_BIN=$bin PRECSWEEP_BIND=$launch_bind \
     PRECSWEEP_LAUNCHER=$launcher PRECSWEEP_STOP_SIGNAL=TERM \
     PRECSWEEP_TEST_HOLD_FILE=$hold2 PRECSWEEP_TEST_HOLD_AFTER=$hold_after \
     sbatch --parsable --job-name=$job_name --ntasks=2 --cpus-per-task=1 --time=1 \
     "$src/jobscripts/sweep.sbatch" spec.yaml out2.h5) || fail "sbatch refused the jobscript (step 7)"
t7=${t7%%;*}
log7=$work/out2.h5.chain.log
warned7="" next7=""
while :; do
  if [ -z "$warned7" ] && [ "$(held_lines "$t7")" -ge 2 ]; then
    note "job $t7 holds a point on each rank: scancel --signal=USR1 --batch $t7 (PRECSWEEP_STOP_SIGNAL=TERM)"
    scancel --signal=USR1 --batch "$t7" || fail "scancel --signal=USR1 --batch $t7 failed"
    warned7=1
  fi
  next7=$(job_at "$log7" 1)
  if [ -n "$next7" ] && [ -f "$hold2" ] && [ "$(held_lines "$next7")" -ge 1 ]; then rm -f "$hold2"; fi
  # (If a later job is warned again, the chain goes on; let every later job go as well.)
  [ -n "$next7" ] && [ -f "$hold2" ] && [ "$(grep -c 'event=start' "$log7")" -gt 2 ] && rm -f "$hold2"
  last7=$(tail -n 1 "$log7" 2>/dev/null | grep -o 'event=[a-z]*')
  if [ -z "$(squeue -h -o %i)" ] && [[ $last7 =~ event=(complete|failed|stopped) ]]; then break; fi
  [ "$(date +%s)" -lt "$budget_end" ] || fail "the TERM chain did not finish within the test's budget"
  sleep 0.5
done
echo "---- chain log (PRECSWEEP_STOP_SIGNAL=TERM) ----"; cat "$log7"
grep -q "job=$t7 event=signal signal=USR1 forwarded=USR2" "$log7" \
  || fail "job $t7: the warning was not passed on as USR2 (stop now)"
[ "$(grep -c "abandoned (stop now); left pending" "$work/$job_name-$t7.out")" -eq 2 ] \
  || fail "job $t7: expected both ranks to abandon their point in flight"
grep -q "job=$t7 event=resubmitted rc=3 next=$next7\$" "$log7" \
  || fail "job $t7: PRECSWEEP_STOP_SIGNAL=TERM did not end in exit 3 and a resubmission"
grep -q "event=complete rc=0" <<<"$(tail -n 1 "$log7")" || fail "the TERM chain did not complete the sweep"
njobs7=$(grep -c 'event=start' "$log7")
/usr/bin/python3 "$src/tests/slurm/check_results.py" "$work/out2.h5" "$work/reference.h5" "$njobs7" \
  || fail "results of the TERM chain differ from the plain mpirun run"
note "PRECSWEEP_STOP_SIGNAL=TERM: job $t7 abandoned its 2 points in flight, exited 3, resubmitted; the chain completed in $njobs7 jobs"

# ---- 8. no binary: the job says so, and Slurm shows it failed -------------------------------------
t8=$(cd "$work" && PRECSWEEP_HOME=$src PRECSWEEP_BIN=$work/no-such-precsweep \
     sbatch --parsable --job-name=$job_name --ntasks=2 --time=1 \
     "$src/jobscripts/sweep.sbatch" spec.yaml out3.h5) || fail "sbatch refused the jobscript (step 8)"
t8=${t8%%;*}
until grep -q "JobId=$t8 " "$tmp/cluster/jobcomp.txt" 2>/dev/null; do
  [ "$(date +%s)" -lt "$budget_end" ] || fail "job $t8 (no binary) did not end within the test's budget"
  sleep 0.5
done
grep -q "sweep.sbatch: error: precsweep binary not found or not executable: $work/no-such-precsweep" \
  "$work/$job_name-$t8.out" || fail "job $t8: its output does not say that the binary is missing"
grep -qE "JobId=$t8 .*JobState=FAILED .*ExitCode=2:0" "$tmp/cluster/jobcomp.txt" \
  || fail "job $t8: jobcomp does not record FAILED with exit code 2"
scontrol show job "$t8" | grep -q "Comment=precsweep: precsweep binary not found" \
  || fail "job $t8: the job's Comment does not name the missing binary"
note "no binary: job $t8 said so on its output, ended FAILED 2:0 with the reason as its Comment"

note "PASS"
