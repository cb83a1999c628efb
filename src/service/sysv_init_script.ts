import { configSteps } from "./default_config.ts";
import type { ServiceDefinition } from "./service_definition.ts";
import type { CommandResult, ServicePlatform, ServiceState, ServiceStep } from "./service_plan.ts";

/**
 * How long `stop` waits for the runner after SIGTERM before it kills the
 * runner's process group: systemd's default TimeoutStopSec. The runner's own
 * forceful stop takes `shutdown_timeout` (30 s) plus up to 10 s of cleanup.
 */
export const SYSV_STOP_TIMEOUT_SECONDS = 90;

/** /etc/init.d/<name>, where kardianos/service (the official runner) writes it too. */
export function sysvInitScriptPath(service: ServiceDefinition): string {
  return `/etc/init.d/${service.name}`;
}

/**
 * The init script `install` writes on a Linux host where systemd is not the
 * init system. Facts from the official runner (kardianos/service's SysV
 * script): pid file /var/run/<name>.pid, stdout and stderr appended to
 * /var/log/<name>.log and /var/log/<name>.err, SIGTERM on stop (as the
 * official unit, a forceful stop), `status` exits 0 only while it runs.
 * Unlike that script it runs the runner as `--init-user` (setpriv, which
 * execs: `su` would stay as the parent and SIGKILL the runner 2 s into its
 * shutdown), detaches it into a session of its own, reads
 * /etc/sysconfig/<name> as the unit's EnvironmentFile, takes a pid only
 * while that process is this service's runner (a pid the kernel gave to
 * another program after a crash is never signalled), and kills the process
 * group when the runner has not stopped STOP_TIMEOUT seconds after SIGTERM,
 * as systemd does. There is no restart on a crash: SysV init has no
 * supervisor. Exit codes follow LSB: status 0 running, 1 exited on its own
 * (the pid file remains), 3 stopped; 4 for start/stop without root.
 */
export function renderSysvInitScript(service: ServiceDefinition): string {
  const command = [service.executable, ...service.arguments].map(quoteShell);
  return `#!/bin/sh
# ${service.description} (${service.name}), written by "runner install"; "runner uninstall" removes it.
# chkconfig: 2345 99 01
# description: ${service.description}
### BEGIN INIT INFO
# Provides:          ${service.name}
# Required-Start:    $local_fs $remote_fs $network
# Required-Stop:     $local_fs $remote_fs $network
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: ${service.description}
# Description:       ${service.description}
### END INIT INFO

name=${quoteShell(service.name)}
user=${quoteShell(service.runAs)}
directory=${quoteShell(service.workingDirectory)}
pid_file="/var/run/$name.pid"
stdout_log="/var/log/$name.log"
stderr_log="/var/log/$name.err"
env_file="/etc/sysconfig/$name"
# systemd's default PATH and umask, at boot as from a shell.
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH
umask 022

stop_timeout=$( [ -r "$env_file" ] && . "$env_file" >/dev/null 2>&1; echo "\${STOP_TIMEOUT:-${SYSV_STOP_TIMEOUT_SECONDS}}")
case $stop_timeout in
  '' | *[!0-9]*)
    echo "STOP_TIMEOUT=\\"$stop_timeout\\" in $env_file is not a number of seconds: using ${SYSV_STOP_TIMEOUT_SECONDS}" >&2
    stop_timeout=${SYSV_STOP_TIMEOUT_SECONDS}
    ;;
esac

nap() {
  sleep 0.1 2>/dev/null || sleep 1
}

# The pid of the pid file while that process is this service's runner: its
# arguments hold "--service <name>" (a reused pid, or a zombie, does not).
running_pid() {
  pid=$(cat "$pid_file" 2>/dev/null) || return 1
  case $pid in '' | *[!0-9]*) return 1 ;; esac
  tr '\\000' '\\n' <"/proc/$pid/cmdline" 2>/dev/null |
    awk -v name="$name" 'previous == "--service" && $0 == name { found = 1 } { previous = $0 } END { exit !found }' ||
    return 1
  echo "$pid"
}

start_runner() {
  if pid=$(running_pid); then
    echo "$name is already running (pid $pid)"
    return 0
  fi
  for log in "$stdout_log" "$stderr_log"; do
    [ -e "$log" ] || (umask 027 && : >>"$log") || return 1
  done
  (
    set -- ${command.join(" \\\n      ")}
    if [ -n "$user" ]; then
      entry=$(getent passwd "$user" 2>/dev/null || grep "^$user:" /etc/passwd) || {
        echo "No user \\"$user\\" on this host" >&2
        exit 1
      }
      HOME=$(echo "$entry" | cut -d: -f6)
      SHELL=$(echo "$entry" | cut -d: -f7)
      USER=$user
      LOGNAME=$user
      export HOME SHELL USER LOGNAME
      set -- setpriv --reuid="$(id -u "$user")" --regid="$(id -g "$user")" --init-groups -- "$@"
    fi
    if [ -r "$env_file" ]; then
      set -a
      . "$env_file"
      set +a
    fi
    cd "$directory" || exit 1
    if command -v setsid >/dev/null 2>&1; then set -- setsid "$@"; fi
    exec "$@"
  ) </dev/null >>"$stdout_log" 2>>"$stderr_log" &
  child=$!
  echo "$child" >"$pid_file"
  # Until the subshell execs, its arguments are this script's.
  tries=0
  until running_pid >/dev/null; do
    tries=$((tries + 1))
    # A zombie's cmdline is empty (and /proc files all have size 0).
    if [ -z "$(tr -d '\\000' <"/proc/$child/cmdline" 2>/dev/null)" ] || [ "$tries" -gt 100 ]; then
      rm -f "$pid_file"
      echo "Cannot start $name: $(tail -n 1 "$stderr_log" 2>/dev/null) (see $stderr_log)" >&2
      return 1
    fi
    nap
  done
  echo "Started $name (pid $child)"
}

stop_runner() {
  if ! pid=$(running_pid); then
    rm -f "$pid_file"
    echo "$name is not running"
    return 0
  fi
  echo "Stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null
  deadline=$(($(date +%s) + stop_timeout))
  while running_pid >/dev/null; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "$name still runs $stop_timeout s after SIGTERM: killing its process group" >&2
      kill -KILL "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
      sleep 1
      break
    fi
    nap
  done
  if running_pid >/dev/null; then
    echo "Cannot stop $name (pid $pid)" >&2
    return 1
  fi
  rm -f "$pid_file"
  echo "Stopped $name"
}

case "$1" in
  start | stop | restart)
    if [ "$(id -u)" -ne 0 ]; then
      echo "$0 $1: needs root" >&2
      exit 4
    fi
    ;;
esac

case "$1" in
  start) start_runner ;;
  stop) stop_runner ;;
  restart) stop_runner && start_runner ;;
  status)
    if pid=$(running_pid); then
      echo "$name is running (pid $pid)"
      exit 0
    fi
    if [ -e "$pid_file" ]; then
      echo "$name is not running: it exited without being stopped (see $stderr_log)"
      exit 1
    fi
    echo "$name is not running"
    exit 3
    ;;
  *)
    echo "Usage: $0 {start|stop|restart|status}" >&2
    exit 2
    ;;
esac
`;
}

