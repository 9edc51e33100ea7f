#!/usr/bin/env bash
# The test cluster itself (tests/slurm/cluster-up.sh), so that its wiring is tested before
# anything of sluice's: a batch job runs in the test's folder, writes its file, leaves squeue,
# and reaches the job-completion log as COMPLETED.
# shellcheck disable=SC2016,SC2034 # the tests' code is single-quoted, for expect_success's eval
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/../integration/lib.sh"
# shellcheck source=tests/slurm/lib.sh
. "$ROOT/tests/slurm/lib.sh"

name=sluice-t0000-$$-${TRASH##*.}

expect_success 'the node is up in sinfo' 'slurm_available || sinfo'

expect_success 'sbatch --parsable --wrap runs a job in the test folder' '
    sbatch --parsable --job-name="$name" --output=job.out --wrap "echo hi > hi.txt" >job.id &&
    grep -Eqx "[0-9]+" job.id &&
    wait_for hi.txt 30 &&
    [ "$(cat hi.txt)" = hi ]
'

expect_success 'squeue no longer lists the job' 'slurm_wait_empty "$name" 30'

expect_success 'the job-completion log has the job, COMPLETED' '
    for i in $(seq 150); do
        [ "$(slurm_jobcomp_count "$name" COMPLETED)" = 1 ] && break
        sleep 0.2
    done
    [ "$(slurm_jobcomp_count "$name" COMPLETED)" = 1 ] &&
    [ "$(slurm_jobcomp_count "$name")" = 1 ] &&
    grep -q "^JobId=$(cat job.id) .* Name=$name JobState=COMPLETED .* ExitCode=0:0" "$SLURM_JOBCOMP_LOG" ||
    { echo "log: $SLURM_JOBCOMP_LOG"; tail -3 "$SLURM_JOBCOMP_LOG"; false; }
'

expect_success 'slurm_jobs_named counts by prefix, slurm_jobcomp_count by exact name' '
    sbatch --parsable --job-name="$name-a" --output=/dev/null --wrap "sleep 30" >a.id &&
    sbatch --parsable --job-name="$name-b" --output=/dev/null --hold --wrap true >b.id &&
    [ "$(slurm_jobs_named "$name-")" = 2 ] &&
    [ "$(slurm_jobs_named "$name-a")" = 1 ] &&
    [ "$(slurm_jobs_named "$name-none")" = 0 ] &&
    scancel "$(cat a.id)" "$(cat b.id)" &&
    slurm_wait_empty "$name-" 30 &&
    [ "$(slurm_jobcomp_count "$name")" = 1 ]
'

done_testing
