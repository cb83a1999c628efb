#!/usr/bin/env bash
# A custom executor driver for tests. The first argument is the role, given
# through config_args / prepare_args / run_args / cleanup_args. Every call is
# recorded in $DRIVER_DIR/calls.log ("CALL <role> <args>" then "ENV <k>=<v>"
# lines); behaviour is chosen through the runner environment the test passes.
set -u
role="$1"
shift
log="$DRIVER_DIR/calls.log"
{
  printf 'CALL %s %s\n' "$role" "$*"
  printf 'ENV PWD=%s\n' "$PWD"
  env | grep -E '^(TMPDIR|BUILD_FAILURE_EXIT_CODE|SYSTEM_FAILURE_EXIT_CODE|BUILD_EXIT_CODE_FILE|JOB_RESPONSE_FILE|CUSTOM_ENV_[A-Za-z0-9_]*|DRIVER_TOKEN|RUNNER_SIDE)=' | sort | sed 's/^/ENV /'
} >>"$log"

# Starts a child that must die with the driver's process group, then waits.
hang() {
  sleep 1000 &
  echo $! >"$DRIVER_DIR/$role-sleep.pid"
  echo "$role-hanging"
  wait
}

case "$role" in
config)
  echo "config diagnostics on stderr" >&2
  cp "$JOB_RESPONSE_FILE" "$DRIVER_DIR/response.json"
  stat -c '%a' "$JOB_RESPONSE_FILE" >"$DRIVER_DIR/response.mode"
  if [ "${CONFIG_MODE:-}" = hang ]; then hang; fi
  # Exits at once, but a background child keeps its stdout open.
  if [ "${CONFIG_MODE:-}" = background ]; then
    sleep 1000 &
    echo $! >"$DRIVER_DIR/config-sleep.pid"
  fi
  # Output that never ends: the runner must not wait for config_exec_timeout.
  if [ "${CONFIG_MODE:-}" = flood ]; then yes '{}'; fi
  printf '%s' "${CONFIG_JSON:-}"
  exit "${CONFIG_EXIT:-0}"
  ;;
prepare)
  echo "prepare on stdout"
  echo "prepare on stderr" >&2
  if [ "${PREPARE_MODE:-}" = hang ]; then hang; fi
  if [ "${PREPARE_MODE:-}" = remove-tmpdir ]; then rm -rf "$TMPDIR"; fi
  exit "${PREPARE_EXIT:-0}"
  ;;
run)
  script="$1"
  stage="$2"
  cp "$script" "$DRIVER_DIR/last-script"
  case "${RUN_MODE:-}" in
  hang) hang ;;
  ignore-term)
    # Children inherit the ignored SIGTERM: only SIGKILL ends them.
    trap '' TERM
    hang
    ;;
  system) exit "$SYSTEM_FAILURE_EXIT_CODE" ;;
  unknown) exit 7 ;;
  bad-code-file)
    echo "not a number" >"$BUILD_EXIT_CODE_FILE"
    exit "$BUILD_FAILURE_EXIT_CODE"
    ;;
  no-code-file) exit "$BUILD_FAILURE_EXIT_CODE" ;;
  huge-code-file)
    head -c 3000000 /dev/zero | tr '\0' y >"$BUILD_EXIT_CODE_FILE"
    exit "$BUILD_FAILURE_EXIT_CODE"
    ;;
  esac
  bash "$script" </dev/null
  rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "$rc" >"$BUILD_EXIT_CODE_FILE"
    exit "$BUILD_FAILURE_EXIT_CODE"
  fi
  ;;
cleanup)
  echo "cleanup on stdout"
  echo "cleanup on stderr" >&2
  # 200,000 bytes without a newline, then a short line.
  if [ "${CLEANUP_MODE:-}" = long-line ]; then head -c 200000 /dev/zero | tr '\0' x; echo; echo after; fi
  exit "${CLEANUP_EXIT:-0}"
  ;;
*)
  echo "unknown role $role" >&2
  exit "$SYSTEM_FAILURE_EXIT_CODE"
  ;;
esac
