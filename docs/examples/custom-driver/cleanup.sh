#!/usr/bin/env bash
# cleanup_exec: always runs, also after failures, cancel and timeouts. Its
# output goes to the runner's log, not the job log.
set -u
. "$(dirname "$0")/base.sh"
case "$JOB_DIR" in
"$DRIVER_ROOT"/job-?*)
  rm -rf "$JOB_DIR"
  echo "Removed $JOB_DIR"
  ;;
*) echo "Refusing to remove $JOB_DIR" >&2 ;;
esac