/**
 * Driven by running the script, as `service` would: with an empty
 * environment, so a runner started by hand gets what it gets at boot
 * (PATH from the script, /etc/sysconfig/<name>). Install enables it at boot
 * with update-rc.d (Debian, Ubuntu) or chkconfig (Red Hat), which read the
 * script's headers.
 */
export class SysvPlatform implements ServicePlatform {
  readonly definitionPath: string;
  readonly managerPath = {
    path: "/etc/init.d",
    isMissing:
      `neither systemd nor SysV init runs on this host (no /run/systemd/system, no /etc/init.d); start "runner run" from the init system in use instead`,
  };
  readonly #service: ServiceDefinition;

  constructor(service: ServiceDefinition) {
    this.#service = service;
    this.definitionPath = sysvInitScriptPath(service);
  }

  install(): ServiceStep[] {
    const name = this.#service.name;
    return [
      {
        kind: "require-absent",
        path: this.definitionPath,
        why: "the service is already installed; run uninstall first",
      },
      ...configSteps(this.#service),
      {
        kind: "write",
        path: this.definitionPath,
        content: renderSysvInitScript(this.#service),
        mode: 0o755,
      },
      {
        kind: "run-first",
        choices: [["update-rc.d", name, "defaults"], ["chkconfig", "--add", name]],
        ifNone:
          `Service "${name}" is installed but does not start at boot: neither update-rc.d nor chkconfig is on this host; link ${this.definitionPath} into the rc directories of your init`,
      },
    ];
  }

  uninstall(): ServiceStep[] {
    const name = this.#service.name;
    return [
      { kind: "require-present", path: this.definitionPath, why: "the service is not installed" },
      // Removing the script of a running runner would leave a process nothing stops.
      this.#script("stop"),
      {
        kind: "run-first",
        choices: [["update-rc.d", "-f", name, "remove"], ["chkconfig", "--del", name]],
      },
      { kind: "remove", path: this.definitionPath },
    ];
  }

  start(): ServiceStep[] {
    return [this.#isInstalled(), this.#script("start")];
  }

  stop(): ServiceStep[] {
    return [this.#isInstalled(), this.#script("stop")];
  }

  restart(): ServiceStep[] {
    return [this.#isInstalled(), this.#script("restart")];
  }

  statusCommand(): string[] {
    return this.#script("status").argv;
  }

  readStatus(result: CommandResult, isDefined: boolean): ServiceState {
    if (!isDefined) return "not-installed";
    switch (result.code) {
      case 0:
        return "running";
      case 1:
        return "failed";
      case 3:
        return "stopped";
      default:
        return "unknown";
    }
  }

  /** Said before `env` would: "env: '/etc/init.d/<name>': No such file or directory". */
  #isInstalled(): ServiceStep {
    return {
      kind: "require-present",
      path: this.definitionPath,
      why: "the service is not installed",
    };
  }

  #script(action: string): { kind: "run"; argv: string[] } {
    return { kind: "run", argv: ["env", "-i", this.definitionPath, action] };
  }
}

/** One word for sh: single quotes, each `'` as `'\''`; newlines and `$` stay literal. */
function quoteShell(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}
