import assert from "node:assert/strict";
import { detectShell, SHELL_CANDIDATES } from "./shell_detection.ts";

/** Lookups that answer when the test says so. */
function lookups(existing: readonly string[]) {
  const pending = new Map<string, PromiseWithResolvers<boolean>>();
  for (const c of SHELL_CANDIDATES) pending.set(c.path, Promise.withResolvers<boolean>());
  return {
    exists: (path: string) => pending.get(path)!.promise,
    answer: (path: string) => pending.get(path)!.resolve(existing.includes(path)),
    fail: (path: string) => pending.get(path)!.reject(new Error(`cannot stat ${path}`)),
  };
}

Deno.test("shell detection answers once the paths before the found one answered, not waiting for later ones", async () => {
  const l = lookups(["/bin/sh", "/busybox/sh"]);
  const detected = detectShell(l.exists);
  for (const c of SHELL_CANDIDATES.slice(0, 6)) l.answer(c.path);
  // /busybox/sh never answers, nor fails: the result must not need it.
  assert.deepEqual(await detected, { shell: "sh", shellPath: "/bin/sh" });
});

Deno.test("shell detection prefers bash, in the official order, over an earlier answer for sh", async () => {
  const l = lookups(["/bin/bash", "/usr/bin/sh", "/bin/sh"]);
  const detected = detectShell(l.exists);
  for (const c of [...SHELL_CANDIDATES].reverse()) l.answer(c.path);
  assert.deepEqual(await detected, { shell: "bash", shellPath: "/bin/bash" });
});

Deno.test("shell detection rejects on an error before the found path, ignores one after it, and finds nothing in an image without a shell", async () => {
  const failing = lookups(["/bin/sh"]);
  const rejected = detectShell(failing.exists);
  failing.answer("/usr/local/bin/bash");
  failing.fail("/usr/bin/bash");
  for (const c of SHELL_CANDIDATES.slice(2)) failing.answer(c.path);
  await assert.rejects(rejected, /cannot stat \/usr\/bin\/bash/);

  const late = lookups(["/usr/local/bin/bash"]);
  const found = detectShell(late.exists);
  late.answer("/usr/local/bin/bash");
  late.fail("/busybox/sh");
  assert.deepEqual(await found, { shell: "bash", shellPath: "/usr/local/bin/bash" });

  const none = lookups([]);
  const nothing = detectShell(none.exists);
  for (const c of SHELL_CANDIDATES) none.answer(c.path);
  assert.equal(await nothing, null);
});
