/**
 * The least a Worker-scoped executor process pays for its Worker, run by
 * scripts/bench/scoping.ts in a fresh process with the compiled binary's
 * grants: the process's first Worker, created as the executor entry creates
 * its job's (the same permission set, cli/scoped_worker.ts), running a module
 * that does nothing but post a message. `new Worker` returns once Deno has
 * created and bootstrapped the Worker's isolate; the job's code can run only
 * after that. Prints the milliseconds from `new Worker` to that message.
 *
 *   deno run <COMPILED_GRANT_FLAGS> _worker_floor.ts <module file> <permissions json>
 */
import { workerPermissions } from "../../src/poller/executor_worker_permissions.ts";

const [module, permissions] = Deno.args;
if (module === undefined || permissions === undefined) {
  throw new TypeError("Usage: _worker_floor.ts <module file> <permissions json>");
}
const start = performance.now();
const worker = new Worker(new URL(`file://${module}`), {
  type: "module",
  // deno-lint-ignore no-explicit-any -- `deno` is the unstable worker option, absent from the stable lib types
  deno: { permissions: workerPermissions(JSON.parse(permissions)) } as any,
});
worker.onmessage = () => {
  const ms = performance.now() - start;
  worker.terminate();
  // deno-lint-ignore no-console -- the bench reads the figure from stdout
  console.log(ms.toFixed(2));
};
