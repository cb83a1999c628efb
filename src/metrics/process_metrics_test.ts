import assert from "node:assert/strict";
import { DenoProcessProbe } from "./process_metrics.ts";

Deno.test("the Deno probe reads memory, CPU time and start time of this process", () => {
  const probe = new DenoProcessProbe();
  assert.ok((probe.residentMemoryBytes() ?? 0) > 1_000_000);
  assert.ok((probe.cpuSeconds() ?? 0) > 0);
  const start = probe.startTimeSeconds() ?? 0;
  assert.ok(start <= Date.now() / 1000 && start > Date.now() / 1000 - 3600);
  const fds = probe.openFds();
  const canRead = Deno.build.os === "linux" &&
    Deno.permissions.querySync({ name: "read", path: "/proc/self/fd" }).state === "granted";
  if (canRead) assert.ok((fds ?? 0) >= 3, `open fds: ${fds}`);
  else assert.equal(fds, undefined);
});

Deno.test("the Deno probe reads the open-files limit and virtual memory size from procfs", () => {
  const probe = new DenoProcessProbe();
  const canRead = Deno.build.os === "linux" &&
    Deno.permissions.querySync({ name: "read", path: "/proc/self" }).state === "granted";
  if (!canRead) {
    assert.equal(probe.maxFds(), undefined);
    assert.equal(probe.virtualMemoryBytes(), undefined);
    return;
  }
  const limits = Deno.readTextFileSync("/proc/self/limits");
  const soft = /^Max open files\s+(\d+)/m.exec(limits)?.[1];
  assert.equal(probe.maxFds(), Number(soft));
  const vsize = probe.virtualMemoryBytes() ?? 0;
  assert.ok(vsize > (probe.residentMemoryBytes() ?? 0), `virtual ${vsize} exceeds resident`);
});
