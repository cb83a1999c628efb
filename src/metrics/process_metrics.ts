import process from "node:process";
import { Counter, Gauge, type Registry } from "./prom_client.ts";
import { countOpenFds, type ProcfsSnapshot, readProcFile } from "./procfs_snapshot.ts";

export { type ProcfsSnapshot, readProcfsSnapshot } from "./procfs_snapshot.ts";

/**
 * What the process exposes about itself. Each method returns undefined when
 * the value cannot be read here (other OS, missing permission); the metric is
 * then left out instead of reporting a misleading 0.
 */
export interface ProcessProbe {
  residentMemoryBytes(): number | undefined;
  /** User plus system CPU time, seconds, growing. */
  cpuSeconds(): number | undefined;
  openFds(): number | undefined;
  /** Unix time, seconds. */
  startTimeSeconds(): number | undefined;
  /** Soft limit on open file descriptors. Optional: older probes lack it. */
  maxFds?(): number | undefined;
  /** Virtual memory size, bytes. */
  virtualMemoryBytes?(): number | undefined;
}

/**
 * Reads the Deno process. prom-client's collectDefaultMetrics does run under
 * Deno, but it also emits nodejs_* series that say nothing true about Deno
 * and reads /proc without asking; this probe gives the four standard
 * process_* series and checks the read permission first, so a poller started
 * without `--allow-read=/proc/self/fd` simply goes without process_open_fds.
 */
export class DenoProcessProbe implements ProcessProbe {
  readonly #procfs: (() => ProcfsSnapshot | undefined) | undefined;

  /**
   * `procfs`: where a process that may not read /proc itself (the scoped
   * poller: Deno wants all permissions for /proc/self) gets the values.
   */
  constructor(procfs?: () => ProcfsSnapshot | undefined) {
    this.#procfs = procfs;
  }

  residentMemoryBytes(): number | undefined {
    return Deno.memoryUsage().rss;
  }

  cpuSeconds(): number | undefined {
    const usage = process.cpuUsage();
    return (usage.user + usage.system) / 1e6;
  }

  openFds(): number | undefined {
    if (this.#procfs) return this.#procfs()?.openFds;
    return countOpenFds();
  }

  startTimeSeconds(): number | undefined {
    return Math.floor(performance.timeOrigin / 1000);
  }

  /** "Max open files" soft limit from /proc/self/limits, as Prometheus' Go collector reads it. */
  maxFds(): number | undefined {
    const text = this.#procfs ? this.#procfs()?.limits : readProcFile("/proc/self/limits");
    const match = text === undefined ? null : /^Max open files\s+(\d+|unlimited)/m.exec(text);
    if (!match) return undefined;
    return match[1] === "unlimited" ? Number.MAX_SAFE_INTEGER : Number(match[1]);
  }

  /** `vsize` (field 23) of /proc/self/stat, in bytes. */
  virtualMemoryBytes(): number | undefined {
    const text = this.#procfs ? this.#procfs()?.stat : readProcFile("/proc/self/stat");
    if (text === undefined) return undefined;
    // Field 2 (comm) is in parentheses and may hold spaces: count from the last ")".
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
    const value = Number(fields[20]);
    return Number.isFinite(value) ? value : undefined;
  }
}

/**
 * Registers process_resident_memory_bytes, process_cpu_seconds_total,
 * process_open_fds, process_max_fds, process_virtual_memory_bytes and
 * process_start_time_seconds on `registry`, each read at
 * scrape time. A metric whose probe gives nothing now is not registered.
 */
export function registerProcessMetrics(registry: Registry, probe: ProcessProbe): void {
  if (probe.residentMemoryBytes() !== undefined) {
    new Gauge({
      name: "process_resident_memory_bytes",
      help: "Resident memory size in bytes.",
      registers: [registry],
      collect() {
        const value = probe.residentMemoryBytes();
        if (value !== undefined) this.set(value);
      },
    });
  }
  const firstCpu = probe.cpuSeconds();
  if (firstCpu !== undefined) {
    // A counter can only grow, so each scrape adds what was used since the last.
    let reported = 0;
    new Counter({
      name: "process_cpu_seconds_total",
      help: "Total user and system CPU time spent in seconds.",
      registers: [registry],
      collect() {
        const value = probe.cpuSeconds();
        if (value !== undefined && value > reported) {
          this.inc(value - reported);
          reported = value;
        }
      },
    });
  }
  if (probe.openFds() !== undefined) {
    new Gauge({
      name: "process_open_fds",
      help: "Number of open file descriptors.",
      registers: [registry],
      collect() {
        const value = probe.openFds();
        if (value !== undefined) this.set(value);
      },
    });
  }
  for (
    const [name, help, read] of [
      ["process_max_fds", "Maximum number of open file descriptors.", () => probe.maxFds?.()],
      [
        "process_virtual_memory_bytes",
        "Virtual memory size in bytes.",
        () => probe.virtualMemoryBytes?.(),
      ],
    ] as const
  ) {
    if (read() === undefined) continue;
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        const value = read();
        if (value !== undefined) this.set(value);
      },
    });
  }
  const start = probe.startTimeSeconds();
  if (start !== undefined) {
    const gauge = new Gauge({
      name: "process_start_time_seconds",
      help: "Start time of the process since unix epoch in seconds.",
      registers: [registry],
    });
    gauge.set(start);
  }
}
