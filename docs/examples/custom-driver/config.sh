#!/usr/bin/env bash
# config_exec: tells the runner where this job's directories are and who the
# driver is. Only stdout is read, as JSON; stderr goes to the job log.
set -eu
. "$(dirname "$0")/base.sh"

cat <<JSON
{
  "builds_dir": "$JOB_DIR/builds",
  "cache_dir": "$DRIVER_ROOT/cache",
  "builds_dir_is_shared": false,
  "driver": { "name": "throwaway-dir", "version": "v1.0.0" },
  "job_env": { "THROWAWAY_JOB_DIR": "$JOB_DIR" }
}
JSON
