#!/usr/bin/env bash
# run_exec: run.sh <script path> <stage name>, once per stage
# (prepare_script, get_sources, …, build_script, after_script, …).
# Runs the runner's script in the job's directory and tells the runner
# how it ended through the exit code conventions.
set -u
. "$(dirname "$0")/base.sh"
script="$1"
stage="$2"

if [ ! -d "$JOB_DIR" ]; then
  echo "The job directory $JOB_DIR is gone (stage $stage)" >&2
  exit "$SYSTEM_FAILURE_EXIT_CODE"
fi
cd "$JOB_DIR"

if [ -f "$JOB_DIR/unshare-flags" ]; then
  # shellcheck disable=SC2046 # the file holds a list of options
  unshare $(cat "$JOB_DIR/unshare-flags") bash "$script"
else
  bash "$script"
fi
code=$?

if [ "$code" -ne 0 ]; then
  # The job failed: report its exit code (allow_failure:exit_codes relies on it).
  echo "$code" >"$BUILD_EXIT_CODE_FILE"
  exit "$BUILD_FAILURE_EXIT_CODE"
fi
