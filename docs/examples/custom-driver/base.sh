# Shared by the example driver's stages; sourced, not run.
#
# Every job gets its own throwaway directory, $DRIVER_ROOT/job-<job id>; the
# cache is shared between jobs in $DRIVER_ROOT/cache. To move them, set
# `environment = ["CUSTOM_DRIVER_ROOT=/some/dir"]` in the [[runners]] entry (drivers
# see it as CUSTOM_ENV_CUSTOM_DRIVER_ROOT) or change the default below: the
# runner's own environment does not reach drivers beyond an allow-list
# (docs/security.md).
DRIVER_ROOT="${CUSTOM_DRIVER_ROOT:-${CUSTOM_ENV_CUSTOM_DRIVER_ROOT:-/tmp/runner-custom-driver}}"
# Job variables reach the driver with a CUSTOM_ENV_ prefix.
JOB_DIR="$DRIVER_ROOT/job-${CUSTOM_ENV_CI_JOB_ID:?CUSTOM_ENV_CI_JOB_ID is not set}"
