#!/usr/bin/env bash
# prepare_exec: creates the throwaway directory and decides how jobs are
# isolated. Its output goes to the job log.
set -eu
. "$(dirname "$0")/base.sh"
# Anything going wrong here is the host's fault, not the job's.
trap 'exit "$SYSTEM_FAILURE_EXIT_CODE"' ERR

# THROWAWAY_JOB_DIR came from config.sh through job_env.
[ "$THROWAWAY_JOB_DIR" = "$JOB_DIR" ]
mkdir -p "$JOB_DIR/builds" "$DRIVER_ROOT/cache"

# Own PID and mount namespaces: the job sees only its own processes, and
# every process it starts dies with it. Unprivileged users need a user
# namespace as well. Fall back to the plain directory where that is not
# allowed (some containers).
flags="--pid --fork --kill-child --mount-proc"
if [ "$(id -u)" != 0 ]; then flags="--user --map-root-user $flags"; fi
# shellcheck disable=SC2086 # $flags is a list of options
if command -v unshare >/dev/null && unshare $flags true 2>/dev/null; then
  echo "$flags" >"$JOB_DIR/unshare-flags"
  echo "Job $CUSTOM_ENV_CI_JOB_ID runs in $JOB_DIR, isolated with unshare $flags"
else
  echo "Job $CUSTOM_ENV_CI_JOB_ID runs in $JOB_DIR (unshare is not usable here)"
fi
